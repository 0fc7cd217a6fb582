//! The read path: in-process cache → DynamoDB → Postgres (which fills both
//! back), each tier under its own deadline. Lookup reads the same way: its
//! in-process answers, then the DynamoDB item's routing fields (written by
//! the relay's projection; an item without them is a miss), then the
//! standby and the primary. Fail-closed: when no tier can
//! answer, the answer is [`Unavailable`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use numbering_clients::{
    BoxFuture,
    lease_cache::{LeaseCacheError, LeaseCacheTable, ProjectForward},
};
use numbering_shared::{Identifier, NumberSnapshot};
use numbering_store::{Lookup, SnapshotReader, Store};
use tracing::Instrument;

use crate::{
    bus::{BusTrust, BusTtl},
    latency::{self, Latency, Tier},
    local::{Cached, LocalCache},
    replica::Replica,
};

mod lookup;

/// The answer could not be established; the message must not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("lease validation is unavailable")]
pub struct Unavailable;

/// Tuning of the read path.
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// In-process entries (identity keys) kept at most.
    pub local_capacity: u64,
    /// How long an in-process answer is trusted: the staleness bound when
    /// the invalidation bus is down.
    pub local_ttl: Duration,
    /// How long an in-process "not in inventory" answer is trusted.
    pub negative_ttl: Duration,
    /// Longest wait for DynamoDB before falling back to Postgres.
    pub dynamo_deadline: Duration,
    /// Longest wait for Postgres before answering UNAVAILABLE.
    pub postgres_deadline: Duration,
    /// After a DynamoDB failure, go straight to Postgres for this long.
    pub dynamo_backoff: Duration,
    /// How long an in-process answer is trusted while the invalidation bus
    /// is connected and current (`None`: never longer than `local_ttl`);
    /// see [`crate::bus`].
    pub bus_ttl: Option<Duration>,
    /// How old the relay's newest heartbeat may be for the bus to be current.
    pub bus_window: Duration,
}

impl Default for TierConfig {
    fn default() -> Self {
        Self {
            local_capacity: 1_000_000,
            local_ttl: Duration::from_secs(2),
            negative_ttl: Duration::from_millis(500),
            dynamo_deadline: Duration::from_millis(50),
            postgres_deadline: Duration::from_millis(500),
            dynamo_backoff: Duration::from_secs(1),
            bus_ttl: Some(Duration::from_secs(30)),
            bus_window: Duration::from_secs(1),
        }
    }
}

/// Reads lease snapshots through the three tiers.
#[derive(Clone)]
pub struct LeaseReader {
    inner: Arc<Inner>,
}

/// Metric handles registered once: the hot path must not build metric keys
/// per call.
struct TierMetrics {
    counters: std::collections::HashMap<(&'static str, &'static str), metrics::Counter>,
    histograms: std::collections::HashMap<(&'static str, &'static str), metrics::Histogram>,
    fallbacks: metrics::Counter,
    unavailable: metrics::Counter,
    invalidations: metrics::Counter,
    /// In-process hits are timed 1 in LOCAL_SAMPLE (timing costs more than the hit).
    local_hits: std::sync::atomic::AtomicU64,
}

const LOCAL_SAMPLE: u64 = 32;

