//! The identifier lifecycle: states, transitions, and who may perform them.
//!
//! The whole state machine is the [`RULES`] table; every function here reads
//! it, so the table in the specification and the code cannot drift apart
//! (an exhaustive test compares them). Any pair the table does not list is an
//! invalid transition: it changes nothing and must be reported as such.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::identifier::truncate_for_error;

/// The state of an identifier in the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberState {
    /// In inventory, free to reserve.
    Available,
    /// Reserved by a tenant for a short time (default 15 minutes).
    Reserved,
    /// A reservation extended to a hold (default 72 hours).
    Held,
    /// Leased to a tenant, who may send from it.
    Assigned,
    /// Leased, but sending is blocked (delinquency or admin action).
    Suspended,
    /// Cooling off after a lease ended; nobody may reserve it.
    Quarantined,
    /// Removed from inventory for good.
    Retired,
}

impl NumberState {
    /// Every state, in lifecycle order.
    pub const ALL: [NumberState; 7] = [
        Self::Available,
        Self::Reserved,
        Self::Held,
        Self::Assigned,
        Self::Suspended,
        Self::Quarantined,
        Self::Retired,
    ];

    /// The stable wire and database name, e.g. `AVAILABLE`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "AVAILABLE",
            Self::Reserved => "RESERVED",
            Self::Held => "HELD",
            Self::Assigned => "ASSIGNED",
            Self::Suspended => "SUSPENDED",
            Self::Quarantined => "QUARANTINED",
            Self::Retired => "RETIRED",
        }
    }

    /// Whether this is a live reservation (`RESERVED` or `HELD`).
    #[must_use]
    pub const fn is_reservation(self) -> bool {
        matches!(self, Self::Reserved | Self::Held)
    }

    /// Whether a lease exists in this state (`ASSIGNED` or `SUSPENDED`).
    #[must_use]
    pub const fn is_leased(self) -> bool {
        matches!(self, Self::Assigned | Self::Suspended)
    }
}

impl fmt::Display for NumberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the enum's stable names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {input:?}")]
pub struct UnknownName {
    /// What was being parsed (`number state`, `transition`, …).
    pub what: &'static str,
    /// The input (truncated).
    pub input: String,
}

impl UnknownName {
    pub(crate) fn new(what: &'static str, input: &str) -> Self {
        Self {
            what,
            input: truncate_for_error(input),
        }
    }
}

impl FromStr for NumberState {
    type Err = UnknownName;

    /// Accepts the names returned by [`NumberState::as_str`], in any ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("number state", s))
    }
}

/// A lifecycle transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transition {
    /// AVAILABLE → RESERVED.
    Reserve,
    /// RESERVED → HELD.
    Hold,
    /// RESERVED | HELD → AVAILABLE, on request.
    Cancel,
    /// RESERVED | HELD → AVAILABLE, when the TTL has passed.
    ExpireReservation,
    /// RESERVED | HELD → ASSIGNED (a lease is created).
    Assign,
    /// ASSIGNED → ASSIGNED (the lease term is extended).
    Renew,
    /// ASSIGNED → QUARANTINED, when the term ended without renewal.
    ExpireLease,
    /// ASSIGNED → QUARANTINED, on the tenant's request.
    Release,
    /// ASSIGNED → SUSPENDED.
    Suspend,
    /// SUSPENDED → ASSIGNED.
    Reinstate,
    /// ASSIGNED | SUSPENDED → QUARANTINED, taken back by the platform.
    Recall,
    /// QUARANTINED → AVAILABLE, when the cool-off ends.
    EndQuarantine,
    /// QUARANTINED → AVAILABLE before the cool-off ends (admin, with justification).
    OverrideQuarantine,
    /// AVAILABLE | QUARANTINED → RETIRED.
    Retire,
}

impl Transition {
    /// Every transition, in table order.
    pub const ALL: [Transition; 14] = [
        Self::Reserve,
        Self::Hold,
        Self::Cancel,
        Self::ExpireReservation,
        Self::Assign,
        Self::Renew,
        Self::ExpireLease,
        Self::Release,
        Self::Suspend,
        Self::Reinstate,
        Self::Recall,
        Self::EndQuarantine,
        Self::OverrideQuarantine,
        Self::Retire,
    ];

