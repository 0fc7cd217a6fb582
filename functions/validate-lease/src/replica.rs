//! The replica tier: the hot path's Postgres reads (ValidateLease's
//! snapshot, Lookup) from this region's hot standby (`DATABASE_REPLICA_URL`),
//! within a staleness bound (`NUMBERING_REPLICA_MAX_LAG`, 2 s).
//!
//! A replica read is answered only when
//! - the standby's lag, read in the same statement as the data
//!   ([`numbering_store::replica`]: the primary's heartbeat), is within the
//!   bound: a verdict is never older than `max_lag`; and
//! - the row's version is not older than the last version an invalidation
//!   named for that identifier (kept for twice the bound and a second: by
//!   then a standby within the bound has it): a change this instance has
//!   heard of is never answered from before it.
//!
//! Otherwise, and when the standby errs, misses its deadline or is
//! unreachable, the caller reads the primary (`DATABASE_URL`), which answers
//! or leaves the answer UNAVAILABLE. A background task measures the lag
//! every [`POLL_EVERY`] (`numbering_replica_lag_seconds`, +Inf when
//! unreachable) so that a standby known to be behind or down is skipped
//! without a round trip, and picks the host again after repeated failures.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use moka::ops::compute::Op;
use numbering_shared::{Identifier, NumberSnapshot};
use numbering_store::{
    LifecycleError, Lookup,
    pg_hosts::{PgHosts, PgHostsError},
    replica::{ReplicaReader, Stale},
};

/// How often the standby's lag is measured in the background.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// How long one host may take to answer a probe or a lag query.
const PROBE: Duration = Duration::from_secs(1);

/// Consecutive failed lag queries after which the host is picked again.
const REPICK_AFTER: u32 = 3;

/// After a failed or late replica read, go straight to the primary this long.
const BACKOFF: Duration = Duration::from_secs(1);

/// `DATABASE_REPLICA_URL` and `NUMBERING_REPLICA_MAX_LAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// One or more hosts (libpq's multi-host form; `target_session_attrs`
    /// chooses among them, default the first that answers).
    pub url: String,
    /// The oldest data the replica tier may answer from.
    pub max_lag: Duration,
}

impl ReplicaConfig {
    pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(2);
}

/// The replica tier; cheap to clone.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<State>,
}

/// Marks a lag that could not be measured (the standby is unreachable).
const UNREACHABLE: u64 = u64::MAX;

struct State {
    hosts: PgHosts,
    max_lag: Duration,
    max_connections: u32,
    reader: RwLock<Option<ReplicaReader>>,
    /// The last lag seen, in ms ([`UNREACHABLE`]), and when (ms since `epoch`).
    lag_ms: AtomicU64,
    seen_at_ms: AtomicU64,
    /// Until when (ms since `epoch`) reads skip the standby: it just failed.
    down_until_ms: AtomicU64,
    /// The last version an invalidation named, per identity key.
    invalidated: moka::sync::Cache<String, i64>,
    metrics: ReplicaMetrics,
    /// Reads answered from the standby (diagnostics and tests).
    answered: AtomicU64,
    epoch: Instant,
}

struct ReplicaMetrics {
    lag: metrics::Gauge,
    reads: HashMap<(&'static str, &'static str), metrics::Counter>,
}

/// Outcomes of `numbering_replica_reads_total`: answered from the standby,
/// or sent to the primary because the standby was too stale, behind an
/// invalidation, failed, missed its deadline, or was skipped (known down,
/// known behind, or no host picked).
const OUTCOMES: [&str; 6] = ["answered", "stale", "behind", "error", "timeout", "skipped"];

impl ReplicaMetrics {
    fn new() -> Self {
        let mut reads = HashMap::new();
        for query in ["snapshot", "lookup"] {
            for outcome in OUTCOMES {
                reads.insert(
                    (query, outcome),
                    metrics::counter!("numbering_replica_reads_total", "query" => query, "outcome" => outcome),
                );
            }
        }
        Self {
            lag: metrics::gauge!("numbering_replica_lag_seconds"),
            reads,
        }
    }

    fn count(&self, query: &'static str, outcome: &'static str) {
        if let Some(c) = self.reads.get(&(query, outcome)) {
            c.increment(1);
        }
    }
}

impl Replica {
    /// Parses the URL (a malformed one fails the start), measures the lag
    /// once (a standby that is down only logs: reads go to the primary) and
    /// keeps measuring in the background while the tier is alive.
    pub async fn start(config: &ReplicaConfig, max_connections: u32) -> Result<Self, PgHostsError> {
        let hosts = PgHosts::parse(&config.url)?;
        let state = Arc::new(State {
            hosts,
            max_lag: config.max_lag,
            max_connections,
            reader: RwLock::new(None),
            lag_ms: AtomicU64::new(UNREACHABLE),
            seen_at_ms: AtomicU64::new(0),
            down_until_ms: AtomicU64::new(0),
            invalidated: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(config.max_lag * 2 + Duration::from_secs(1))
                .build(),
            metrics: ReplicaMetrics::new(),
            answered: AtomicU64::new(0),
            epoch: Instant::now(),
        });
        let mut failures = 0;
        state.poll(&mut failures).await;
        if state.lag_ms.load(Ordering::Acquire) == UNREACHABLE {
            tracing::warn!(
                "the replica (DATABASE_REPLICA_URL) is unreachable; reading the primary until it answers"
            );
        }
        tokio::spawn(poll_while_alive(Arc::downgrade(&state), failures));
        Ok(Self { inner: state })
    }

    pub fn max_lag(&self) -> Duration {
        self.inner.max_lag
    }

