//! The admin and system actions by identifier, one function each: suspend,
//! reinstate, recall, end or override a quarantine, retire, and expire a
//! reservation. Each runs in the platform scope and answers with the
//! number as it is after the action.

use numbering_shared::{Identifier, NumberState, QuarantineReason, Transition, lifecycle};
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{
    Result, Store,
    reservations::lapse,
    rows::{lock_number_by_key, open_quarantine_end},
    write::{Moved, NoStep, change, commit_change},
};
use crate::{
    InvalidInput, LifecycleError, NotDue, NumberRecord,
    model::{LeaseRow, LeaseStatus, NumberRow, lease_columns},
    record::{Ctx, LeaseFacts},
    scope::Scope,
};

/// How an open quarantine ends (`quarantine_records.ended_by`).
#[derive(Debug, Clone, Copy)]
enum QuarantineEnd<'a> {
    /// The cool-off has been served.
    CoolOff,
    /// An admin ends it early, with a written justification.
    Override(&'a str),
    /// The identifier leaves inventory.
    Retired,
}

impl QuarantineEnd<'_> {
    fn ended_by(self) -> &'static str {
        match self {
            QuarantineEnd::CoolOff => "COOL_OFF",
            QuarantineEnd::Override(_) => "OVERRIDE",
            QuarantineEnd::Retired => "RETIRED",
        }
    }
}

/// One platform action, as [`Store::platform`] dispatches it.
#[derive(Debug, Clone, Copy)]
enum Action<'a> {
    /// Suspend or reinstate ([`Store::switch_lease`]).
    SwitchLease(Transition),
    Recall,
    /// End or override a quarantine, or retire ([`Store::close_quarantine`]).
    Close(Transition, QuarantineEnd<'a>),
    ExpireReservation,
}

impl Store {
    /// ASSIGNED → SUSPENDED (billing delinquency, or an admin).
    pub async fn suspend(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        let action = Action::SwitchLease(Transition::Suspend);
        self.platform(ctx, identifier, action).await
    }

    /// SUSPENDED → ASSIGNED (billing paid, or an admin).
    pub async fn reinstate(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        let action = Action::SwitchLease(Transition::Reinstate);
        self.platform(ctx, identifier, action).await
    }

    /// ASSIGNED / SUSPENDED → QUARANTINED (compliance, a revoked sender id, or an admin).
    pub async fn recall(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform(ctx, identifier, Action::Recall).await
    }

    /// QUARANTINED → AVAILABLE once the cool-off has been served.
    pub async fn end_quarantine(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        let action = Action::Close(Transition::EndQuarantine, QuarantineEnd::CoolOff);
        self.platform(ctx, identifier, action).await
    }

    /// QUARANTINED → AVAILABLE early, by an admin, with a written
    /// justification of at least 20 characters kept in the audit trail.
    pub async fn override_quarantine(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
        justification: &str,
    ) -> Result<NumberRecord> {
        let end = QuarantineEnd::Override(justification.trim());
        let action = Action::Close(Transition::OverrideQuarantine, end);
        self.platform(ctx, identifier, action).await
    }

    /// AVAILABLE / QUARANTINED → RETIRED (contract ended, removed from inventory).
    pub async fn retire(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        let action = Action::Close(Transition::Retire, QuarantineEnd::Retired);
        self.platform(ctx, identifier, action).await
    }

    /// RESERVED / HELD → AVAILABLE once the TTL has passed. `NotDue` before.
    pub async fn expire_reservation(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
    ) -> Result<NumberRecord> {
        self.platform(ctx, identifier, Action::ExpireReservation)
            .await
    }