    /// The stable `snake_case` name, e.g. `expire_reservation`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Hold => "hold",
            Self::Cancel => "cancel",
            Self::ExpireReservation => "expire_reservation",
            Self::Assign => "assign",
            Self::Renew => "renew",
            Self::ExpireLease => "expire_lease",
            Self::Release => "release",
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Recall => "recall",
            Self::EndQuarantine => "end_quarantine",
            Self::OverrideQuarantine => "override_quarantine",
            Self::Retire => "retire",
        }
    }

    /// The event type published when this transition happens.
    #[must_use]
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Reserve => "number.reserved.v1",
            Self::Hold => "number.held.v1",
            Self::Cancel => "number.reservation_cancelled.v1",
            Self::ExpireReservation => "number.reservation_expired.v1",
            Self::Assign => "number.assigned.v1",
            Self::Renew => "number.renewed.v1",
            Self::ExpireLease => "number.expired.v1",
            Self::Release => "number.released.v1",
            Self::Suspend => "number.suspended.v1",
            Self::Reinstate => "number.reinstated.v1",
            Self::Recall => "number.recalled.v1",
            Self::EndQuarantine => "number.quarantine.ended.v1",
            Self::OverrideQuarantine => "number.quarantine.overridden.v1",
            Self::Retire => "number.retired.v1",
        }
    }

    /// Why an identifier entering quarantine through this transition is
    /// quarantined; `None` for transitions that do not lead to quarantine.
    #[must_use]
    pub const fn quarantine_reason(self) -> Option<QuarantineReason> {
        match self {
            Self::Release => Some(QuarantineReason::Released),
            Self::Recall => Some(QuarantineReason::Recalled),
            Self::ExpireLease => Some(QuarantineReason::Expired),
            _ => None,
        }
    }

    /// This transition's row in [`RULES`].
    #[must_use]
    pub fn rule(self) -> &'static Rule {
        // RULES is in declaration order, one row per transition (checked by a test).
        &RULES[self as usize]
    }

    /// The states this transition may start from.
    #[must_use]
    pub fn sources(self) -> &'static [NumberState] {
        self.rule().from
    }

    /// The state this transition leads to.
    #[must_use]
    pub fn target(self) -> NumberState {
        self.rule().to
    }

    /// The actors allowed to perform this transition.
    #[must_use]
    pub fn permitted_actors(self) -> &'static [ActorKind] {
        self.rule().actors
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transition {
    type Err = UnknownName;

    /// Accepts exactly the names returned by [`Transition::as_str`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("transition", s))
    }
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActorKind {
    /// A tenant, through the portal.
    Tenant,
    /// The service itself: sweepers, schedulers, consumers of other services' events.
    System,
    /// A platform admin.
    Admin,
}

impl ActorKind {
    /// Every actor kind.
    pub const ALL: [ActorKind; 3] = [Self::Tenant, Self::System, Self::Admin];

    /// The stable name: `TENANT`, `SYSTEM` or `ADMIN`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "TENANT",
            Self::System => "SYSTEM",
            Self::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActorKind {
    type Err = UnknownName;

    /// Accepts the names returned by [`ActorKind::as_str`], in any ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("actor kind", s))
    }
}

/// Why an identifier is in quarantine; the cool-off depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuarantineReason {
    /// The tenant released the lease.
    Released,
    /// The platform recalled the lease.
    Recalled,
    /// The lease term ended without renewal.
    Expired,
}

impl QuarantineReason {
    /// Every reason.
    pub const ALL: [QuarantineReason; 3] = [Self::Released, Self::Recalled, Self::Expired];

    /// The stable name: `RELEASED`, `RECALLED` or `EXPIRED`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Released => "RELEASED",
            Self::Recalled => "RECALLED",
            Self::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QuarantineReason {
    type Err = UnknownName;

    /// Accepts the names returned by [`QuarantineReason::as_str`], in any ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("quarantine reason", s))
    }
}

/// One row of the lifecycle table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The transition.
    pub transition: Transition,
    /// The states it may start from.
    pub from: &'static [NumberState],
    /// The state it leads to.
    pub to: NumberState,
    /// Who may perform it.
    pub actors: &'static [ActorKind],
}

use ActorKind::{Admin, System, Tenant};
use NumberState::{Assigned, Available, Held, Quarantined, Reserved, Retired, Suspended};