    /// The lag measured last (`None`: unreachable, or not measured yet).
    pub fn lag(&self) -> Option<Duration> {
        match self.inner.lag_ms.load(Ordering::Acquire) {
            UNREACHABLE => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// How many reads the standby has answered.
    pub fn answered(&self) -> u64 {
        self.inner.answered.load(Ordering::Relaxed)
    }

    /// Remembers that `identity_key` changed to `version`: an older replica
    /// row of it is no longer an answer. Call before dropping cached entries.
    pub fn note_invalidation(&self, identity_key: &str, version: i64) {
        self.inner
            .invalidated
            .entry(identity_key.to_owned())
            .and_compute_with(|old| match old {
                Some(old) if *old.value() >= version => Op::Nop,
                _ => Op::Put(version),
            });
    }

    /// The last version an invalidation named for `identity_key`, while kept.
    pub fn invalidated_version(&self, identity_key: &str) -> Option<i64> {
        self.inner.invalidated.get(identity_key)
    }

    /// ValidateLease's snapshot from the standby; `None`: read the primary.
    pub async fn snapshot(
        &self,
        identifier: &Identifier,
        deadline: Duration,
    ) -> Option<Option<NumberSnapshot>> {
        self.read("snapshot", identifier, deadline, |r, id| async move {
            r.snapshot(&id).await
        })
        .await
    }

    /// Lookup from the standby; `None`: read the primary.
    pub async fn lookup(
        &self,
        identifier: &Identifier,
        deadline: Duration,
    ) -> Option<Option<Lookup>> {
        self.read("lookup", identifier, deadline, |r, id| async move {
            r.lookup(&id).await
        })
        .await
    }

    async fn read<T, F, Fut>(
        &self,
        query: &'static str,
        identifier: &Identifier,
        deadline: Duration,
        run: F,
    ) -> Option<T>
    where
        F: FnOnce(ReplicaReader, Identifier) -> Fut,
        Fut: std::future::Future<Output = Result<Stale<T>, LifecycleError>>,
    {
        let s = &self.inner;
        let Some(reader) = s.usable_reader() else {
            s.metrics.count(query, "skipped");
            return None;
        };
        let read = match tokio::time::timeout(deadline, run(reader, identifier.clone())).await {
            Ok(Ok(read)) => read,
            Ok(Err(e)) => {
                s.metrics.count(query, "error");
                tracing::warn!(error = %e, "replica read failed; reading the primary");
                s.back_off();
                return None;
            }
            Err(_) => {
                s.metrics.count(query, "timeout");
                tracing::warn!("replica read missed its deadline; reading the primary");
                s.back_off();
                return None;
            }
        };
        s.seen(Some(read.lag));
        if read.lag > s.max_lag {
            s.metrics.count(query, "stale");
            return None;
        }
        let named = s.invalidated.get(&identifier.key());
        if named.is_some_and(|named| read.version.is_none_or(|v| v < named)) {
            s.metrics.count(query, "behind");
            return None;
        }
        s.metrics.count(query, "answered");
        s.answered.fetch_add(1, Ordering::Relaxed);
        Some(read.value)
    }
}

impl State {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The standby's pool, unless it just failed or is known to be past the
    /// bound: the last lag seen (under a second ago) plus its age.
    fn usable_reader(&self) -> Option<ReplicaReader> {
        let now = self.now_ms();
        if now < self.down_until_ms.load(Ordering::Acquire) {
            return None;
        }
        let age = now.saturating_sub(self.seen_at_ms.load(Ordering::Acquire));
        let lag = self.lag_ms.load(Ordering::Acquire);
        if age < 1000 && lag.saturating_add(age) > self.max_lag.as_millis() as u64 {
            return None;
        }
        self.reader.read().unwrap().clone()
    }

    fn back_off(&self) {
        let until = self.now_ms() + BACKOFF.as_millis() as u64;
        self.down_until_ms.store(until, Ordering::Release);
    }

    /// Records a lag just seen (`None`: unreachable).
    fn seen(&self, lag: Option<Duration>) {
        let ms = lag.map_or(UNREACHABLE, |l| l.as_millis() as u64);
        self.lag_ms.store(ms, Ordering::Release);
        self.seen_at_ms.store(self.now_ms(), Ordering::Release);
    }

    /// Measures the lag once, picking a host first when there is none.
    async fn poll(&self, failures: &mut u32) {
        let reader = self.reader.read().unwrap().clone();
        let reader = match reader {
            Some(r) => r,
            None => match ReplicaReader::pick(&self.hosts, PROBE).await {
                Ok(options) => {
                    let r = ReplicaReader::connect_lazy(options, self.max_connections);
                    *self.reader.write().unwrap() = Some(r.clone());
                    r
                }
                Err(e) => {
                    // once per outage, not every poll
                    if self.lag_ms.load(Ordering::Acquire) != UNREACHABLE {
                        tracing::warn!(error = %e, "no replica host answers; reading the primary");
                    }
                    self.unreachable();
                    return;
                }
            },
        };
        match tokio::time::timeout(PROBE, reader.lag()).await {
            Ok(Ok(lag)) => {
                *failures = 0;
                self.seen(Some(lag));
                self.metrics.lag.set(lag.as_secs_f64());
            }
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::debug!(error = %e, "measuring the replica's lag failed");
                }
                *failures += 1;
                if *failures >= REPICK_AFTER {
                    *failures = 0;
                    *self.reader.write().unwrap() = None;
                }
                self.unreachable();
            }
        }
    }

    fn unreachable(&self) {
        self.seen(None);
        self.metrics.lag.set(f64::INFINITY);
    }
}

/// Measures every [`POLL_EVERY`] until the tier is dropped.
async fn poll_while_alive(state: Weak<State>, mut failures: u32) {
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let Some(state) = state.upgrade() else { return };
        state.poll(&mut failures).await;
    }
}
