//! The hot-path question: may this tenant send from this identifier right now?
//!
//! [`validate`] is a pure function of what the caller read (from a cache or
//! the database) and the time. It fails closed: only [`ValidationReason::Ok`]
//! allows sending. Callers that cannot read the identifier's row at all must
//! not call it; they answer "unavailable", never "allowed".
//!
//! An identifier or tenant id that does not parse is answered with
//! [`Verdict::not_registered`]: nothing unparseable can be leased.

use chrono::{DateTime, Utc};

use crate::ids::{LeaseId, TenantId};
use crate::lifecycle::{NumberState, effective_state};

/// The reason code of a validation answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidationReason {
    /// Assigned to this tenant, lease active: sending is allowed.
    Ok,
    /// Leased (assigned or suspended) to another tenant.
    WrongTenant,
    /// Leased to this tenant, but the lease is suspended.
    LeaseSuspended,
    /// In quarantine (or its lease term has ended, which leads there).
    QuarantineActive,
    /// Unknown, not leased (available, reserved, held), retired, or unparseable.
    NotRegistered,
}

impl ValidationReason {
    /// Every reason.
    pub const ALL: [ValidationReason; 5] = [
        Self::Ok,
        Self::WrongTenant,
        Self::LeaseSuspended,
        Self::QuarantineActive,
        Self::NotRegistered,
    ];

    /// The stable wire name, e.g. `WRONG_TENANT`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::WrongTenant => "WRONG_TENANT",
            Self::LeaseSuspended => "LEASE_SUSPENDED",
            Self::QuarantineActive => "QUARANTINE_ACTIVE",
            Self::NotRegistered => "NOT_REGISTERED",
        }
    }
}

impl std::fmt::Display for ValidationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the read path knows about one identifier.
///
/// `tenant_id`, `lease_id` and `lease_expires_at` describe the current lease
/// (when `ASSIGNED` or `SUSPENDED`) or the reserving tenant (when `RESERVED`
/// or `HELD`). `version` is the row version, used to keep caches monotonic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSnapshot {
    /// The stored state.
    pub state: NumberState,
    /// The tenant holding the reservation or lease, if any.
    pub tenant_id: Option<TenantId>,
    /// The current lease, if any.
    pub lease_id: Option<LeaseId>,
    /// The end of the current lease term, if any.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The deadline of the current reservation or hold, if any.
    pub reserved_until: Option<DateTime<Utc>>,
    /// The row version.
    pub version: i64,
    /// Set when the identifier asked about was renumbered and this is its
    /// new number's snapshot, read through the link during the
    /// parallel-running window: the end of that window. From then on the
    /// old identifier is not registered, whatever a cache still holds.
    pub link_until: Option<DateTime<Utc>>,
}

impl NumberSnapshot {
    /// The state at `now`: an expired reservation reads as `AVAILABLE`
    /// (see [`effective_state`]).
    ///
    /// A lease whose term has passed still reads as `ASSIGNED`: ending a
    /// lease is the lifecycle's decision (renewal, billing's answer, the
    /// grace period while billing is unreachable), taken by the expiry job
    /// and recorded in the audit trail, never guessed on the read path.
    #[must_use]
    pub fn effective_state(&self, now: DateTime<Utc>) -> NumberState {
        effective_state(self.state, self.reserved_until, now)
    }
}

/// The answer to "may this tenant send from this identifier now?".
///
/// Invariant: `allowed` is true exactly when `reason` is
/// [`ValidationReason::Ok`]; the lease fields are set only then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether sending is allowed.
    pub allowed: bool,
    /// Why.
    pub reason: ValidationReason,
    /// The lease that allows it (only when allowed).
    pub lease_id: Option<LeaseId>,
    /// When that lease's term ends (only when allowed).
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl Verdict {
    /// A refusal with the given reason and no lease details.
    ///
    /// Passing [`ValidationReason::Ok`] still yields `allowed = false`: only
    /// [`validate`] grants.
    #[must_use]
    pub const fn denied(reason: ValidationReason) -> Verdict {
        Verdict {
            allowed: false,
            reason,
            lease_id: None,
            lease_expires_at: None,
        }
    }

    /// The answer for an unknown identifier, and for an identifier or tenant
    /// id that does not parse.
    #[must_use]
    pub const fn not_registered() -> Verdict {
        Self::denied(ValidationReason::NotRegistered)
    }
}