/// The lifecycle table, one row per transition, exactly as specified.
pub const RULES: [Rule; 14] = [
    // Admin too: an admin acts for a tenant (the portal's rollback path)
    rule(
        Transition::Reserve,
        &[Available],
        Reserved,
        &[Tenant, Admin],
    ),
    rule(Transition::Hold, &[Reserved], Held, &[Tenant]),
    // System and admin too: a compliance suspension cancels the tenant's reservations.
    rule(
        Transition::Cancel,
        &[Reserved, Held],
        Available,
        &[Tenant, System, Admin],
    ),
    rule(
        Transition::ExpireReservation,
        &[Reserved, Held],
        Available,
        &[System],
    ),
    // Admin too: legacy seeding, and an admin acting for a tenant.
    rule(
        Transition::Assign,
        &[Reserved, Held],
        Assigned,
        &[Tenant, Admin],
    ),
    rule(Transition::Renew, &[Assigned], Assigned, &[System]),
    rule(Transition::ExpireLease, &[Assigned], Quarantined, &[System]),
    rule(
        Transition::Release,
        &[Assigned],
        Quarantined,
        &[Tenant, Admin],
    ),
    rule(
        Transition::Suspend,
        &[Assigned],
        Suspended,
        &[System, Admin],
    ),
    rule(
        Transition::Reinstate,
        &[Suspended],
        Assigned,
        &[System, Admin],
    ),
    rule(
        Transition::Recall,
        &[Assigned, Suspended],
        Quarantined,
        &[System, Admin],
    ),
    rule(
        Transition::EndQuarantine,
        &[Quarantined],
        Available,
        &[System],
    ),
    rule(
        Transition::OverrideQuarantine,
        &[Quarantined],
        Available,
        &[Admin],
    ),
    rule(
        Transition::Retire,
        &[Available, Quarantined],
        Retired,
        &[Admin, System],
    ),
];

const fn rule(
    transition: Transition,
    from: &'static [NumberState],
    to: NumberState,
    actors: &'static [ActorKind],
) -> Rule {
    Rule {
        transition,
        from,
        to,
        actors,
    }
}

/// A transition the table does not allow from the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition} an identifier that is {}", from.as_str().to_ascii_lowercase())]
pub struct InvalidTransition {
    /// The state the identifier was in (and stays in).
    pub from: NumberState,
    /// The refused transition.
    pub transition: Transition,
}

/// Why [`apply`] refused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The transition is not allowed from the current state.
    #[error(transparent)]
    Invalid(#[from] InvalidTransition),
    /// The actor may never perform this transition.
    #[error("{} may not {transition}", actor.as_str().to_ascii_lowercase())]
    NotPermitted {
        /// The refused transition.
        transition: Transition,
        /// Who asked.
        actor: ActorKind,
    },
}

/// The state reached by performing `t` from `from`, regardless of who asks.
///
/// # Errors
///
/// Returns [`InvalidTransition`] if the table has no row for `(from, t)`.
pub fn next_state(from: NumberState, t: Transition) -> Result<NumberState, InvalidTransition> {
    let rule = t.rule();
    if rule.from.contains(&from) {
        Ok(rule.to)
    } else {
        Err(InvalidTransition {
            from,
            transition: t,
        })
    }
}

/// Whether `actor` may ever perform `t` (independent of the current state).
#[must_use]
pub fn may_perform(t: Transition, actor: ActorKind) -> bool {
    t.rule().actors.contains(&actor)
}

/// Performs `t` from `from` on behalf of `actor`.
///
/// Permission is checked first, so an actor who may never perform `t` learns
/// nothing about the identifier's state.
///
/// # Errors
///
/// Returns [`TransitionError::NotPermitted`] if `actor` may not perform `t`,
/// otherwise [`TransitionError::Invalid`] if `t` is not allowed from `from`.
/// On error the state is unchanged.
pub fn apply(
    from: NumberState,
    t: Transition,
    actor: ActorKind,
) -> Result<NumberState, TransitionError> {
    if !may_perform(t, actor) {
        return Err(TransitionError::NotPermitted {
            transition: t,
            actor,
        });
    }
    Ok(next_state(from, t)?)
}

