//! End-to-end latency of ValidateLease and Lookup, per tier that answered
//! and per outcome, with bucket boundaries at the seed's thresholds (20 ms
//! cache hit, 50 ms Postgres fallback) and well above them. The hit ratio
//! comes from `numbering_validate_tier_total` ([`crate::tiers`]).

use std::time::Instant;

/// ValidateLease: `{tier, outcome}`, outcome `allow` / `deny` / `unavailable`.
pub const VALIDATE_METRIC: &str = "numbering_validate_lease_duration_seconds";
/// Lookup: `{tier, outcome}`, outcome `found` / `not_found` / `unavailable`.
pub const LOOKUP_METRIC: &str = "numbering_lookup_duration_seconds";
/// Answers that were UNAVAILABLE (fail-closed): the counter alarms watch.
pub const UNAVAILABLE_METRIC: &str = "numbering_validate_lease_unavailable_total";
/// The buckets of both histograms, in seconds.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub const VALIDATE_OUTCOMES: [&str; 3] = ["allow", "deny", "unavailable"];
pub const LOOKUP_OUTCOMES: [&str; 3] = ["found", "not_found", "unavailable"];

/// The tier that answered a read (`None`: no tier was asked, the input did
/// not parse); when none could answer, the last one asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Local,
    Dynamodb,
    Postgres,
    None,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Local, Tier::Dynamodb, Tier::Postgres, Tier::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Dynamodb => "dynamodb",
            Tier::Postgres => "postgres",
            Tier::None => "none",
        }
    }
}

/// One histogram handle per (tier, outcome), registered once: the hot path
/// builds no metric key per call.
pub struct Latency {
    handles: Vec<metrics::Histogram>,
}

impl Latency {
    pub fn new(name: &'static str, outcomes: [&'static str; 3]) -> Self {
        let handles = Tier::ALL
            .iter()
            .flat_map(|t| {
                outcomes.map(|o| metrics::histogram!(name, "tier" => t.as_str(), "outcome" => o))
            })
            .collect();
        Self { handles }
    }

    /// Records the time since `started` under `tier` and the outcome at
    /// `outcome` (an index into the outcomes given to [`Latency::new`]).
    pub fn record(&self, tier: Tier, outcome: usize, started: Instant) {
        let tier = Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0);
        if let Some(h) = self.handles.get(tier * 3 + outcome) {
            h.record(started.elapsed().as_secs_f64());
        }
    }
}
