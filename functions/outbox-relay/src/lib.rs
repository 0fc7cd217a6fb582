//! The outbox relay: publishes `numbering.outbox` to NATS JetStream in
//! per-identifier order, `Nats-Msg-Id` = the event id, and marks a row
//! published only after the server's ack.
//!
//! Order. Every lifecycle transaction locks the identifier's row before it
//! inserts its outbox row and holds the lock until commit, so for one
//! identifier a later event is inserted (and gets a larger `id`) only after
//! the earlier one has committed. Publishing the *visible* unpublished rows
//! in `id` order therefore never publishes an identifier's event before an
//! earlier one of the same identifier; a row with a smaller id that commits
//! late belongs to another identifier and is simply picked up by the next
//! batch (rows are marked one by one, there is no high-water mark to skip
//! past it). A `txid < xmin` filter (as the audit sealer uses) is *not*
//! enough on its own: xids are assigned at the first write, so a later event
//! of an identifier can carry a smaller txid than the earlier one.
//!
//! Several relays. Only the instance holding a Postgres advisory lock
//! publishes; the others wait on standby and take over when its session
//! ends. Should two ever overlap (a lock session lost mid-batch), both
//! publish in id order over one connection each, so the first copy of every
//! event still reaches the stream in order and JetStream's duplicate window
//! drops the second.

pub mod bus;
mod lease_cache;
pub mod regions;

pub use bus::{CACHE_HEARTBEAT_SUBJECT, CACHE_INVALIDATE_SUBJECT, CacheBus};
pub use lease_cache::LeaseCacheProjection;

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use async_nats::jetstream::{self, message::PublishMessage, stream};
use chrono::{DateTime, Utc};
use numbering_shared::Region;
use numbering_store::lock::SessionLock;
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::watch;
use uuid::Uuid;

/// The Postgres channel the store wakes relays on after its commits.
pub const CHANNEL: &str = numbering_store::OUTBOX_CHANNEL;
/// The `source` of every envelope.
pub const SOURCE: &str = "numbering-service";
/// Advisory lock key held by the active relay ("numbering outbox relay").
pub const LOCK_KEY: i64 = 0x6e75_6d6f_7574_6278;

/// `numbering_outbox_lag_seconds`: per published event, from its commit
/// (`occurred_at`) to its ack.
pub const LAG_METRIC: &str = "numbering_outbox_lag_seconds";
/// The lag histogram's bucket bounds in seconds: fine below a second, then
/// past the seed's 5 s objective up to an hour. A quantile never reads
/// above the highest finite bound, so the bounds must reach well beyond
/// any threshold an alert or an exit criterion compares it with.
pub const LAG_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0,
];
/// `numbering_outbox_oldest_unpublished_age_seconds`: the age of the oldest
/// event the active relay found waiting at its last pass (0: none). Unlike
/// the lag histogram, which sees an event only once it is published, it
/// grows while publishing is stuck: the one to alert on.
pub const OLDEST_UNPUBLISHED_METRIC: &str = "numbering_outbox_oldest_unpublished_age_seconds";

/// How long JetStream remembers a `Nats-Msg-Id`: far longer than the
/// relay's longest gap between two attempts at the same row (backoff caps at
/// 5 s; an ack waits at most 10 s; a standby takes over within seconds).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// One of the five streams of SPEC §7.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static [&'static str],
    pub max_age: Duration,
}

const DAY: u64 = 24 * 3600;

/// The streams the relay publishes to, with their explicit subjects and
/// retention. An event's subject is its type (`number.assigned.v1`).
pub const STREAMS: [StreamSpec; 5] = [
    StreamSpec {
        name: "NUMBERING_EVENTS",
        // the identifiers' lifecycle, and their lease contracts' (suspend, resume, end)
        subjects: &["number.>", "contract.>"],
        max_age: Duration::from_secs(30 * DAY),
    },
    StreamSpec {
        name: "NUMBERING_LEASES",
        subjects: &["lease.>"],
        max_age: Duration::from_secs(30 * DAY),
    },
    StreamSpec {
        name: "NUMBERING_AUDIT",
        // sealed entries and checkpoints; the two-person approvals' steps
        subjects: &["numbering.audit.>", "numbering.approval.>"],
        max_age: Duration::from_secs(400 * DAY),
    },
    StreamSpec {
        name: "NUMBERING_OPS",
        subjects: &["numbering.ops.>", "numbering.import.>"],
        max_age: Duration::from_secs(14 * DAY),
    },
    StreamSpec {
        name: "NUMBERING_REGULATOR",
        subjects: &["numbering.regulator.>"],
        max_age: Duration::from_secs(400 * DAY),
    },
];