/// The state an identifier is in at `now`, given what is stored.
///
/// A `RESERVED` or `HELD` identifier whose `reserved_until` is at or before
/// `now` is effectively `AVAILABLE`, whether or not the expiry sweeper has
/// run: readers must apply this so that expiry takes effect to the second.
/// A reservation without a deadline does not expire by being read. Every other
/// state is returned unchanged.
#[must_use]
pub fn effective_state(
    state: NumberState,
    reserved_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> NumberState {
    match (state, reserved_until) {
        (Reserved | Held, Some(until)) if until <= now => Available,
        _ => state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Transition as T;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// A literal copy of the specification's table: (transition, from, to, actors).
    const SPEC: &[(Transition, &[NumberState], NumberState, &[ActorKind])] = &[
        (T::Reserve, &[Available], Reserved, &[Tenant, Admin]),
        (T::Hold, &[Reserved], Held, &[Tenant]),
        (
            T::Cancel,
            &[Reserved, Held],
            Available,
            &[Tenant, System, Admin],
        ),
        (
            T::ExpireReservation,
            &[Reserved, Held],
            Available,
            &[System],
        ),
        (T::Assign, &[Reserved, Held], Assigned, &[Tenant, Admin]),
        (T::Renew, &[Assigned], Assigned, &[System]),
        (T::ExpireLease, &[Assigned], Quarantined, &[System]),
        (T::Release, &[Assigned], Quarantined, &[Tenant, Admin]),
        (T::Suspend, &[Assigned], Suspended, &[System, Admin]),
        (T::Reinstate, &[Suspended], Assigned, &[System, Admin]),
        (
            T::Recall,
            &[Assigned, Suspended],
            Quarantined,
            &[System, Admin],
        ),
        (T::EndQuarantine, &[Quarantined], Available, &[System]),
        (T::OverrideQuarantine, &[Quarantined], Available, &[Admin]),
        (
            T::Retire,
            &[Available, Quarantined],
            Retired,
            &[Admin, System],
        ),
    ];

    fn spec_row(
        t: Transition,
    ) -> &'static (
        Transition,
        &'static [NumberState],
        NumberState,
        &'static [ActorKind],
    ) {
        SPEC.iter().find(|row| row.0 == t).unwrap()
    }

    #[test]
    fn every_transition_has_exactly_one_rule() {
        for t in Transition::ALL {
            assert_eq!(RULES.iter().filter(|r| r.transition == t).count(), 1, "{t}");
            assert_eq!(t.rule().transition, t);
        }
    }

    #[test]
    fn next_state_matches_the_specification_for_every_state_and_transition() {
        for from in NumberState::ALL {
            for t in Transition::ALL {
                let (_, sources, to, _) = spec_row(t);
                let expected = if sources.contains(&from) {
                    Ok(*to)
                } else {
                    Err(InvalidTransition {
                        from,
                        transition: t,
                    })
                };
                assert_eq!(next_state(from, t), expected, "{t} from {from}");
            }
        }
    }

    #[test]
    fn may_perform_matches_the_specification_for_every_actor() {
        for t in Transition::ALL {
            let (_, _, _, actors) = spec_row(t);
            for actor in ActorKind::ALL {
                assert_eq!(
                    may_perform(t, actor),
                    actors.contains(&actor),
                    "{actor} {t}"
                );
            }
        }
    }

    #[test]
    fn the_table_allows_exactly_nineteen_state_transition_pairs() {
        let allowed = NumberState::ALL
            .iter()
            .flat_map(|&s| Transition::ALL.iter().map(move |&t| (s, t)))
            .filter(|&(s, t)| next_state(s, t).is_ok())
            .count();
        assert_eq!(allowed, 19);
    }

    #[test]
    fn only_an_admin_may_override_a_quarantine() {
        assert_eq!(
            apply(Quarantined, T::OverrideQuarantine, Admin),
            Ok(Available)
        );
        for actor in [Tenant, System] {
            assert_eq!(
                apply(Quarantined, T::OverrideQuarantine, actor),
                Err(TransitionError::NotPermitted {
                    transition: T::OverrideQuarantine,
                    actor
                })
            );
        }
    }

    #[test]
    fn a_tenant_cannot_reserve_a_quarantined_identifier() {
        assert_eq!(
            apply(Quarantined, T::Reserve, Tenant),
            Err(TransitionError::Invalid(InvalidTransition {
                from: Quarantined,
                transition: T::Reserve
            }))
        );
    }

    #[test]
    fn retired_is_terminal() {
        for t in Transition::ALL {
            assert!(next_state(Retired, t).is_err(), "{t}");
        }
    }

    #[test]
    fn refusals_read_as_sentences() {
        let e = InvalidTransition {
            from: Quarantined,
            transition: T::Reserve,
        };
        assert_eq!(
            e.to_string(),
            "cannot reserve an identifier that is quarantined"
        );
        assert_eq!(
            TransitionError::from(InvalidTransition {
                from: Available,
                transition: T::ExpireReservation
            })
            .to_string(),
            "cannot expire_reservation an identifier that is available"
        );
        assert_eq!(
            TransitionError::NotPermitted {
                transition: T::OverrideQuarantine,
                actor: Tenant
            }
            .to_string(),
            "tenant may not override_quarantine"
        );
    }

    #[test]
    fn quarantine_reasons_follow_the_transition_into_quarantine() {
        for t in Transition::ALL {
            let enters_quarantine = t.target() == Quarantined;
            assert_eq!(t.quarantine_reason().is_some(), enters_quarantine, "{t}");
        }
        assert_eq!(
            T::Release.quarantine_reason(),
            Some(QuarantineReason::Released)
        );
        assert_eq!(
            T::Recall.quarantine_reason(),
            Some(QuarantineReason::Recalled)
        );
        assert_eq!(
            T::ExpireLease.quarantine_reason(),
            Some(QuarantineReason::Expired)
        );
    }

    #[test]
    fn names_round_trip() {
        for s in NumberState::ALL {
            assert_eq!(s.as_str().parse::<NumberState>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for t in Transition::ALL {
            assert_eq!(t.as_str().parse::<Transition>(), Ok(t));
            assert!(t.event_type().starts_with("number."), "{t}");
            assert!(t.event_type().rsplit('.').next() == Some("v1"), "{t}");
        }
        for a in ActorKind::ALL {
            assert_eq!(a.as_str().parse::<ActorKind>(), Ok(a));
        }
        for r in QuarantineReason::ALL {
            assert_eq!(r.as_str().parse::<QuarantineReason>(), Ok(r));
        }
        assert_eq!(T::EndQuarantine.as_str(), "end_quarantine");
        assert_eq!(T::EndQuarantine.event_type(), "number.quarantine.ended.v1");
        assert!("bogus".parse::<NumberState>().is_err());
        assert_eq!(
            "bogus".parse::<Transition>().unwrap_err().to_string(),
            "unknown transition \"bogus\""
        );
    }

    #[test]
    fn event_types_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for t in Transition::ALL {
            assert!(seen.insert(t.event_type()), "{t}");
        }
    }

    #[test]
    fn an_expired_reservation_reads_as_available_to_the_second() {
        let until = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let before = until - chrono::Duration::seconds(1);
        for s in [Reserved, Held] {
            assert_eq!(effective_state(s, Some(until), before), s);
            assert_eq!(effective_state(s, Some(until), until), Available);
            assert_eq!(effective_state(s, None, until), s);
        }
        for s in [Available, Assigned, Suspended, Quarantined, Retired] {
            assert_eq!(effective_state(s, Some(before), until), s);
        }
    }

    fn any_transition() -> impl Strategy<Value = Transition> {
        proptest::sample::select(Transition::ALL.to_vec())
    }

    fn any_actor() -> impl Strategy<Value = ActorKind> {
        proptest::sample::select(ActorKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn random_walks_only_ever_follow_the_table(
            steps in proptest::collection::vec((any_transition(), any_actor()), 0..64)
        ) {
            let mut state = Available;
            for (t, actor) in steps {
                let (_, sources, to, actors) = spec_row(t);
                match apply(state, t, actor) {
                    Ok(next) => {
                        prop_assert!(sources.contains(&state));
                        prop_assert!(actors.contains(&actor));
                        prop_assert_eq!(next, *to);
                        state = next;
                    }
                    Err(TransitionError::NotPermitted { .. }) => {
                        prop_assert!(!actors.contains(&actor));
                    }
                    Err(TransitionError::Invalid(e)) => {
                        prop_assert!(actors.contains(&actor));
                        prop_assert!(!sources.contains(&state));
                        prop_assert_eq!(e.from, state);
                    }
                }
            }
        }

        #[test]
        fn effective_state_only_ever_frees_expired_reservations(
            state in proptest::sample::select(NumberState::ALL.to_vec()),
            until_offset in -100_000i64..100_000,
            has_deadline: bool,
        ) {
            let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
            let until = has_deadline.then(|| now + chrono::Duration::seconds(until_offset));
            let effective = effective_state(state, until, now);
            if effective != state {
                prop_assert!(state.is_reservation());
                prop_assert_eq!(effective, Available);
                prop_assert!(until_offset <= 0);
            }
        }
    }
}