    /// Runs `action` in its own transaction in the platform scope, then
    /// reads the number as it is after it.
    async fn platform(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
        action: Action<'_>,
    ) -> Result<NumberRecord> {
        self.transition(Scope::Platform, async |tx| match action {
            Action::SwitchLease(t) => self.switch_lease(tx, ctx, identifier, t).await,
            Action::Recall => self.recall_in(tx, ctx, identifier).await,
            Action::Close(t, end) => self.close_quarantine(tx, ctx, identifier, t, end).await,
            Action::ExpireReservation => self.expire_reservation_in(tx, ctx, identifier).await,
        })
        .await?;
        self.number(identifier)
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))
    }

    /// Locks the number of `identifier` and asks the rules about `t`.
    async fn lock_and_decide(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
        t: Transition,
    ) -> Result<(NumberRow, (NumberState, NumberState))> {
        let n = lock_number_by_key(tx, &identifier.key())
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))?;
        let from = n.effective_state()?;
        let to = self.decide(tx, ctx, &n, from, t).await?;
        Ok((n, (from, to)))
    }

    /// Suspend or reinstate: the current lease switches status with the
    /// number. A suspension records who made it (a payment lifts only
    /// billing's, see `Lease::suspended_by_system`).
    async fn switch_lease(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
        t: Transition,
    ) -> Result<()> {
        let (n, states) = self.lock_and_decide(tx, ctx, identifier, t).await?;
        let (new_status, old_status) = match t {
            Transition::Suspend => (LeaseStatus::Suspended, LeaseStatus::Active),
            _ => (LeaseStatus::Active, LeaseStatus::Suspended),
        };
        let l: LeaseRow = sqlx::query_as(concat!(
            "UPDATE numbering.leases AS l SET status = $2::numbering.lease_status, \
                 suspended_by = CASE WHEN $2 = 'SUSPENDED' THEN $4 END \
             WHERE number_id = $1 AND status = $3::numbering.lease_status RETURNING ",
            lease_columns!()
        ))
        .bind(n.id)
        .bind(new_status.as_str())
        .bind(old_status.as_str())
        .bind(ctx.actor.label())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            LifecycleError::Corrupt(format!(
                "{} has no {} lease",
                n.identifier,
                old_status.as_str()
            ))
        })?;
        let details = json!({ "lease_id": l.id.to_string() });
        let lease = LeaseFacts::after(t, &l, n.now);
        let holder = n.tenant_id.as_deref();
        commit_platform(tx, ctx, &n, t, states, details, Some(lease), holder).await
    }

    /// Recall: the current lease ends and the identifier goes into
    /// quarantine, whoever held it.
    async fn recall_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
    ) -> Result<()> {
        let t = Transition::Recall;
        let (n, states) = self.lock_and_decide(tx, ctx, identifier, t).await?;
        let l: LeaseRow = sqlx::query_as(concat!(
            "SELECT ",
            lease_columns!(),
            " FROM numbering.leases l \
             WHERE l.number_id = $1 AND l.status IN ('ACTIVE', 'SUSPENDED') FOR UPDATE"
        ))
        .bind(n.id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| LifecycleError::Corrupt(format!("{} has no current lease", n.identifier)))?;
        let (details, _) = self
            .quarantine(tx, &n, &l, QuarantineReason::Recalled)
            .await?;
        let lease = LeaseFacts::after(t, &l, n.now);
        commit_platform(tx, ctx, &n, t, states, details, Some(lease), None).await
    }

    /// End of quarantine (served or overridden) or retirement: closes the
    /// open quarantine if the identifier is in one; the end of a cool-off
    /// only once it has been served (`NotDue` before).
    async fn close_quarantine(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
        t: Transition,
        end: QuarantineEnd<'_>,
    ) -> Result<()> {
        let (n, states) = self.lock_and_decide(tx, ctx, identifier, t).await?;
        let justification = match end {
            QuarantineEnd::Override(text) if text.chars().count() < 20 => {
                return Err(InvalidInput::ShortJustification.into());
            }
            QuarantineEnd::Override(text) => Some(text),
            QuarantineEnd::CoolOff | QuarantineEnd::Retired => None,
        };
        let mut details = json!({});
        if states.0 == NumberState::Quarantined {
            let closed: Option<uuid::Uuid> = sqlx::query_scalar(
                "UPDATE numbering.quarantine_records \
                 SET ended_at = now(), ended_by = $2, override_justification = $3, \
                     overridden_by = CASE WHEN $2 = 'OVERRIDE' THEN $4 END \
                 WHERE number_id = $1 AND ended_at IS NULL AND ($2 <> 'COOL_OFF' OR ends_at <= now()) \
                 RETURNING id",
            )
            .bind(n.id)
            .bind(end.ended_by())
            .bind(justification)
            .bind(ctx.actor.label())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(closed) = closed else {
                let until = open_quarantine_end(tx, n.id).await?;
                return Err(NotDue::CoolOff(until).into());
            };
            details = json!({ "quarantine_id": closed.to_string(), "ended_by": end.ended_by() });
            if let Some(text) = justification {
                details["justification"] = json!(text);
            }
        }
        commit_platform(tx, ctx, &n, t, states, details, None, None).await
    }

    /// Expiry of a reservation whose TTL has passed: recorded as the lapse
    /// it is. Refuses with `NotDue` a live one.
    async fn expire_reservation_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
    ) -> Result<()> {
        let t = Transition::ExpireReservation;
        let actor = ctx.actor.kind();
        if !lifecycle::may_perform(t, actor) {
            return Err(LifecycleError::NotPermitted {
                transition: t,
                actor,
            });
        }
        if lapse(tx, ctx, &identifier.key()).await? {
            return Ok(());
        }
        let n = lock_number_by_key(tx, &identifier.key())
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))?;
        let from = n.effective_state()?;
        if matches!(from, NumberState::Reserved | NumberState::Held) {
            return Err(NotDue::Reservation(n.reserved_until).into());
        }
        // nothing but a reservation expires: the rules refuse (and record)
        // this, and should they not, it is still not the actor's to do
        self.decide(tx, ctx, &n, from, t).await?;
        Err(LifecycleError::NotPermitted {
            transition: t,
            actor,
        })
    }
}

/// Writes a platform action's change of `n` (from the first of `states` to
/// the second), concerning its holder before the action, with `lease` as
/// it is after it; `holder` holds the number after the action.
#[allow(clippy::too_many_arguments)]
async fn commit_platform(
    tx: &mut PgConnection,
    ctx: &Ctx,
    n: &NumberRow,
    t: Transition,
    states: (NumberState, NumberState),
    details: Value,
    lease: Option<LeaseFacts>,
    holder: Option<&str>,
) -> Result<()> {
    let mut change = change(t, n, states, n.tenant_id.as_deref(), details);
    change.lease = lease;
    commit_change(tx, ctx, change, Moved::held_by(holder, None), NoStep).await?;
    Ok(())
}