impl StreamSpec {
    pub fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.to_owned(),
            subjects: self.subjects.iter().map(|s| (*s).to_owned()).collect(),
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            max_age: self.max_age,
            duplicate_window: DUPLICATE_WINDOW,
            description: Some("published by the numbering-service outbox relay".to_owned()),
            ..Default::default()
        }
    }
}

/// Creates the five streams, or updates them to the configuration above.
pub async fn ensure_streams(js: &jetstream::Context) -> Result<()> {
    for spec in STREAMS {
        js.create_or_update_stream(spec.config())
            .await
            .with_context(|| format!("creating or updating stream {}", spec.name))?;
    }
    Ok(())
}

/// One outbox row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEvent {
    pub id: i64,
    pub event_id: Uuid,
    pub stream: String,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub tenant_id: Option<String>,
    pub payload: sqlx::types::Json<Value>,
    pub occurred_at: DateTime<Utc>,
    /// The old identifiers a renumbering linked to this event's identifier
    /// whose parallel-running window was still open when the event
    /// happened: ValidateLease answers for them with this identifier's
    /// snapshot, so their caches move with it (`identifier_links`).
    #[sqlx(default)]
    pub linked: Vec<String>,
}

impl OutboxEvent {
    /// The subject it is published on: its type.
    pub fn subject(&self) -> &str {
        &self.event_type
    }

    /// The CloudEvents-style envelope (docs/events/envelope.schema.json).
    pub fn envelope(&self) -> Value {
        self.envelope_from(None)
    }

    /// The envelope as published from `region` (`"region"`, when set: the
    /// region of the instance whose relay published it).
    pub fn envelope_from(&self, region: Option<Region>) -> Value {
        let mut envelope = json!({
            "specversion": "1.0",
            "id": self.event_id,
            "type": self.event_type,
            "source": SOURCE,
            "time": self.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "subject": self.aggregate_id,
            "tenant": self.tenant_id,
            "datacontenttype": "application/json",
            "data": self.payload.0,
        });
        if let Some(region) = region {
            envelope["region"] = json!(region.as_str());
        }
        envelope
    }

    /// Whether it changes what ValidateLease answers for its identifier
    /// (every number lifecycle event does), with the new version.
    pub fn lease_state_change(&self) -> Option<(&str, i64)> {
        if self.stream != "NUMBERING_EVENTS" || self.aggregate_type != "number" {
            return None;
        }
        let version = self.payload.0.get("version")?.as_i64()?;
        Some((&self.aggregate_id, version))
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something kept in step with every lease-state change, called by the
/// relay after JetStream has acked the event and before the row is marked
/// published.
///
/// Contract: MUST be idempotent and conditional on `version` (an event can
/// be projected again after a crash, and versions only grow); an `Err`
/// leaves the row unpublished, so the event is retried (re-published, which
/// JetStream deduplicates) on the next pass.
pub trait Projection: Send + Sync {
    fn project<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<()>>;
}

/// Publishes `num.cache.invalidate.v1` (core NATS) with
/// `{"identifier": …, "version": N, "relay": …, "seq": N}` for every
/// lease-state change ([`bus`]).
pub struct CacheInvalidation {
    bus: Arc<CacheBus>,
}

impl CacheInvalidation {
    pub fn new(bus: Arc<CacheBus>) -> Self {
        Self { bus }
    }
}

impl Projection for CacheInvalidation {
    fn project<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            for (identifier, version) in event.lease_state_changes() {
                self.bus
                    .invalidate(identifier, version, event.occurred_at)
                    .await?;
            }
            Ok(())
        })
    }
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows published per pass.
    pub batch: i64,
    /// Polling fallback when no notification arrives.
    pub poll_every: Duration,
    /// How long a standby waits before trying the lock again.
    pub standby_every: Duration,
    /// Published rows older than this are deleted.
    pub retention: Duration,
    /// How often pruning runs.
    pub prune_every: Duration,
    /// `NUMBERING_REGION`: stamped into every envelope; with a region the
    /// streams are placed per region and mirrored ([`regions`]).
    pub region: Option<Region>,
    /// How often the active relay checks whether it is caught up and, if
    /// so, sends a cache heartbeat ([`bus`]).
    pub heartbeat_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 1000,
            poll_every: Duration::from_secs(1),
            standby_every: Duration::from_millis(500),
            retention: Duration::from_secs(7 * DAY),
            prune_every: Duration::from_secs(600),
            region: None,
            heartbeat_every: Duration::from_millis(250),
        }
    }
}

