//! Per-tenant quotas on identifiers, per kind.

use crate::identifier::IdentifierKind;

/// The most identifiers of each kind a tenant may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quotas {
    /// Limit on MSISDNs.
    pub msisdn: u32,
    /// Limit on short codes.
    pub short_code: u32,
    /// Limit on alphanumeric sender IDs.
    pub alpha: u32,
}

impl Quotas {
    /// The limit for `kind`.
    #[must_use]
    pub const fn for_kind(&self, kind: IdentifierKind) -> u32 {
        match kind {
            IdentifierKind::Msisdn => self.msisdn,
            IdentifierKind::ShortCode => self.short_code,
            IdentifierKind::Alpha => self.alpha,
        }
    }
}

/// How many identifiers of each kind a tenant holds now.
///
/// Each count is the tenant's live reservations plus holds plus active or
/// suspended leases of that kind. Expired reservations must not be counted
/// (see [`crate::lifecycle::effective_state`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// MSISDNs in use.
    pub msisdn: u32,
    /// Short codes in use.
    pub short_code: u32,
    /// Alphanumeric sender IDs in use.
    pub alpha: u32,
}

impl Usage {
    /// The count for `kind`.
    #[must_use]
    pub const fn for_kind(&self, kind: IdentifierKind) -> u32 {
        match kind {
            IdentifierKind::Msisdn => self.msisdn,
            IdentifierKind::ShortCode => self.short_code,
            IdentifierKind::Alpha => self.alpha,
        }
    }
}

/// A reservation refused because the tenant's quota for the kind is used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("quota for {kind} exhausted: {used} of {limit} in use")]
pub struct QuotaExceeded {
    /// The kind of identifier asked for.
    pub kind: IdentifierKind,
    /// The tenant's limit for that kind.
    pub limit: u32,
    /// How many the tenant holds already.
    pub used: u32,
}

/// Whether one more identifier of `kind` may be reserved.
///
/// With a limit of `n`, the reservation that would make the `n`-th is
/// allowed and the one that would make the `(n+1)`-th is refused. A usage
/// already above the limit (after the quota was lowered) refuses too.
///
/// # Errors
///
/// Returns [`QuotaExceeded`] when `usage` for `kind` has reached the quota.
pub fn check_reserve(
    kind: IdentifierKind,
    usage: &Usage,
    quotas: &Quotas,
) -> Result<(), QuotaExceeded> {
    let used = usage.for_kind(kind);
    let limit = quotas.for_kind(kind);
    if used < limit {
        Ok(())
    } else {
        Err(QuotaExceeded { kind, limit, used })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const QUOTAS: Quotas = Quotas {
        msisdn: 5,
        short_code: 1,
        alpha: 0,
    };

    #[test]
    fn the_last_unit_of_quota_can_be_reserved_but_not_one_more() {
        let four = Usage {
            msisdn: 4,
            ..Usage::default()
        };
        assert_eq!(
            check_reserve(IdentifierKind::Msisdn, &four, &QUOTAS),
            Ok(())
        );
        let five = Usage {
            msisdn: 5,
            ..Usage::default()
        };
        let err = check_reserve(IdentifierKind::Msisdn, &five, &QUOTAS).unwrap_err();
        assert_eq!(
            err,
            QuotaExceeded {
                kind: IdentifierKind::Msisdn,
                limit: 5,
                used: 5
            }
        );
        assert_eq!(err.to_string(), "quota for MSISDN exhausted: 5 of 5 in use");
    }

    #[test]
    fn kinds_are_counted_separately() {
        let usage = Usage {
            msisdn: 5,
            short_code: 0,
            alpha: 0,
        };
        assert!(check_reserve(IdentifierKind::ShortCode, &usage, &QUOTAS).is_ok());
        assert!(check_reserve(IdentifierKind::Alpha, &usage, &QUOTAS).is_err());
    }

    #[test]
    fn usage_above_a_lowered_quota_is_refused() {
        let usage = Usage {
            short_code: 3,
            ..Usage::default()
        };
        assert_eq!(
            check_reserve(IdentifierKind::ShortCode, &usage, &QUOTAS)
                .unwrap_err()
                .to_string(),
            "quota for SHORT_CODE exhausted: 3 of 1 in use"
        );
    }

    proptest! {
        #[test]
        fn reserving_one_at_a_time_stops_exactly_at_the_quota(limit in 0u32..50, kind_ix in 0usize..3) {
            let kind = IdentifierKind::ALL[kind_ix];
            let quotas = Quotas { msisdn: limit, short_code: limit, alpha: limit };
            let mut usage = Usage::default();
            let mut granted = 0;
            while check_reserve(kind, &usage, &quotas).is_ok() {
                granted += 1;
                match kind {
                    IdentifierKind::Msisdn => usage.msisdn += 1,
                    IdentifierKind::ShortCode => usage.short_code += 1,
                    IdentifierKind::Alpha => usage.alpha += 1,
                }
                prop_assert!(granted <= limit);
            }
            prop_assert_eq!(granted, limit);
        }
    }
}
