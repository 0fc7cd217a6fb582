//! Trusting the in-process tier longer while the invalidation bus is
//! connected and current, and only then.
//!
//! The active outbox relay numbers every message it sends on
//! `num.cache.invalidate.v1` and `num.cache.heartbeat.v1` (`relay`, `seq`:
//! one sequence over both subjects, one connection), and after every pass
//! that left nothing behind it publishes a heartbeat saying "every change
//! committed before `caught_up_at` has been published and invalidated".
//! One subscription (`num.cache.>`) receives both in the order they were sent.
//!
//! The bus is **current** while the newest heartbeat's `caught_up_at` is
//! less than `window` old (by this host's clock). An in-process entry is
//! trusted for `ttl` (long) while the bus is current and has been without a
//! gap since the entry was fetched; otherwise for the short TTL of
//! [`crate::TierConfig`]. A gap is a message whose `seq` does not follow the
//! last one of the same relay, or a message from another relay (a relay
//! took over, or this host reconnected): what came in between may have been
//! lost, so every entry fetched before it falls back to the short TTL.
//!
//! Staleness bound, bus current: a change committed at `c` and not yet
//! invalidated here means no heartbeat with `caught_up_at > c` has arrived
//! (it would have come after the invalidation). So at `c + window` the bus
//! is no longer current, and the entry, fetched before `c`, is trusted only
//! within the short TTL of its fetch: staleness ≤ max(`window` + clock skew
//! between the relay's database and this host, short TTL). Bus down or
//! stale: the short TTL, as without the bus. With the defaults (1 s window,
//! 2 s TTL) the bound is 2 s either way; the long TTL only saves refetches.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

/// Core-NATS subject of the relay's heartbeats.
pub const HEARTBEAT_SUBJECT: &str = "num.cache.heartbeat.v1";
/// What an instance subscribes to: invalidations and heartbeats, in order.
pub const SUBSCRIPTION: &str = "num.cache.>";

/// The relay's place in its sequence; both message kinds carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    /// The publishing relay's id (new at every relay start).
    pub relay: String,
    /// 1, 2, 3, … over invalidations and heartbeats together.
    pub seq: u64,
}

/// `num.cache.heartbeat.v1`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub relay: String,
    pub seq: u64,
    /// Every change committed before this instant (the database's clock,
    /// Unix milliseconds) has been published and invalidated.
    pub caught_up_at_ms: i64,
}

/// How long entries are trusted with the bus current.
#[derive(Debug, Clone, Copy)]
pub struct BusTtl {
    /// The long TTL (`NUMBERING_CACHE_BUS_TTL_MS`).
    pub ttl: Duration,
    /// How old the newest heartbeat may be for the bus to count as current.
    pub window: Duration,
}

/// What the subscriber has seen of the bus.
pub struct BusTrust {
    config: BusTtl,
    /// Bumped at every gap: entries fetched under an older epoch get the short TTL.
    epoch: AtomicU64,
    /// Unix millis until which the bus counts as current.
    current_until: AtomicI64,
    last: Mutex<Option<Sequenced>>,
}

impl BusTrust {
    pub fn new(config: BusTtl) -> Self {
        Self {
            config,
            epoch: AtomicU64::new(0),
            current_until: AtomicI64::new(0),
            last: Mutex::new(None),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records a sequenced message; a gap (or the first message, or another
    /// relay) starts a new epoch and ends currency until the next heartbeat.
    /// Returns whether there was a gap.
    pub fn observe(&self, at: &Sequenced) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let follows = last
            .as_ref()
            .is_some_and(|l| l.relay == at.relay && l.seq.checked_add(1) == Some(at.seq));
        if !follows {
            self.current_until.store(0, Ordering::Release);
            self.epoch.fetch_add(1, Ordering::AcqRel);
            metrics::counter!("numbering_cache_bus_gaps_total").increment(1);
        }
        *last = Some(at.clone());
        !follows
    }

    /// A heartbeat: observe its place, then extend currency. Returns
    /// whether there was a gap.
    pub fn heartbeat(&self, beat: &Heartbeat) -> bool {
        let gap = self.observe(&Sequenced {
            relay: beat.relay.clone(),
            seq: beat.seq,
        });
        let until = beat
            .caught_up_at_ms
            .saturating_add(self.config.window.as_millis() as i64);
        self.current_until.fetch_max(until, Ordering::AcqRel);
        gap
    }

    /// The long TTL for an entry fetched in `epoch`, when the bus is current
    /// now and has had no gap since; `None`: the short TTL applies.
    pub fn long_ttl(&self, epoch: u64) -> Option<Duration> {
        let current = now_millis() < self.current_until.load(Ordering::Acquire);
        (current && epoch == self.epoch()).then_some(self.config.ttl)
    }

    /// The longest any entry may be kept.
    pub fn max_ttl(&self) -> Duration {
        self.config.ttl
    }

    /// Whether the bus counts as current right now.
    pub fn is_current(&self) -> bool {
        now_millis() < self.current_until.load(Ordering::Acquire)
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> BusTrust {
        BusTrust::new(BusTtl {
            ttl: Duration::from_secs(60),
            window: Duration::from_secs(3600),
        })
    }

    fn beat(relay: &str, seq: u64, at: i64) -> Heartbeat {
        Heartbeat {
            relay: relay.into(),
            seq,
            caught_up_at_ms: at,
        }
    }

    #[test]
    fn a_fresh_heartbeat_makes_the_bus_current_for_entries_of_its_epoch() {
        let t = trust();
        assert!(t.long_ttl(t.epoch()).is_none(), "no heartbeat yet");
        t.heartbeat(&beat("a", 1, now_millis()));
        let epoch = t.epoch();
        assert_eq!(t.long_ttl(epoch), Some(Duration::from_secs(60)));
        t.heartbeat(&beat("a", 2, now_millis()));
        assert_eq!(t.long_ttl(epoch), Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_gap_in_the_sequence_ends_long_trust_for_older_entries() {
        let t = trust();
        t.heartbeat(&beat("a", 1, now_millis()));
        let before = t.epoch();
        t.observe(&Sequenced {
            relay: "a".into(),
            seq: 3,
        });
        assert!(t.long_ttl(before).is_none(), "seq 2 may have been lost");
        assert!(!t.is_current(), "not current until the next heartbeat");
        t.heartbeat(&beat("a", 4, now_millis()));
        assert!(t.long_ttl(before).is_none());
        assert!(t.long_ttl(t.epoch()).is_some());
    }

    #[test]
    fn another_relay_is_a_gap_and_an_old_heartbeat_is_not_current() {
        let t = trust();
        t.heartbeat(&beat("a", 1, now_millis()));
        let before = t.epoch();
        t.heartbeat(&beat("b", 1, now_millis()));
        assert!(t.long_ttl(before).is_none());
        let stale = BusTrust::new(BusTtl {
            ttl: Duration::from_secs(60),
            window: Duration::from_millis(10),
        });
        stale.heartbeat(&beat("a", 1, now_millis() - 60_000));
        assert!(!stale.is_current());
    }
}