impl TierMetrics {
    fn new() -> Self {
        let mut counters = std::collections::HashMap::new();
        let mut histograms = std::collections::HashMap::new();
        for tier in ["local", "dynamodb", "postgres"] {
            for outcome in ["hit", "miss", "error", "timeout"] {
                counters.insert(
                    (tier, outcome),
                    metrics::counter!("numbering_validate_tier_total", "tier" => tier, "outcome" => outcome),
                );
                histograms.insert(
                    (tier, outcome),
                    metrics::histogram!("numbering_validate_tier_duration_seconds", "tier" => tier, "outcome" => outcome),
                );
            }
        }
        Self {
            counters,
            histograms,
            fallbacks: metrics::counter!("numbering_validate_fallbacks_total", "to" => "postgres"),
            unavailable: metrics::counter!(latency::UNAVAILABLE_METRIC),
            invalidations: metrics::counter!("numbering_cache_invalidations_total"),
            local_hits: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn observe(&self, tier: &'static str, outcome: &'static str, started: Instant) {
        if let Some(c) = self.counters.get(&(tier, outcome)) {
            c.increment(1);
        }
        if tier == "local"
            && outcome == "hit"
            && self.local_hits.fetch_add(1, Ordering::Relaxed) % LOCAL_SAMPLE != 0
        {
            return;
        }
        if let Some(h) = self.histograms.get(&(tier, outcome)) {
            h.record(started.elapsed().as_secs_f64());
        }
    }
}

struct Inner {
    metrics: TierMetrics,
    /// `None` when `local_capacity` is 0: no in-process tier at all.
    local: Option<LocalCache>,
    /// What the invalidation bus's subscriber has seen (`None`: no long TTL).
    bus: Option<Arc<BusTrust>>,
    lookups: moka::sync::Cache<String, Option<Lookup>>,
    dynamo: Option<LeaseCacheTable>,
    /// Lookups and relay projections (the application pool).
    store: Store,
    /// The Postgres tier of ValidateLease (its own read-only pool).
    snapshots: SnapshotReader,
    /// This region's hot standby, read before `snapshots` and `store`
    /// within its staleness bound.
    replica: Option<Replica>,
    config: TierConfig,
    /// Identity keys being refreshed in the background right now.
    refreshing: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Unix millis until which DynamoDB is skipped (it just failed).
    dynamo_down_until: AtomicI64,
    epoch: Instant,
    /// Lookup's end-to-end latency.
    lookup_latency: Latency,
}

impl LeaseReader {
    pub fn new(
        store: Store,
        snapshots: SnapshotReader,
        dynamo: Option<LeaseCacheTable>,
        config: TierConfig,
    ) -> Self {
        let bus = config.bus_ttl.map(|ttl| {
            // a window no longer than the short TTL keeps the bound of an
            // `allowed` answer at `local_ttl`, bus or no bus
            Arc::new(BusTrust::new(BusTtl {
                ttl,
                window: config.bus_window.min(config.local_ttl),
            }))
        });
        let local = (config.local_capacity > 0).then(|| {
            LocalCache::with_bus(
                config.local_capacity,
                config.local_ttl,
                config.negative_ttl,
                bus.clone(),
            )
        });
        let lookups = moka::sync::Cache::builder()
            .max_capacity(config.local_capacity)
            .time_to_live(config.local_ttl)
            .build();
        Self {
            inner: Arc::new(Inner {
                metrics: TierMetrics::new(),
                local,
                bus,
                lookups,
                dynamo,
                store,
                snapshots,
                replica: None,
                config,
                refreshing: Default::default(),
                dynamo_down_until: AtomicI64::new(0),
                epoch: Instant::now(),
                lookup_latency: Latency::new(latency::LOOKUP_METRIC, latency::LOOKUP_OUTCOMES),
            }),
        }
    }

    /// Reads the Postgres tier and Lookup from `replica` first. Call it
    /// before cloning the reader.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_replica before the reader is cloned")
            .replica = Some(replica);
        self
    }

    pub fn replica(&self) -> Option<&Replica> {
        self.inner.replica.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn dynamo(&self) -> Option<&LeaseCacheTable> {
        self.inner.dynamo.as_ref()
    }

    /// The snapshot of `identifier` (`None`: not in inventory).
    pub async fn snapshot(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<NumberSnapshot>, Unavailable> {
        self.read(identifier).await.1
    }

    /// [`Self::snapshot`], and the tier that answered (when none could, the
    /// last one asked).
    pub async fn read(
        &self,
        identifier: &Identifier,
    ) -> (Tier, Result<Option<NumberSnapshot>, Unavailable>) {
        let i = &self.inner;
        let key = identifier.key();
        let started = Instant::now();
        let local = numbering_clients::child_span!("validate.tier", tier = "in_process");
        if let Some(hit) = local.in_scope(|| i.local.as_ref().and_then(|l| l.get(&key))) {
            i.metrics.observe("local", "hit", started);
            if hit.refresh_due {
                self.refresh(identifier, key);
            }
            return (Tier::Local, Ok(hit.value.snapshot));
        }
        i.metrics.observe("local", "miss", started);
        self.fetch(identifier, key).await
    }

    /// Refetches `identifier` from the lower tiers in the background (one
    /// refresh per key at a time), so that a key in steady use is replaced
    /// before it expires instead of sending every caller to the lower tiers
    /// at the moment it does.
    fn refresh(&self, identifier: &Identifier, key: String) {
        if !self.inner.refreshing.lock().unwrap().insert(key.clone()) {
            return;
        }
        let (reader, identifier) = (self.clone(), identifier.clone());
        tokio::spawn(async move {
            // a failure leaves the entry to expire: the next caller misses
            let _ = reader.fetch(&identifier, key.clone()).await;
            reader.inner.refreshing.lock().unwrap().remove(&key);
        });
    }

    /// DynamoDB, then Postgres (which fills both caches back).
    async fn fetch(
        &self,
        identifier: &Identifier,
        key: String,
    ) -> (Tier, Result<Option<NumberSnapshot>, Unavailable>) {
        let i = &self.inner;
        let generation = i.local.as_ref().map_or(0, LocalCache::generation);
        if let Some(dynamo) = i.dynamo.as_ref().filter(|_| self.dynamo_usable()) {
            let started = Instant::now();
            let span = numbering_clients::child_span!("validate.tier", tier = "dynamodb");
            let get = tokio::time::timeout(i.config.dynamo_deadline, dynamo.get(&key));
            match get.instrument(span).await {
                Ok(Ok(Some(hit))) => {
                    i.metrics.observe("dynamodb", "hit", started);
                    if let Some(local) = &i.local {
                        local.fill(&key, hit.clone(), generation);
                    }
                    return (Tier::Dynamodb, Ok(hit.snapshot));
                }
                Ok(Ok(None)) => i.metrics.observe("dynamodb", "miss", started),
                Ok(Err(e)) => {
                    i.metrics.observe("dynamodb", "error", started);
                    tracing::warn!(error = %e, "dynamodb tier failed; falling back to postgres");
                    self.mark_dynamo_down();
                }
                Err(_) => {
                    i.metrics.observe("dynamodb", "timeout", started);
                    tracing::warn!("dynamodb tier missed its deadline; falling back to postgres");
                    self.mark_dynamo_down();
                }
            }
            i.metrics.fallbacks.increment(1);
        }
        let started = Instant::now();
        if let Some(replica) = &i.replica {
            if let Some(snapshot) = replica
                .snapshot(identifier, i.config.postgres_deadline)
                .await
            {
                i.metrics.observe("postgres", "hit", started);
                return (Tier::Postgres, Ok(self.fill(key, generation, snapshot)));
            }
        }
        let started = Instant::now();
        let span = numbering_clients::child_span!("validate.tier", tier = "postgres");
        let answer = match tokio::time::timeout(
            i.config.postgres_deadline,
            i.snapshots.snapshot(identifier),
        )
        .instrument(span)
        .await
        {
            Ok(Ok(snapshot)) => {
                i.metrics.observe("postgres", "hit", started);
                Ok(self.fill(key, generation, snapshot))
            }
            Ok(Err(e)) => {
                i.metrics.observe("postgres", "error", started);
                tracing::error!(error = %e, "postgres tier failed; answering UNAVAILABLE");
                i.metrics.unavailable.increment(1);
                Err(Unavailable)
            }
            Err(_) => {
                i.metrics.observe("postgres", "timeout", started);
                tracing::error!("postgres tier missed its deadline; answering UNAVAILABLE");
                i.metrics.unavailable.increment(1);
                Err(Unavailable)
            }
        };
        (Tier::Postgres, answer)
    }

    /// Fills both caches with what the Postgres tier read (the in-process
    /// one unless an invalidation came in since `generation`).
    fn fill(
        &self,
        key: String,
        generation: u64,
        snapshot: Option<NumberSnapshot>,
    ) -> Option<NumberSnapshot> {
        let i = &self.inner;
        let cached = Cached::from_snapshot(snapshot);
        if let Some(local) = &i.local {
            local.fill(&key, cached.clone(), generation);
        }
        if let (Some(dynamo), Some(_)) = (&i.dynamo, &cached.snapshot) {
            if self.dynamo_usable() {
                let (dynamo, value) = (dynamo.clone(), cached.clone());
                tokio::spawn(async move {
                    if let Err(e) = dynamo.put_forward(&key, &value).await {
                        tracing::debug!(error = %e, "dynamodb fill failed");
                    }
                });
            }
        }
        cached.snapshot
    }

    /// [`LeaseReader::invalidate`], for a change to `version` (when the
    /// message names one): the replica tier answers nothing older after it.
    pub fn invalidate_version(&self, identity_key: &str, version: Option<i64>) {
        if let (Some(replica), Some(version)) = (&self.inner.replica, version) {
            replica.note_invalidation(identity_key, version);
        }
        self.invalidate(identity_key);
    }

    /// Drops `identity_key` from the in-process tier (the invalidation bus).
    pub fn invalidate(&self, identity_key: &str) {
        if let Some(local) = &self.inner.local {
            local.invalidate(identity_key);
        }
        self.inner.lookups.invalidate(identity_key);
        self.inner.metrics.invalidations.increment(1);
    }

    /// What the invalidation bus's subscriber reports to (`None`: no long TTL).
    pub fn bus(&self) -> Option<&Arc<BusTrust>> {
        self.inner.bus.as_ref()
    }

    /// The bus had a gap: no fill that started before it is stored.
    pub fn bus_gap(&self) {
        if let Some(local) = &self.inner.local {
            local.bus_gap();
        }
    }

    /// What the in-process tier holds for `identity_key` right now, without
    /// fetching or refreshing anything (diagnostics and tests).
    pub fn cached_locally(&self, identity_key: &str) -> Option<crate::local::Cached> {
        self.inner
            .local
            .as_ref()?
            .get(identity_key)
            .map(|hit| hit.value)
    }

    /// Empties the in-process tier.
    pub fn clear_local(&self) {
        if let Some(local) = &self.inner.local {
            local.clear();
        }
        self.inner.lookups.invalidate_all();
    }

    /// Projects a fresh snapshot forward into both caches (the outbox relay
    /// calls this after a lease-state change; a fill calls it after a read).
    pub async fn project(
        &self,
        identifier: &Identifier,
        snapshot: Option<NumberSnapshot>,
    ) -> Result<(), LeaseCacheError> {
        self.project_cached(identifier, Cached::from_snapshot(snapshot))
            .await
    }

    /// [`Self::project`] of a value that may carry routing's answer too
    /// (the relay's projection), which the DynamoDB item keeps for Lookup.
    pub async fn project_cached(
        &self,
        identifier: &Identifier,
        cached: Cached,
    ) -> Result<(), LeaseCacheError> {
        let key = identifier.key();
        if let Some(dynamo) = &self.inner.dynamo {
            dynamo.put_forward(&key, &cached).await?;
        }
        if let Some(local) = &self.inner.local {
            local.put_forward(&key, cached);
        }
        Ok(())
    }

    fn now_millis(&self) -> i64 {
        self.inner.epoch.elapsed().as_millis() as i64
    }

    fn dynamo_usable(&self) -> bool {
        self.inner.dynamo_down_until.load(Ordering::Relaxed) <= self.now_millis()
    }

    fn mark_dynamo_down(&self) {
        let until = self.now_millis() + self.inner.config.dynamo_backoff.as_millis() as i64;
        self.inner.dynamo_down_until.store(until, Ordering::Relaxed);
    }
}

/// ValidateLease over the tiers.
#[derive(Clone)]
pub struct Validator {
    reader: LeaseReader,
    verdicts: Arc<[metrics::Counter; 5]>,
    latency: Arc<Latency>,
}

impl Validator {
    pub fn new(reader: LeaseReader) -> Self {
        let verdicts = numbering_shared::ValidationReason::ALL.map(
            |r| metrics::counter!("numbering_validate_verdicts_total", "reason" => r.as_str()),
        );
        let latency = Latency::new(latency::VALIDATE_METRIC, latency::VALIDATE_OUTCOMES);
        Self {
            reader,
            verdicts: Arc::new(verdicts),
            latency: Arc::new(latency),
        }
    }

    pub fn reader(&self) -> &LeaseReader {
        &self.reader
    }

    /// Validates raw caller input: an identifier or tenant that does not
    /// parse is simply not registered.
    pub async fn validate(
        &self,
        identifier: &str,
        tenant_id: &str,
    ) -> Result<numbering_shared::Verdict, Unavailable> {
        let started = Instant::now();
        let (Ok(identifier), Ok(tenant)) = (
            Identifier::parse(identifier),
            numbering_shared::TenantId::parse(tenant_id),
        ) else {
            let verdict = numbering_shared::Verdict::not_registered();
            self.record(&verdict, Tier::None, started);
            return Ok(verdict);
        };
        let (tier, snapshot) = self.reader.read(&identifier).await;
        let Ok(snapshot) = snapshot else {
            self.latency.record(tier, 2, started);
            return Err(Unavailable);
        };
        let verdict =
            numbering_shared::validation::validate(snapshot.as_ref(), &tenant, Utc::now());
        self.record(&verdict, tier, started);
        Ok(verdict)
    }

    fn record(&self, verdict: &numbering_shared::Verdict, tier: Tier, started: Instant) {
        if let Some(i) = numbering_shared::ValidationReason::ALL
            .iter()
            .position(|r| *r == verdict.reason)
        {
            self.verdicts[i].increment(1);
        }
        self.latency
            .record(tier, usize::from(!verdict.allowed), started);
    }
}

/// The relay's lease-cache projection in the host: both of this reader's
/// caches move forward.
impl ProjectForward for LeaseReader {
    fn project_forward<'a>(
        &'a self,
        identifier: &'a Identifier,
        value: Cached,
    ) -> BoxFuture<'a, Result<(), LeaseCacheError>> {
        Box::pin(self.project_cached(identifier, value))
    }
}
