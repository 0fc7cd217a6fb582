//! `num.cache.invalidate.v1`: core NATS (not a stream), fanned out to every
//! instance in both regions; each drops the entry it names.

use futures_util::StreamExt;
use numbering_shared::Identifier;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{
    bus::{Heartbeat, Sequenced},
    tiers::LeaseReader,
};

pub const SUBJECT: &str = "num.cache.invalidate.v1";

#[derive(Debug, Serialize, Deserialize)]
pub struct Invalidation {
    pub identifier: String,
    #[serde(default)]
    pub version: Option<i64>,
    /// The relay's id and sequence number ([`crate::bus`]); absent from a
    /// message not sent by a relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The change's database time (ms since the epoch), when the relay sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at_ms: Option<i64>,
}

/// Cross-region staleness as this instance sees it: the change's commit
/// (database clock) → its invalidation received here (this host's clock).
pub const DELAY_METRIC: &str = "numbering_invalidation_delay_seconds";

fn observe_delay(committed_at_ms: i64) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let delay = (now_ms - committed_at_ms).max(0) as f64 / 1000.0;
    metrics::histogram!(DELAY_METRIC).record(delay);
}

/// Publishes an invalidation for `identifier` (the outbox relay does this
/// after projecting a lease-state change).
impl Invalidation {
    /// The identifier a message names, as the subscriber accepts it: a JSON
    /// object with the canonical `identifier` (and optionally its integer
    /// `version`), exactly what `docs/events/num.cache.invalidate.v1.schema.json`
    /// describes.
    pub fn parse(payload: &[u8]) -> Result<Identifier, String> {
        Self::parse_versioned(payload).map(|(id, _)| id)
    }

    /// [`Invalidation::parse`], with the version the message names, if any.
    pub fn parse_versioned(payload: &[u8]) -> Result<(Identifier, Option<i64>), String> {
        let inv: Invalidation = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        let id = Identifier::parse(&inv.identifier).map_err(|e| e.to_string())?;
        if id.as_str() != inv.identifier {
            return Err(format!("{:?} is not in canonical form", inv.identifier));
        }
        Ok((id, inv.version))
    }
}

pub async fn publish(
    client: &async_nats::Client,
    identifier: &Identifier,
    version: i64,
) -> Result<(), async_nats::Error> {
    let body = serde_json::to_vec(&Invalidation {
        identifier: identifier.as_str().to_owned(),
        version: Some(version),
        relay: None,
        seq: None,
        committed_at_ms: None,
    })?;
    client.publish(SUBJECT, body.into()).await?;
    client.flush().await?;
    Ok(())
}

/// Subscribes (the client reconnects by itself and re-subscribes) and drops
/// named entries until `stop` fires. Returns once subscribed, serving in the
/// background.
pub async fn subscribe(
    client: async_nats::Client,
    reader: LeaseReader,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    // one subscription for invalidations and heartbeats: they arrive in
    // the order the relay sent them
    let mut sub = client.subscribe(crate::bus::SUBSCRIPTION).await?;
    client.flush().await?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { return };
                    received(&reader, msg.subject.as_str(), &msg.payload);
                }
                _ = stop.changed() => return,
            }
        }
    }))
}

/// One message on `num.cache.>`: an invalidation drops its entry, a
/// heartbeat keeps the bus current; either may reveal a gap.
fn received(reader: &LeaseReader, subject: &str, payload: &[u8]) {
    let gap = match subject {
        SUBJECT => {
            match Invalidation::parse_versioned(payload) {
                Ok((id, version)) => reader.invalidate_version(&id.key(), version),
                Err(e) => tracing::warn!(error = %e, "malformed invalidation message; ignored"),
            }
            let message = serde_json::from_slice::<Invalidation>(payload).ok();
            if let Some(at) = message.as_ref().and_then(|i| i.committed_at_ms) {
                observe_delay(at);
            }
            let sequenced = message.and_then(|i| {
                Some(Sequenced {
                    relay: i.relay?,
                    seq: i.seq?,
                })
            });
            match (reader.bus(), sequenced) {
                (Some(bus), Some(at)) => bus.observe(&at),
                _ => false,
            }
        }
        crate::bus::HEARTBEAT_SUBJECT => match serde_json::from_slice::<Heartbeat>(payload) {
            Ok(beat) => reader.bus().is_some_and(|bus| bus.heartbeat(&beat)),
            Err(e) => {
                tracing::warn!(error = %e, "malformed cache heartbeat; ignored");
                false
            }
        },
        _ => false,
    };
    if gap {
        reader.bus_gap();
    }
}
