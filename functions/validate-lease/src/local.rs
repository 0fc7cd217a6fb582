//! The in-process tier: bounded, short-lived, never moves backwards.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, ops::compute::Op, sync::Cache};

use crate::bus::BusTrust;

/// One cached answer, as every tier holds it.
pub use numbering_clients::lease_cache::Cached;

/// A cached answer and when it was fetched from a lower tier.
#[derive(Clone)]
struct Entry {
    value: Cached,
    fetched: Instant,
    /// The bus's epoch when it was fetched ([`BusTrust`]).
    epoch: u64,
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
    /// The bus's long TTL, when there is a bus: moka keeps entries that long
    /// and [`LocalCache::get`] decides whether they are still trusted.
    longest: Option<Duration>,
}

impl TtlPolicy {
    fn ttl(&self, value: &Cached) -> Duration {
        if value.snapshot.is_some() {
            self.positive
        } else {
            self.negative
        }
    }

    fn kept(&self, value: &Cached) -> Duration {
        let short = self.ttl(value);
        self.longest.map_or(short, |long| long.max(short))
    }
}

impl Expiry<String, Entry> for TtlPolicy {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(self.kept(&entry.value))
    }
    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.kept(&entry.value))
    }
}

/// Bounded in-process cache keyed by identity key. Entries live `positive`
/// (or `negative` for "not in inventory") after they were fetched; that TTL
/// bounds staleness when the invalidation bus is down (a refresh replaces
/// an entry with a newly fetched one, it never extends an old one). With a
/// bus ([`LocalCache::with_bus`]) an entry is trusted longer while the bus
/// is current (see [`crate::bus`] for the bound).
#[derive(Clone)]
pub struct LocalCache {
    inner: Cache<String, Entry>,
    policy: TtlPolicy,
    bus: Option<Arc<BusTrust>>,
    /// Bumped by every invalidation: a fill that started before one must
    /// not store what it read (it may be the very state just invalidated).
    invalidations: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LocalCache {
    pub fn new(capacity: u64, positive: Duration, negative: Duration) -> Self {
        Self::with_bus(capacity, positive, negative, None)
    }

    /// As [`LocalCache::new`], trusting entries longer while `bus` is current.
    pub fn with_bus(
        capacity: u64,
        positive: Duration,
        negative: Duration,
        bus: Option<Arc<BusTrust>>,
    ) -> Self {
        let policy = TtlPolicy {
            positive,
            negative,
            longest: bus.as_ref().map(|b| b.max_ttl()),
        };
        let inner = Cache::builder()
            .max_capacity(capacity)
            .expire_after(policy)
            .build();
        Self {
            inner,
            policy,
            bus,
            invalidations: Default::default(),
        }
    }

    /// How long `entry` is trusted from its fetch, as things stand now.
    fn trusted_for(&self, entry: &Entry) -> Duration {
        let short = self.policy.ttl(&entry.value);
        match self.bus.as_ref().and_then(|b| b.long_ttl(entry.epoch)) {
            Some(long) => long.max(short),
            None => short,
        }
    }

    fn epoch(&self) -> u64 {
        self.bus.as_ref().map_or(0, |b| b.epoch())
    }

    /// Where invalidations stand: take it before reading a lower tier and
    /// hand it to [`LocalCache::fill`].
    pub fn generation(&self) -> u64 {
        self.invalidations
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Option<Hit> {
        let entry = self.inner.get(key)?;
        let (age, ttl) = (entry.fetched.elapsed(), self.trusted_for(&entry));
        if age >= ttl {
            // kept for the bus's long TTL, but no longer trusted
            return None;
        }
        let refresh_due = age >= ttl / 2;
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
            epoch: self.epoch(),
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
            epoch: self.epoch(),
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

    /// The bus had a gap: fills that started before it must not be stored
    /// (an invalidation they needed may be among what was lost).
    pub fn bus_gap(&self) {
        self.invalidations
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
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
            link_until: None,
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

    #[test]
    fn past_the_short_ttl_an_entry_is_trusted_only_while_the_bus_is_current_without_a_gap() {
        use crate::bus::{BusTrust, BusTtl, Heartbeat};
        let bus = Arc::new(BusTrust::new(BusTtl {
            ttl: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        }));
        let now_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        let beat = |seq| Heartbeat {
            relay: "r".into(),
            seq,
            caught_up_at_ms: now_ms(),
        };
        let short = Duration::from_millis(50);
        let c = LocalCache::with_bus(100, short, short, Some(bus.clone()));
        bus.heartbeat(&beat(1));
        c.put_forward("k", at(1));
        std::thread::sleep(short * 2);
        assert!(c.get("k").is_some(), "bus current: the long TTL");
        bus.heartbeat(&beat(3));
        assert!(c.get("k").is_none(), "a gap: back to the short TTL");
        c.put_forward("k", at(1));
        std::thread::sleep(short * 2);
        assert!(c.get("k").is_some(), "fetched after the gap, bus current");
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
