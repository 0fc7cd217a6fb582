//! Quotas on identifiers, per kind: the tenant's pool, and optionally one
//! of its accounts inside it (a sub-quota). An account's usage counts in
//! the tenant's too, and both limits hold.

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

/// Whose limit a quota refusal hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaScope {
    /// The tenant's pool as a whole.
    Tenant,
    /// One account's sub-quota inside the pool.
    Account,
}

impl QuotaScope {
    /// `tenant` or `account`: the wire name (problem+json `scope`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            QuotaScope::Tenant => "tenant",
            QuotaScope::Account => "account",
        }
    }
}

/// A reservation refused because a quota for the kind is used up: the
/// tenant's, or the account's it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{prefix}quota for {kind} exhausted: {used} of {limit} in use", prefix = prefix(*.scope))]
pub struct QuotaExceeded {
    /// The kind of identifier asked for.
    pub kind: IdentifierKind,
    /// The limit for that kind.
    pub limit: u32,
    /// How many are held already, in that scope.
    pub used: u32,
    /// Whose limit it is.
    pub scope: QuotaScope,
}

/// How a refusal's message starts: the tenant's quota is "the" quota.
const fn prefix(scope: QuotaScope) -> &'static str {
    match scope {
        QuotaScope::Tenant => "",
        QuotaScope::Account => "account ",
    }
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
        Err(QuotaExceeded {
            kind,
            limit,
            used,
            scope: QuotaScope::Tenant,
        })
    }
}

/// Whether one more identifier of `kind` may be reserved for an account:
/// the tenant's quota first (its usage includes every account's), then,
/// when the reservation is for an account, that account's. Both must have
/// room; the tenant's refusal is reported when both are full.
///
/// # Errors
///
/// Returns [`QuotaExceeded`] with the scope whose limit was reached.
pub fn check_reserve_scoped(
    kind: IdentifierKind,
    tenant: (&Usage, &Quotas),
    account: Option<(&Usage, &Quotas)>,
) -> Result<(), QuotaExceeded> {
    check_reserve(kind, tenant.0, tenant.1)?;
    match account {
        Some((usage, quotas)) => check_reserve(kind, usage, quotas).map_err(|e| QuotaExceeded {
            scope: QuotaScope::Account,
            ..e
        }),
        None => Ok(()),
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
                used: 5,
                scope: QuotaScope::Tenant,
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

    #[test]
    fn an_account_needs_room_in_its_own_quota_and_in_the_tenants() {
        let tenant_quotas = Quotas {
            msisdn: 100,
            ..QUOTAS
        };
        let account_quotas = Quotas {
            msisdn: 10,
            ..QUOTAS
        };
        let tenant_usage = Usage {
            msisdn: 50,
            ..Usage::default()
        };
        let account_full = Usage {
            msisdn: 10,
            ..Usage::default()
        };
        let err = check_reserve_scoped(
            IdentifierKind::Msisdn,
            (&tenant_usage, &tenant_quotas),
            Some((&account_full, &account_quotas)),
        )
        .unwrap_err();
        assert_eq!(
            (err.scope, err.limit, err.used),
            (QuotaScope::Account, 10, 10)
        );
        assert_eq!(
            err.to_string(),
            "account quota for MSISDN exhausted: 10 of 10 in use"
        );
        let tenant_full = Usage {
            msisdn: 100,
            ..Usage::default()
        };
        let room = Usage {
            msisdn: 3,
            ..Usage::default()
        };
        let err = check_reserve_scoped(
            IdentifierKind::Msisdn,
            (&tenant_full, &tenant_quotas),
            Some((&room, &account_quotas)),
        )
        .unwrap_err();
        assert_eq!(err.scope, QuotaScope::Tenant);
        assert!(
            check_reserve_scoped(
                IdentifierKind::Msisdn,
                (&tenant_usage, &tenant_quotas),
                Some((&room, &account_quotas)),
            )
            .is_ok()
        );
        assert!(
            check_reserve_scoped(
                IdentifierKind::Msisdn,
                (&tenant_usage, &tenant_quotas),
                None
            )
            .is_ok()
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
