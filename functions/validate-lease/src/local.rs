//! The in-process tier: bounded, short-lived, never moves backwards.

use std::time::{Duration, Instant};

use moka::{Expiry, ops::compute::Op, sync::Cache};

/// One cached answer, as every tier holds it.
pub use numbering_clients::lease_cache::Cached;

/// A cached answer and when it was fetched from a lower tier.
#[derive(Clone)]
struct Entry {
    value: Cached,
    fetched: Instant,
}

/// What [`LocalCache::get`] found.
pub struct Hit {
    pub value: Cached,
    /// Past half its lifetime: the caller should refresh it in the
    /// background, so that a key in steady use never expires under its
    /// callers (which would send all of them to the lower tiers at once).
    pub refresh_due: bool,
}

#[derive(Clone, Copy)]
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

impl Expiry<String, Entry> for TtlPolicy {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(self.ttl(&entry.value))
    }
    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.ttl(&entry.value))
    }
}

/// Bounded in-process cache keyed by identity key. Entries live `positive`
/// (or `negative` for "not in inventory") after they were fetched; that TTL
/// bounds staleness when the invalidation bus is down (a refresh replaces
/// an entry with a newly fetched one, it never extends an old one).
#[derive(Clone)]
pub struct LocalCache {
    inner: Cache<String, Entry>,
    policy: TtlPolicy,
    /// Bumped by every invalidation: a fill that started before one must
    /// not store what it read (it may be the very state just invalidated).
    invalidations: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LocalCache {
    pub fn new(capacity: u64, positive: Duration, negative: Duration) -> Self {
        let policy = TtlPolicy { positive, negative };
        let inner = Cache::builder()
            .max_capacity(capacity)
            .expire_after(policy)
            .build();
        Self {
            inner,
            policy,
            invalidations: Default::default(),
        }
    }

    /// Where invalidations stand: take it before reading a lower tier and
    /// hand it to [`LocalCache::fill`].
    pub fn generation(&self) -> u64 {
        self.invalidations
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Option<Hit> {
        let entry = self.inner.get(key)?;
        let refresh_due = entry.fetched.elapsed() >= self.policy.ttl(&entry.value) / 2;
        Some(Hit {
            value: entry.value,
            refresh_due,
        })
    }

    /// Stores `value`, fetched just now, unless a newer version is already
    /// cached.
    pub fn put_forward(&self, key: &str, value: Cached) {
        let entry = Entry {
            value,
            fetched: Instant::now(),
        };
        self.inner
            .entry(key.to_owned())
            .and_compute_with(|existing| match existing {
                Some(e) if e.value().value.version > entry.value.version => Op::Nop,
                _ => Op::Put(entry),
            });
    }

    /// As [`LocalCache::put_forward`], for a value read from a lower tier
    /// since `generation`: dropped if an invalidation came in meanwhile.
    /// Checked under the key's lock, which [`LocalCache::invalidate`] takes
    /// too, so the fill lands either before the invalidation (and is
    /// removed by it) or sees it.
    pub fn fill(&self, key: &str, value: Cached, generation: u64) {
        let entry = Entry {
            value,
            fetched: Instant::now(),
        };
        self.inner
            .entry(key.to_owned())
            .and_compute_with(|existing| match existing {
                _ if self.generation() != generation => Op::Nop,
                Some(e) if e.value().value.version > entry.value.version => Op::Nop,
                _ => Op::Put(entry),
            });
    }

    pub fn invalidate(&self, key: &str) {
        self.inner.entry(key.to_owned()).and_compute_with(|_| {
            self.invalidations
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            Op::Remove
        });
    }

    pub fn clear(&self) {
        self.invalidations
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.inner.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_shared::{NumberSnapshot, NumberState};

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
        assert_eq!(c.get("k").unwrap().value.version, 5);
        c.put_forward("k", at(6));
        assert_eq!(c.get("k").unwrap().value.version, 6);
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

    #[test]
    fn a_fill_that_started_before_an_invalidation_is_dropped() {
        let c = LocalCache::new(100, Duration::from_secs(60), Duration::from_secs(1));
        c.put_forward("k", at(5));
        let before = c.generation();
        c.invalidate("k");
        c.fill("k", at(5), before);
        assert!(c.get("k").is_none(), "the invalidated state came back");
        c.fill("k", at(6), c.generation());
        assert_eq!(c.get("k").unwrap().value.version, 6);
    }

    /// Every check holds whatever the machine's load: an answer is judged
    /// only against the entry's age measured around it (a sleep never ends
    /// early; a descheduled thread only makes the entry older, in which case
    /// the checks that need it young are skipped, never failed).
    #[test]
    fn an_entry_past_half_its_lifetime_is_due_for_refresh_and_a_refetch_restarts_it() {
        let ttl = Duration::from_millis(400);
        let c = LocalCache::new(100, ttl, ttl);
        let put = Instant::now();
        c.put_forward("k", at(1));
        let hit = c.get("k");
        if put.elapsed() < ttl / 2 {
            assert!(!hit.unwrap().refresh_due, "young entries are not due");
        }
        std::thread::sleep(ttl / 2 + Duration::from_millis(20));
        let hit = c.get("k");
        if put.elapsed() < ttl {
            assert!(hit.unwrap().refresh_due, "past half its lifetime");
        }
        let refetched = Instant::now();
        c.put_forward("k", at(1));
        let hit = c.get("k");
        if refetched.elapsed() < ttl / 2 {
            assert!(
                !hit.unwrap().refresh_due,
                "the refetch started a new lifetime"
            );
        }
        // past the first lifetime, inside the second
        std::thread::sleep(ttl / 2 + Duration::from_millis(20));
        let hit = c.get("k");
        assert!(put.elapsed() >= ttl);
        if refetched.elapsed() < ttl {
            assert!(hit.is_some(), "the refetch started a new lifetime");
        }
    }
}
