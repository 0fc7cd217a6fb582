//! Lifecycle timings: reservation and hold TTLs, lease term, quarantine cool-off.
//!
//! Values come from configuration at the edge (for example
//! `NUMBERING_COOLOFF_MSISDN_RELEASED=90d`, read with [`parse_duration`]);
//! this module only holds and checks them.

use chrono::{DateTime, Duration, Utc};

use crate::identifier::IdentifierKind;
use crate::lifecycle::QuarantineReason;

/// The shortest cool-off accepted; the database's CHECK constraint enforces the same floor.
pub const COOL_OFF_FLOOR: Duration = Duration::days(1);

/// Longest duration string [`parse_duration`] looks at, in bytes.
const MAX_DURATION_INPUT: usize = 24;

/// Why a policy value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A cool-off shorter than [`COOL_OFF_FLOOR`].
    #[error("cool-off for {kind} {reason} must be at least {floor_secs} seconds, got {given_secs}")]
    CoolOffBelowFloor {
        /// The identifier kind.
        kind: IdentifierKind,
        /// The quarantine reason.
        reason: QuarantineReason,
        /// The floor, in seconds.
        floor_secs: i64,
        /// The refused value, in seconds.
        given_secs: i64,
    },
    /// A duration string that is not `<digits><unit>` with unit `d`, `h`, `m` or `s`.
    #[error(
        "invalid duration {input:?}: expected a whole number followed by d, h, m or s, such as 90d"
    )]
    InvalidDuration {
        /// The input (truncated).
        input: String,
    },
}

/// Quarantine cool-off per identifier kind and quarantine reason.
///
/// Invariant: every entry is at least [`COOL_OFF_FLOOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolOffPolicy {
    /// Indexed by `[kind_index(kind)][reason_index(reason)]`.
    table: [[Duration; 3]; 3],
}

const fn kind_index(kind: IdentifierKind) -> usize {
    match kind {
        IdentifierKind::Msisdn => 0,
        IdentifierKind::ShortCode => 1,
        IdentifierKind::Alpha => 2,
    }
}

const fn reason_index(reason: QuarantineReason) -> usize {
    match reason {
        QuarantineReason::Released => 0,
        QuarantineReason::Recalled => 1,
        QuarantineReason::Expired => 2,
    }
}

impl Default for CoolOffPolicy {
    /// `MSISDN` 90 days, `SHORT_CODE` 180 days, `ALPHA` 30 days, for every reason.
    fn default() -> Self {
        let msisdn = Duration::days(90);
        let short_code = Duration::days(180);
        let alpha = Duration::days(30);
        Self {
            table: [[msisdn; 3], [short_code; 3], [alpha; 3]],
        }
    }
}

impl CoolOffPolicy {
    /// This policy with the cool-off for `(kind, reason)` replaced by `d`.
    ///
    /// # Errors
    ///
    /// Returns [`PolicyError::CoolOffBelowFloor`] if `d` is shorter than [`COOL_OFF_FLOOR`].
    pub fn with(
        mut self,
        kind: IdentifierKind,
        reason: QuarantineReason,
        d: Duration,
    ) -> Result<Self, PolicyError> {
        if d < COOL_OFF_FLOOR {
            return Err(PolicyError::CoolOffBelowFloor {
                kind,
                reason,
                floor_secs: COOL_OFF_FLOOR.num_seconds(),
                given_secs: d.num_seconds(),
            });
        }
        self.table[kind_index(kind)][reason_index(reason)] = d;
        Ok(self)
    }

    /// The cool-off for `(kind, reason)`.
    #[must_use]
    pub const fn cool_off(&self, kind: IdentifierKind, reason: QuarantineReason) -> Duration {
        self.table[kind_index(kind)][reason_index(reason)]
    }

    /// When a quarantine of `(kind, reason)` that starts at `now` ends.
    ///
    /// Saturates at the latest representable time instead of overflowing.
    #[must_use]
    pub fn quarantine_until(
        &self,
        kind: IdentifierKind,
        reason: QuarantineReason,
        now: DateTime<Utc>,
    ) -> DateTime<Utc> {
        now.checked_add_signed(self.cool_off(kind, reason))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The timings of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// How long a reservation lasts (default 15 minutes).
    pub reservation_ttl: Duration,
    /// How long a hold lasts (default 72 hours).
    pub hold_ttl: Duration,
    /// How long a lease term lasts (default 30 days).
    pub lease_term: Duration,
    /// Quarantine cool-offs.
    pub cool_off: CoolOffPolicy,
}

impl Default for LifecyclePolicy {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::minutes(15),
            hold_ttl: Duration::hours(72),
            lease_term: Duration::days(30),
            cool_off: CoolOffPolicy::default(),
        }
    }
}

/// A policy setting that could not be used, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {source}")]
pub struct PolicyVarError {
    /// The configuration variable.
    pub variable: String,
    /// What is wrong with its value.
    #[source]
    pub source: PolicyError,
}