/// Decides whether `tenant` may send from the identifier described by `snapshot` at `now`.
///
/// `snapshot` is `None` when the identifier is not in the inventory. The
/// state is first made effective at `now` ([`NumberSnapshot::effective_state`]), then:
///
/// | effective state | tenant | reason |
/// |---|---|---|
/// | `ASSIGNED` | this tenant | `OK` (allowed, with the lease id and expiry) |
/// | `ASSIGNED` or `SUSPENDED` | another tenant (or none recorded) | `WRONG_TENANT` |
/// | `SUSPENDED` | this tenant | `LEASE_SUSPENDED` |
/// | `QUARANTINED` | anyone | `QUARANTINE_ACTIVE` |
/// | `AVAILABLE`, `RESERVED`, `HELD`, `RETIRED`, or no snapshot | anyone | `NOT_REGISTERED` |
///
/// A snapshot read through a renumbering's link (`link_until` set) answers
/// as above until `link_until`, and `NOT_REGISTERED` from then on.
#[must_use]
pub fn validate(
    snapshot: Option<&NumberSnapshot>,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(snapshot) = snapshot else {
        return Verdict::not_registered();
    };
    if snapshot.link_until.is_some_and(|until| now >= until) {
        return Verdict::not_registered();
    }
    let same_tenant = snapshot.tenant_id.as_ref() == Some(tenant);
    match snapshot.effective_state(now) {
        NumberState::Assigned if same_tenant => Verdict {
            allowed: true,
            reason: ValidationReason::Ok,
            lease_id: snapshot.lease_id,
            lease_expires_at: snapshot.lease_expires_at,
        },
        NumberState::Suspended if same_tenant => Verdict::denied(ValidationReason::LeaseSuspended),
        NumberState::Assigned | NumberState::Suspended => {
            Verdict::denied(ValidationReason::WrongTenant)
        }
        NumberState::Quarantined => Verdict::denied(ValidationReason::QuarantineActive),
        NumberState::Available
        | NumberState::Reserved
        | NumberState::Held
        | NumberState::Retired => Verdict::not_registered(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 15, 10, 0, 0).unwrap()
    }

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn globex() -> TenantId {
        TenantId::parse("globex").unwrap()
    }

    fn leased(state: NumberState, tenant: &TenantId) -> NumberSnapshot {
        NumberSnapshot {
            state,
            tenant_id: Some(tenant.clone()),
            lease_id: Some(LeaseId::new()),
            lease_expires_at: Some(now() + Duration::days(30)),
            reserved_until: None,
            version: 3,
            link_until: None,
        }
    }

    #[test]
    fn a_renumbered_identifier_answers_as_its_new_number_until_the_window_ends() {
        let mut s = leased(NumberState::Assigned, &acme());
        s.link_until = Some(now() + Duration::seconds(1));
        assert_eq!(
            validate(Some(&s), &acme(), now()).reason,
            ValidationReason::Ok
        );
        let after = now() + Duration::seconds(1);
        assert_eq!(
            validate(Some(&s), &acme(), after),
            Verdict::not_registered()
        );
    }

    #[test]
    fn the_lease_holder_is_allowed_and_told_its_lease() {
        let snap = leased(NumberState::Assigned, &acme());
        let verdict = validate(Some(&snap), &acme(), now());
        assert!(verdict.allowed);
        assert_eq!(verdict.reason, ValidationReason::Ok);
        assert_eq!(verdict.lease_id, snap.lease_id);
        assert_eq!(verdict.lease_expires_at, snap.lease_expires_at);
    }

    #[test]
    fn another_tenant_is_refused_whether_the_lease_is_active_or_suspended() {
        for state in [NumberState::Assigned, NumberState::Suspended] {
            let verdict = validate(Some(&leased(state, &acme())), &globex(), now());
            assert_eq!(verdict, Verdict::denied(ValidationReason::WrongTenant));
        }
    }

    #[test]
    fn a_suspended_lease_holder_is_told_so() {
        let verdict = validate(
            Some(&leased(NumberState::Suspended, &acme())),
            &acme(),
            now(),
        );
        assert_eq!(verdict, Verdict::denied(ValidationReason::LeaseSuspended));
    }

    #[test]
    fn quarantine_refuses_even_the_previous_tenant() {
        let verdict = validate(
            Some(&leased(NumberState::Quarantined, &acme())),
            &acme(),
            now(),
        );
        assert_eq!(verdict, Verdict::denied(ValidationReason::QuarantineActive));
    }

    #[test]
    fn unleased_retired_and_unknown_identifiers_are_not_registered() {
        assert_eq!(validate(None, &acme(), now()), Verdict::not_registered());
        for state in [
            NumberState::Available,
            NumberState::Reserved,
            NumberState::Held,
            NumberState::Retired,
        ] {
            let verdict = validate(Some(&leased(state, &acme())), &acme(), now());
            assert_eq!(verdict, Verdict::not_registered(), "{state}");
        }
    }

    #[test]
    fn a_lease_past_its_term_allows_sending_until_the_lifecycle_ends_it() {
        let mut snap = leased(NumberState::Assigned, &acme());
        snap.lease_expires_at = Some(now() - Duration::seconds(1));
        assert!(validate(Some(&snap), &acme(), now()).allowed);
        snap.state = NumberState::Quarantined;
        let verdict = validate(Some(&snap), &acme(), now());
        assert_eq!(verdict, Verdict::denied(ValidationReason::QuarantineActive));
    }

    #[test]
    fn an_assigned_row_without_a_tenant_allows_nobody() {
        let mut snap = leased(NumberState::Assigned, &acme());
        snap.tenant_id = None;
        assert_eq!(
            validate(Some(&snap), &acme(), now()),
            Verdict::denied(ValidationReason::WrongTenant)
        );
    }

    #[test]
    fn reason_names_are_the_wire_names() {
        let names: Vec<_> = ValidationReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "OK",
                "WRONG_TENANT",
                "LEASE_SUSPENDED",
                "QUARANTINE_ACTIVE",
                "NOT_REGISTERED"
            ]
        );
    }

    fn any_snapshot() -> impl Strategy<Value = Option<NumberSnapshot>> {
        let tenant = prop_oneof![Just(None), Just(Some(acme())), Just(Some(globex()))];
        let offset = proptest::option::of(-1_000i64..1_000);
        proptest::option::of(
            (
                proptest::sample::select(NumberState::ALL.to_vec()),
                tenant,
                any::<bool>(),
                offset.clone(),
                offset,
                any::<i64>(),
            )
                .prop_map(
                    |(state, tenant_id, has_lease, lease_end, reserved, version)| NumberSnapshot {
                        state,
                        tenant_id,
                        lease_id: has_lease.then(LeaseId::new),
                        lease_expires_at: lease_end.map(|s| now() + Duration::seconds(s)),
                        reserved_until: reserved.map(|s| now() + Duration::seconds(s)),
                        version,
                        link_until: None,
                    },
                ),
        )
    }

    proptest! {
        #[test]
        fn only_ok_ever_allows_sending(snap in any_snapshot(), ask_acme: bool) {
            let tenant = if ask_acme { acme() } else { globex() };
            let verdict = validate(snap.as_ref(), &tenant, now());
            prop_assert_eq!(verdict.allowed, verdict.reason == ValidationReason::Ok);
            if verdict.allowed {
                let snap = snap.unwrap();
                prop_assert_eq!(snap.state, NumberState::Assigned);
                prop_assert_eq!(snap.tenant_id.as_ref(), Some(&tenant));
            } else {
                prop_assert_eq!(verdict.lease_id, None);
                prop_assert_eq!(verdict.lease_expires_at, None);
            }
        }
    }
}
