//! Bulk renumbering: an operator moves a block of MSISDNs from one prefix
//! to another (`+9379…` becomes `+9377…`) at a cutover, optionally with a
//! parallel-running window during which the old identifiers still answer.
//!
//! [`RenumberingPlan::new`] accepts only a plan the rest of the service
//! can carry out: two MSISDN prefixes of the same length (a number keeps
//! its length), different, each `+937` and at most seven more digits, and
//! a window that ends after the cutover.

use chrono::{DateTime, Utc};

/// The longest prefix: `+937` and seven digits (one digit is left to carry over).
const MAX_PREFIX_LEN: usize = 11;

/// A block move, as an admin plans it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenumberingPlan {
    operator_id: String,
    old_prefix: String,
    new_prefix: String,
    cutover_at: DateTime<Utc>,
    parallel_until: Option<DateTime<Utc>>,
}

/// Why a plan is refused, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{field} must be +937 followed by at most 7 digits")]
    Prefix { field: &'static str },
    #[error("old_prefix and new_prefix must differ and have the same length")]
    Prefixes,
    #[error("operator_id must be a known operator id")]
    Operator,
    #[error("parallel_until must be after cutover_at")]
    Window,
}

impl PlanError {
    /// The request field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            PlanError::Prefix { field } => field,
            PlanError::Prefixes => "new_prefix",
            PlanError::Operator => "operator_id",
            PlanError::Window => "parallel_until",
        }
    }
}

fn is_prefix(p: &str) -> bool {
    p.len() <= MAX_PREFIX_LEN
        && p.strip_prefix("+937")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

fn is_operator_id(id: &str) -> bool {
    (2..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl RenumberingPlan {
    pub fn new(
        operator_id: &str,
        old_prefix: &str,
        new_prefix: &str,
        cutover_at: DateTime<Utc>,
        parallel_until: Option<DateTime<Utc>>,
    ) -> Result<Self, PlanError> {
        if !is_operator_id(operator_id) {
            return Err(PlanError::Operator);
        }
        if !is_prefix(old_prefix) {
            return Err(PlanError::Prefix {
                field: "old_prefix",
            });
        }
        if !is_prefix(new_prefix) {
            return Err(PlanError::Prefix {
                field: "new_prefix",
            });
        }
        if old_prefix == new_prefix || old_prefix.len() != new_prefix.len() {
            return Err(PlanError::Prefixes);
        }
        if parallel_until.is_some_and(|u| u <= cutover_at) {
            return Err(PlanError::Window);
        }
        Ok(Self {
            operator_id: operator_id.to_owned(),
            old_prefix: old_prefix.to_owned(),
            new_prefix: new_prefix.to_owned(),
            cutover_at,
            parallel_until,
        })
    }

    pub fn operator_id(&self) -> &str {
        &self.operator_id
    }
    pub fn old_prefix(&self) -> &str {
        &self.old_prefix
    }
    pub fn new_prefix(&self) -> &str {
        &self.new_prefix
    }
    pub fn cutover_at(&self) -> DateTime<Utc> {
        self.cutover_at
    }
    pub fn parallel_until(&self) -> Option<DateTime<Utc>> {
        self.parallel_until
    }

    /// The identifier `old` becomes, if it is in the block.
    #[must_use]
    pub fn renumbered(&self, old: &str) -> Option<String> {
        old.strip_prefix(self.old_prefix.as_str())
            .map(|rest| format!("{}{rest}", self.new_prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_block_move_keeps_the_rest_of_each_number() {
        let p = RenumberingPlan::new("roshan", "+9379", "+9377", at(), None).unwrap();
        assert_eq!(
            p.renumbered("+93791234567").as_deref(),
            Some("+93771234567")
        );
        assert_eq!(p.renumbered("+93781234567"), None);
    }

    #[test]
    fn prefixes_of_different_lengths_or_equal_ones_are_refused() {
        for (old, new) in [("+9379", "+93771"), ("+9379", "+9379")] {
            assert_eq!(
                RenumberingPlan::new("roshan", old, new, at(), None),
                Err(PlanError::Prefixes)
            );
        }
    }

    #[test]
    fn a_prefix_outside_the_msisdn_range_is_refused() {
        for bad in ["9379", "+9389", "+937123456789", "+937a", ""] {
            let e = RenumberingPlan::new("roshan", bad, "+9377", at(), None).unwrap_err();
            assert_eq!(e.field(), "old_prefix", "{bad}");
        }
    }

    #[test]
    fn a_window_must_end_after_the_cutover() {
        let e = RenumberingPlan::new("roshan", "+9379", "+9377", at(), Some(at())).unwrap_err();
        assert_eq!(e, PlanError::Window);
        assert!(
            RenumberingPlan::new(
                "roshan",
                "+9379",
                "+9377",
                at(),
                Some(at() + Duration::days(7))
            )
            .is_ok()
        );
    }

    #[test]
    fn an_operator_id_must_look_like_one() {
        let e = RenumberingPlan::new("Roshan!", "+9379", "+9377", at(), None).unwrap_err();
        assert_eq!(e, PlanError::Operator);
    }
}
