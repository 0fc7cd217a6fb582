//! The in-process tier: bounded, short-lived, never moves backwards.

use std::time::{Duration, Instant};

use moka::{Expiry, ops::compute::Op, sync::Cache};
use numbering_shared::NumberSnapshot;

/// One cached answer: the snapshot (`None`: not in inventory) at `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub snapshot: Option<NumberSnapshot>,
    /// The row version (0 for "not in inventory").
    pub version: i64,
}

impl Cached {
    pub fn from_snapshot(snapshot: Option<NumberSnapshot>) -> Self {
        let version = snapshot.as_ref().map_or(0, |s| s.version);
        Self { snapshot, version }
    }
}

struct TtlPolicy {
    positive: Duration,
    negative: Duration,
}

impl TtlPolicy {
    fn ttl(&self, value: &Cached) -> Duration {
        if value.snapshot.is_some() {
            self.positive
        } else {
            self.negative
        }
    }
}

impl Expiry<String, Cached> for TtlPolicy {
    fn expire_after_create(&self, _: &String, value: &Cached, _: Instant) -> Option<Duration> {
        Some(self.ttl(value))
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &Cached,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.ttl(value))
    }
}

/// Bounded in-process cache keyed by identity key. Entries live `positive`
/// (or `negative` for "not in inventory"); that TTL bounds staleness when
/// the invalidation bus is down.
#[derive(Clone)]
pub struct LocalCache {
    inner: Cache<String, Cached>,
}

impl LocalCache {
    pub fn new(capacity: u64, positive: Duration, negative: Duration) -> Self {
        let inner = Cache::builder()
            .max_capacity(capacity)
            .expire_after(TtlPolicy { positive, negative })
            .build();
        Self { inner }
    }

    pub fn get(&self, key: &str) -> Option<Cached> {
        self.inner.get(key)
    }

    /// Stores `value` unless a newer version is already cached.
    pub fn put_forward(&self, key: &str, value: Cached) {
        self.inner
            .entry(key.to_owned())
            .and_compute_with(|existing| match existing {
                Some(e) if e.value().version > value.version => Op::Nop,
                _ => Op::Put(value),
            });
    }

    pub fn invalidate(&self, key: &str) {
        self.inner.invalidate(key);
    }

    pub fn clear(&self) {
        self.inner.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_shared::NumberState;

    fn at(version: i64) -> Cached {
        Cached::from_snapshot(Some(NumberSnapshot {
            state: NumberState::Assigned,
            tenant_id: None,
            lease_id: None,
            lease_expires_at: None,
            reserved_until: None,
            version,
        }))
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let c = LocalCache::new(100, Duration::from_secs(60), Duration::from_secs(1));
        c.put_forward("k", at(5));
        c.put_forward("k", at(4));
        assert_eq!(c.get("k").unwrap().version, 5);
        c.put_forward("k", at(6));
        assert_eq!(c.get("k").unwrap().version, 6);
    }

    #[test]
    fn negative_answers_expire_sooner_than_positive_ones() {
        let c = LocalCache::new(100, Duration::from_secs(60), Duration::from_millis(50));
        c.put_forward("known", at(1));
        c.put_forward("unknown", Cached::from_snapshot(None));
        std::thread::sleep(Duration::from_millis(120));
        assert!(c.get("unknown").is_none());
        assert!(c.get("known").is_some());
    }
}
