//! The relay's side of the cache bus: numbered invalidations and
//! heartbeats on core NATS (`numbering_validate_lease::bus` is the
//! subscriber's side, with the staleness bound they give).

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

/// Core-NATS subject telling hot-path caches an identifier changed.
pub const CACHE_INVALIDATE_SUBJECT: &str = "num.cache.invalidate.v1";
/// Core-NATS subject of the active relay's "caught up" heartbeats.
pub const CACHE_HEARTBEAT_SUBJECT: &str = "num.cache.heartbeat.v1";

/// Publishes on both subjects over one connection, numbering every message
/// (`relay`, `seq`) so that a subscriber can tell when it missed one.
pub struct CacheBus {
    client: async_nats::Client,
    relay: String,
    seq: AtomicU64,
}

impl CacheBus {
    /// A new relay id (UUIDv7), sequence starting at 1.
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            client,
            relay: uuid::Uuid::now_v7().to_string(),
            seq: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// `{"identifier", "version", "relay", "seq", "committed_at_ms"}` on
    /// `num.cache.invalidate.v1`; `committed_at` is the change's database
    /// time, from which receivers measure the cross-region staleness.
    pub async fn invalidate(
        &self,
        identifier: &str,
        version: i64,
        committed_at: DateTime<Utc>,
    ) -> Result<()> {
        let body = json!({
            "identifier": identifier, "version": version,
            "relay": self.relay, "seq": self.next(),
            "committed_at_ms": committed_at.timestamp_millis(),
        });
        self.client
            .publish(CACHE_INVALIDATE_SUBJECT, body.to_string().into())
            .await
            .context("publishing cache invalidation")
    }

    /// `{"relay", "seq", "caught_up_at_ms"}` on `num.cache.heartbeat.v1`.
    pub async fn heartbeat(&self, caught_up_at: DateTime<Utc>) -> Result<()> {
        let body = json!({
            "relay": self.relay, "seq": self.next(),
            "caught_up_at_ms": caught_up_at.timestamp_millis(),
        });
        self.client
            .publish(CACHE_HEARTBEAT_SUBJECT, body.to_string().into())
            .await
            .context("publishing cache heartbeat")?;
        metrics::counter!("numbering_cache_heartbeats_total").increment(1);
        Ok(())
    }
}

/// When nothing is waiting in the outbox: the database's `now()` taken
/// before the check, so that every change committed before it has been
/// published and its invalidation sent (a row is marked published only
/// after its projections ran). `None`: something is still waiting.
pub async fn caught_up_at(pool: &PgPool) -> Result<Option<DateTime<Utc>>> {
    let (now, idle): (DateTime<Utc>, bool) = sqlx::query_as(
        "SELECT now(), NOT EXISTS (SELECT 1 FROM numbering.outbox WHERE published_at IS NULL)",
    )
    .fetch_one(pool)
    .await
    .context("checking the outbox for a heartbeat")?;
    Ok(idle.then_some(now))
}