/// The relay: one per process; at most one active across processes.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    js: jetstream::Context,
    projections: Vec<Arc<dyn Projection>>,
    bus: Arc<CacheBus>,
    config: RelayConfig,
}

impl Relay {
    /// A relay publishing through `client`, with the cache invalidation
    /// projection installed.
    pub fn new(pool: PgPool, client: async_nats::Client, config: RelayConfig) -> Self {
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .max_ack_inflight(4096)
            .build(client.clone());
        let bus = Arc::new(CacheBus::new(client));
        Self {
            pool,
            js,
            projections: vec![Arc::new(CacheInvalidation::new(bus.clone()))],
            bus,
            config,
        }
    }

    /// Adds a projection (the DynamoDB lease cache writer plugs in here).
    /// Adds a projection that runs before the ones already there: a cache
    /// writer must move the cache forward before the invalidation is
    /// published, or an instance could re-read the old entry.
    pub fn with_projection_first(mut self, projection: Arc<dyn Projection>) -> Self {
        self.projections.insert(0, projection);
        self
    }

    pub fn with_projection(mut self, projection: Arc<dyn Projection>) -> Self {
        self.projections.push(projection);
        self
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Publishes until `stop` turns true: on standby while another instance
    /// holds the lock; when active, woken by `LISTEN numbering_outbox` and by
    /// polling (a notification sent while disconnected is lost).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut streams_ready = false;
        while !*stop.borrow() {
            if !streams_ready {
                let ensured = match self.config.region {
                    Some(region) => regions::ensure_regional_streams(&self.js, region).await,
                    None => ensure_streams(&self.js).await,
                };
                match ensured {
                    Ok(()) => streams_ready = true,
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "streams not ready; will retry");
                        if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            match self.active(&mut stop).await {
                Ok(true) => return,
                Ok(false) => {
                    if sleep_or_stop(self.config.standby_every, &mut stop).await {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "outbox relay lost its session; will retry");
                    if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                        return;
                    }
                }
            }
        }
    }

    /// Ok(true): stopped. Ok(false): another relay is active.
    async fn active(&self, stop: &mut watch::Receiver<bool>) -> Result<bool> {
        let Some(mut lock) = SessionLock::try_acquire(&self.pool, LOCK_KEY).await? else {
            return Ok(false);
        };
        tracing::info!("outbox relay active");
        metrics::gauge!("numbering_outbox_relay_active").set(1.0);
        let result = self.publish_while_holding(&mut lock, stop).await;
        metrics::gauge!("numbering_outbox_relay_active").set(0.0);
        lock.release().await;
        result
    }

    async fn publish_while_holding(
        &self,
        lock: &mut SessionLock,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let mut backoff = Duration::from_millis(50);
        let mut last_prune: Option<Instant> = None;
        let mut last_ping = Instant::now();
        loop {
            if *stop.borrow() {
                return Ok(true);
            }
            let wait = match self.publish_pending().await {
                Ok(n) if n as i64 >= self.config.batch => {
                    backoff = Duration::from_millis(50);
                    continue;
                }
                Ok(_) => {
                    backoff = Duration::from_millis(50);
                    self.config.poll_every
                }
                Err(e) => {
                    metrics::counter!("numbering_outbox_publish_failures_total").increment(1);
                    tracing::warn!(error = %format!("{e:#}"), "publishing the outbox failed; will retry");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            // Still the holder? (The lock goes with its session.) Checked at
            // most once a second: an overlap that short is absorbed anyway.
            if last_ping.elapsed() >= Duration::from_secs(1) {
                lock.ping().await?;
                last_ping = Instant::now();
            }
            if last_prune.is_none_or(|t| t.elapsed() >= self.config.prune_every) {
                last_prune = Some(Instant::now());
                match self.prune().await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "pruned published outbox rows"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox pruning failed; will retry"),
                }
            }
            if self.wait_for_work(&mut listener, wait, stop).await? {
                return Ok(true);
            }
        }
    }

    /// Waits `wait`, or for a notification, sending a cache heartbeat every
    /// `heartbeat_every` while nothing is waiting in the outbox.
    /// Ok(true): stopped.
    async fn wait_for_work(
        &self,
        listener: &mut PgListener,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            self.heartbeat().await;
            let beat = tokio::time::Instant::now() + self.config.heartbeat_every;
            tokio::select! {
                n = listener.recv() => {
                    n?;
                    // one pass serves every notification already queued
                    while listener.next_buffered().is_some() {}
                    return Ok(false);
                }
                _ = tokio::time::sleep_until(until) => return Ok(false),
                _ = tokio::time::sleep_until(beat) => {}
                _ = stop.changed() => return Ok(true),
            }
        }
    }