impl LifecyclePolicy {
    /// The default policy with the overrides `get` finds (the environment):
    /// `NUMBERING_RESERVATION_TTL`, `NUMBERING_HOLD_TTL`,
    /// `NUMBERING_LEASE_TERM` and `NUMBERING_COOLOFF_<KIND>_<REASON>` (e.g.
    /// `NUMBERING_COOLOFF_MSISDN_RELEASED=120d`), each a [`parse_duration`]
    /// string. The host and every Lambda read the same variables, so one
    /// deployment applies one policy.
    ///
    /// # Errors
    ///
    /// The first variable whose value is not a duration, or is a cool-off
    /// below [`COOL_OFF_FLOOR`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, PolicyVarError> {
        let mut policy = Self::default();
        let duration = |k: &str| -> Result<Option<Duration>, PolicyVarError> {
            get(k)
                .map(|v| {
                    parse_duration(&v).map_err(|source| PolicyVarError {
                        variable: k.to_owned(),
                        source,
                    })
                })
                .transpose()
        };
        if let Some(d) = duration("NUMBERING_RESERVATION_TTL")? {
            policy.reservation_ttl = d;
        }
        if let Some(d) = duration("NUMBERING_HOLD_TTL")? {
            policy.hold_ttl = d;
        }
        if let Some(d) = duration("NUMBERING_LEASE_TERM")? {
            policy.lease_term = d;
        }
        for kind in IdentifierKind::ALL {
            for reason in [
                QuarantineReason::Released,
                QuarantineReason::Recalled,
                QuarantineReason::Expired,
            ] {
                let key = format!("NUMBERING_COOLOFF_{}_{}", kind.as_str(), reason.as_str());
                if let Some(d) = duration(&key)? {
                    policy.cool_off =
                        policy
                            .cool_off
                            .with(kind, reason, d)
                            .map_err(|source| PolicyVarError {
                                variable: key.clone(),
                                source,
                            })?;
                }
            }
        }
        Ok(policy)
    }

    /// When a reservation made at `now` expires.
    #[must_use]
    pub fn reservation_expires_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        saturating_add(now, self.reservation_ttl)
    }

    /// When a hold placed at `now` expires.
    #[must_use]
    pub fn hold_expires_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        saturating_add(now, self.hold_ttl)
    }

    /// When a lease term starting at `start` ends.
    #[must_use]
    pub fn lease_expires_at(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        saturating_add(start, self.lease_term)
    }
}

fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Parses a configuration duration: a whole number followed by one unit,
/// `d` (days), `h` (hours), `m` (minutes) or `s` (seconds), e.g. `90d`,
/// `72h`, `15m`, `30s`. Outer whitespace is ignored; nothing else is accepted.
///
/// # Errors
///
/// Returns [`PolicyError::InvalidDuration`] for anything else, including
/// values too large to represent.
pub fn parse_duration(s: &str) -> Result<Duration, PolicyError> {
    let invalid = || PolicyError::InvalidDuration {
        input: s.chars().take(MAX_DURATION_INPUT).collect(),
    };
    if s.len() > MAX_DURATION_INPUT {
        return Err(invalid());
    }
    let t = s.trim();
    let split = t.len().checked_sub(1).ok_or_else(invalid)?;
    if !t.is_char_boundary(split) {
        return Err(invalid());
    }
    let (number, unit) = t.split_at(split);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: i64 = number.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(invalid()),
    };
    n.checked_mul(seconds_per_unit)
        .and_then(Duration::try_seconds)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn the_policy_from_the_environment_applies_every_override_and_names_a_bad_one() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            LifecyclePolicy::from_lookup(|_| None).unwrap(),
            LifecyclePolicy::default()
        );
        let p = LifecyclePolicy::from_lookup(vars(&[
            ("NUMBERING_RESERVATION_TTL", "5m"),
            ("NUMBERING_HOLD_TTL", "24h"),
            ("NUMBERING_LEASE_TERM", "365d"),
            ("NUMBERING_COOLOFF_ALPHA_RECALLED", "30d"),
        ]))
        .unwrap();
        assert_eq!(p.reservation_ttl, Duration::minutes(5));
        assert_eq!(p.hold_ttl, Duration::hours(24));
        assert_eq!(p.lease_term, Duration::days(365));
        assert_eq!(
            p.cool_off
                .cool_off(IdentifierKind::Alpha, QuarantineReason::Recalled),
            Duration::days(30)
        );
        assert_eq!(
            p.cool_off
                .cool_off(IdentifierKind::Msisdn, QuarantineReason::Recalled),
            CoolOffPolicy::default().cool_off(IdentifierKind::Msisdn, QuarantineReason::Recalled)
        );

        let bad =
            LifecyclePolicy::from_lookup(vars(&[("NUMBERING_HOLD_TTL", "3 days")])).unwrap_err();
        assert_eq!(bad.variable, "NUMBERING_HOLD_TTL");
        assert!(
            bad.to_string()
                .starts_with("NUMBERING_HOLD_TTL: invalid duration"),
            "{bad}"
        );
        let low =
            LifecyclePolicy::from_lookup(vars(&[("NUMBERING_COOLOFF_MSISDN_RELEASED", "1h")]))
                .unwrap_err();
        assert_eq!(low.variable, "NUMBERING_COOLOFF_MSISDN_RELEASED");
        assert!(matches!(low.source, PolicyError::CoolOffBelowFloor { .. }));
    }

    #[test]
    fn default_cool_offs_depend_on_the_kind_only() {
        let p = CoolOffPolicy::default();
        for reason in QuarantineReason::ALL {
            assert_eq!(
                p.cool_off(IdentifierKind::Msisdn, reason),
                Duration::days(90)
            );
            assert_eq!(
                p.cool_off(IdentifierKind::ShortCode, reason),
                Duration::days(180)
            );
            assert_eq!(
                p.cool_off(IdentifierKind::Alpha, reason),
                Duration::days(30)
            );
        }
    }

    #[test]
    fn a_cool_off_can_be_changed_for_one_kind_and_reason() {
        let p = CoolOffPolicy::default()
            .with(
                IdentifierKind::Msisdn,
                QuarantineReason::Recalled,
                Duration::days(7),
            )
            .unwrap();
        assert_eq!(
            p.cool_off(IdentifierKind::Msisdn, QuarantineReason::Recalled),
            Duration::days(7)
        );
        assert_eq!(
            p.cool_off(IdentifierKind::Msisdn, QuarantineReason::Released),
            Duration::days(90)
        );
        assert_eq!(
            p.cool_off(IdentifierKind::Alpha, QuarantineReason::Recalled),
            Duration::days(30)
        );
    }

    #[test]
    fn a_cool_off_below_the_floor_is_refused_and_the_floor_itself_is_accepted() {
        let err = CoolOffPolicy::default()
            .with(
                IdentifierKind::Alpha,
                QuarantineReason::Expired,
                COOL_OFF_FLOOR - Duration::seconds(1),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cool-off for ALPHA EXPIRED must be at least 86400 seconds, got 86399"
        );
        assert!(
            CoolOffPolicy::default()
                .with(
                    IdentifierKind::Alpha,
                    QuarantineReason::Expired,
                    COOL_OFF_FLOOR
                )
                .is_ok()
        );
    }

    #[test]
    fn quarantine_ends_one_cool_off_after_it_starts() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        let until = CoolOffPolicy::default().quarantine_until(
            IdentifierKind::Msisdn,
            QuarantineReason::Released,
            now,
        );
        assert_eq!(until, Utc.with_ymd_and_hms(2026, 8, 30, 0, 0, 0).unwrap());
    }

    #[test]
    fn lifecycle_defaults_match_the_specification() {
        let p = LifecyclePolicy::default();
        assert_eq!(p.reservation_ttl, Duration::minutes(15));
        assert_eq!(p.hold_ttl, Duration::hours(72));
        assert_eq!(p.lease_term, Duration::days(30));
        assert_eq!(p.cool_off, CoolOffPolicy::default());
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(p.reservation_expires_at(now) - now, Duration::minutes(15));
        assert_eq!(p.hold_expires_at(now) - now, Duration::hours(72));
        assert_eq!(p.lease_expires_at(now) - now, Duration::days(30));
    }

    #[test]
    fn durations_are_read_with_their_unit() {
        assert_eq!(parse_duration("90d"), Ok(Duration::days(90)));
        assert_eq!(parse_duration("72h"), Ok(Duration::hours(72)));
        assert_eq!(parse_duration("15m"), Ok(Duration::minutes(15)));
        assert_eq!(parse_duration("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_duration(" 1d "), Ok(Duration::days(1)));
        assert_eq!(parse_duration("0s"), Ok(Duration::zero()));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for bad in [
            "",
            "d",
            "90",
            "90x",
            "-5d",
            "+5d",
            "1.5h",
            "5 d",
            "90D",
            "1w",
            "9é",
            "99999999999999999d",
            "1d2h",
        ] {
            assert!(
                matches!(
                    parse_duration(bad),
                    Err(PolicyError::InvalidDuration { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "invalid duration \"soon\": expected a whole number followed by d, h, m or s, such as 90d"
        );
    }

    proptest! {
        #[test]
        fn durations_round_trip_through_every_unit(n in 0i64..1_000_000, unit_ix in 0usize..4) {
            let (unit, secs) = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)][unit_ix];
            prop_assert_eq!(parse_duration(&format!("{n}{unit}")), Ok(Duration::seconds(n * secs)));
        }

        #[test]
        fn arbitrary_duration_strings_never_panic(s in "\\PC{0,40}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn accepted_cool_offs_are_never_below_the_floor(secs in 0i64..10_000_000) {
            let d = Duration::seconds(secs);
            let result = CoolOffPolicy::default().with(IdentifierKind::Msisdn, QuarantineReason::Expired, d);
            prop_assert_eq!(result.is_ok(), d >= COOL_OFF_FLOOR);
            if let Ok(p) = result {
                prop_assert_eq!(p.cool_off(IdentifierKind::Msisdn, QuarantineReason::Expired), d);
            }
        }
    }
}
