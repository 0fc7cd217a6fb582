//! The Afghan mobile operators seeded on day one.
//!
//! The database's `mobile_operators` rows are authoritative at run time; this
//! table is the seed data and the default resolution used where no database is
//! at hand (tests, dry runs, the seed migration's source of truth).

use crate::identifier::{Identifier, IdentifierKind};

/// Mobile country code of Afghanistan.
pub const AFGHANISTAN_MCC: &str = "412";

/// A mobile network operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    /// Stable identifier (`roshan`, `etisalat-af`, …).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Mobile country code.
    pub mcc: &'static str,
    /// Mobile network codes; the first is the primary one.
    pub mncs: &'static [&'static str],
    /// Two-digit national number prefixes (after `+93`) allocated to this operator.
    pub msisdn_prefixes: &'static [&'static str],
}

impl Operator {
    /// The primary mobile network code.
    #[must_use]
    pub fn primary_mnc(&self) -> &'static str {
        self.mncs.first().copied().unwrap_or_default()
    }
}

/// The operators seeded on day one (MCC 412). No MNC or prefix appears twice.
pub const OPERATORS: &[Operator] = &[
    Operator {
        id: "roshan",
        name: "Roshan",
        mcc: AFGHANISTAN_MCC,
        mncs: &["40"],
        msisdn_prefixes: &["79", "72"],
    },
    Operator {
        id: "etisalat-af",
        name: "Etisalat-AF",
        mcc: AFGHANISTAN_MCC,
        mncs: &["50"],
        msisdn_prefixes: &["78", "73"],
    },
    Operator {
        id: "mtn-af",
        name: "MTN-AF",
        mcc: AFGHANISTAN_MCC,
        mncs: &["01", "20"],
        msisdn_prefixes: &["77", "76"],
    },
    Operator {
        id: "awcc",
        name: "AWCC",
        mcc: AFGHANISTAN_MCC,
        mncs: &["03"],
        msisdn_prefixes: &["70", "71"],
    },
    Operator {
        id: "salaam",
        name: "Salaam",
        mcc: AFGHANISTAN_MCC,
        mncs: &["88"],
        msisdn_prefixes: &["74"],
    },
];

/// The operator with this exact id, if any.
#[must_use]
pub fn operator_by_id(id: &str) -> Option<&'static Operator> {
    OPERATORS.iter().find(|op| op.id == id)
}

/// The operator whose number range holds this MSISDN, judged by the first
/// two digits of its national number.
///
/// Returns `None` for short codes, alphanumeric IDs and unallocated prefixes.
#[must_use]
pub fn operator_for_msisdn(identifier: &Identifier) -> Option<&'static Operator> {
    if identifier.kind() != IdentifierKind::Msisdn {
        return None;
    }
    let prefix = identifier.national_number()?.get(..2)?;
    OPERATORS
        .iter()
        .find(|op| op.msisdn_prefixes.contains(&prefix))
}

/// The operator with this MCC and MNC, if any.
#[must_use]
pub fn operator_by_mcc_mnc(mcc: &str, mnc: &str) -> Option<&'static Operator> {
    OPERATORS
        .iter()
        .find(|op| op.mcc == mcc && op.mncs.contains(&mnc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn msisdn(s: &str) -> Identifier {
        Identifier::parse(s).unwrap()
    }

    #[test]
    fn msisdns_resolve_to_their_operator_by_prefix() {
        let cases = [
            ("+93791234567", "roshan"),
            ("0721234567", "roshan"),
            ("+93781234567", "etisalat-af"),
            ("+93731234567", "etisalat-af"),
            ("+93771234567", "mtn-af"),
            ("+93761234567", "mtn-af"),
            ("+93701234567", "awcc"),
            ("+93711234567", "awcc"),
            ("+93741234567", "salaam"),
        ];
        for (number, operator) in cases {
            assert_eq!(
                operator_for_msisdn(&msisdn(number)).map(|op| op.id),
                Some(operator),
                "{number}"
            );
        }
    }

    #[test]
    fn unallocated_prefixes_and_other_kinds_have_no_operator() {
        assert_eq!(operator_for_msisdn(&msisdn("+93751234567")), None);
        assert_eq!(operator_for_msisdn(&msisdn("4455")), None);
        assert_eq!(operator_for_msisdn(&msisdn("AcmeBank")), None);
    }

    #[test]
    fn operators_are_found_by_id_and_by_mcc_mnc() {
        assert_eq!(operator_by_id("mtn-af").map(|op| op.name), Some("MTN-AF"));
        assert_eq!(operator_by_id("MTN-AF"), None);
        assert_eq!(
            operator_by_mcc_mnc("412", "01").map(|op| op.id),
            Some("mtn-af")
        );
        assert_eq!(
            operator_by_mcc_mnc("412", "20").map(|op| op.id),
            Some("mtn-af")
        );
        assert_eq!(
            operator_by_mcc_mnc("412", "88").map(|op| op.id),
            Some("salaam")
        );
        assert_eq!(operator_by_mcc_mnc("413", "40"), None);
        assert_eq!(operator_by_mcc_mnc("412", "99"), None);
    }

    #[test]
    fn no_mnc_or_prefix_belongs_to_two_operators() {
        let mut mncs = HashSet::new();
        let mut prefixes = HashSet::new();
        let mut ids = HashSet::new();
        for op in OPERATORS {
            assert!(ids.insert(op.id));
            assert_eq!(op.mcc, "412");
            for mnc in op.mncs {
                assert!(mncs.insert(*mnc), "{mnc}");
            }
            for p in op.msisdn_prefixes {
                assert!(p.len() == 2 && p.starts_with('7'), "{p}");
                assert!(prefixes.insert(*p), "{p}");
            }
        }
        assert_eq!(OPERATORS.len(), 5);
        assert_eq!(operator_by_id("mtn-af").unwrap().primary_mnc(), "01");
    }
}