    /// A heartbeat, if the outbox is caught up (a failure is only logged:
    /// without heartbeats caches fall back to their short TTL).
    async fn heartbeat(&self) {
        let sent = match bus::caught_up_at(&self.pool).await {
            Ok(Some(at)) => self.bus.heartbeat(at).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %format!("{e:#}"), "no cache heartbeat");
        }
    }

    /// One pass: publishes up to `batch` unpublished rows in id order,
    /// waits for JetStream's acks, runs the projections, and marks the acked
    /// prefix published. Returns how many rows were marked.
    pub async fn publish_pending(&self) -> Result<usize> {
        let rows: Vec<OutboxEvent> = sqlx::query_as(lease_cache::PENDING)
            .bind(self.config.batch)
            .fetch_all(&self.pool)
            .await
            .context("reading the outbox")?;
        let oldest = rows.iter().map(|r| r.occurred_at).min();
        metrics::gauge!(OLDEST_UNPUBLISHED_METRIC)
            .set(oldest.map_or(0.0, |t| seconds_since(t, Utc::now())));
        if rows.is_empty() {
            return Ok(0);
        }
        // Pipelined: every publish goes out on one connection in id order,
        // then the acks are awaited in the same order.
        let mut pending = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            let message = PublishMessage::build()
                .message_id(row.event_id.to_string())
                .payload(row.envelope_from(self.config.region).to_string().into());
            match self
                .js
                .send_publish(row.subject().to_owned(), message)
                .await
            {
                Ok(ack) => pending.push(ack),
                Err(e) => {
                    failure = Some(anyhow::Error::new(e).context("publishing"));
                    break;
                }
            }
        }
        let mut acked = 0;
        for ack in pending {
            match ack.await {
                Ok(_) => acked += 1,
                Err(e) => {
                    failure.get_or_insert(anyhow::Error::new(e).context("waiting for the ack"));
                    break;
                }
            }
        }
        let done = &rows[..acked];
        let mut projected = 0;
        for row in done {
            if let Err(e) = self.project(row).await {
                failure.get_or_insert(e);
                break;
            }
            projected += 1;
        }
        let done = &done[..projected];
        if !done.is_empty() {
            let ids: Vec<i64> = done.iter().map(|r| r.id).collect();
            sqlx::query(
                "UPDATE numbering.outbox SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL",
            )
            .bind(&ids)
            .execute(&self.pool)
            .await
            .context("marking rows published")?;
            let now = Utc::now();
            let mut per_stream: HashMap<&str, u64> = HashMap::new();
            for r in done {
                *per_stream.entry(r.stream.as_str()).or_default() += 1;
                metrics::histogram!(LAG_METRIC).record(seconds_since(r.occurred_at, now));
            }
            for (stream, n) in per_stream {
                metrics::counter!("numbering_outbox_published_total", "stream" => stream.to_owned())
                    .increment(n);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(done.len()),
        }
    }

    async fn project(&self, row: &OutboxEvent) -> Result<()> {
        for p in &self.projections {
            p.project(row).await?;
        }
        Ok(())
    }

    /// Deletes published rows older than the retention period.
    pub async fn prune(&self) -> Result<u64> {
        let cutoff = Utc::now()
            - chrono::Duration::from_std(self.config.retention).unwrap_or(chrono::Duration::MAX);
        let mut total = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM numbering.outbox WHERE id IN ( \
                     SELECT id FROM numbering.outbox WHERE published_at < $1 LIMIT 10000)",
            )
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += n;
            if n < 10000 {
                return Ok(total);
            }
        }
    }
}

/// Sleeps for `d`; true if `stop` turned on meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Seconds from `then` to `now` (0 if `then` is later: clocks of two hosts).
fn seconds_since(then: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    ((now - then).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6).max(0.0)
}
