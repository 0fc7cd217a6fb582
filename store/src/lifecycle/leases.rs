//! The lease transitions: assign (and [`assign_verified`], the one assign
//! path of the portal API and of legacy seeding, which asks the sender-id
//! registry first for an ALPHA identifier), renew, release and lease
//! expiry; and the quarantine a lease's end opens.

use chrono::{DateTime, Utc};
use numbering_shared::{
    IdentifierKind, LeaseId, QuarantineReason, ReservationId, TenantId, Transition,
};
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    Result, SenderIdRegistry, Store, Unavailable,
    rows::{current_lease_matches, lock_lease, lock_number_by_id},
    write::{Holding, Moved, NoStep, Step, after, change, commit_change, seconds},
};
use crate::{
    InvalidInput, Lease, LifecycleError, NotDue,
    model::{LeaseRow, NumberRow, lease_columns},
    record::{Ctx, LeaseFacts},
    scope::Scope,
};

/// How long a new lease runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseTerm {
    /// From now, for the policy's lease term: every ordinary assign.
    Standard,
    /// A lease carried over from the legacy system with its original start
    /// and term end (legacy seeding).
    Legacy {
        started_at: DateTime<Utc>,
        term_end: DateTime<Utc>,
    },
}

impl LeaseTerm {
    /// A legacy term must end after its start and in the future.
    fn check(self) -> Result<()> {
        match self {
            LeaseTerm::Legacy {
                started_at,
                term_end,
            } if term_end <= started_at || term_end <= Utc::now() => {
                Err(InvalidInput::LegacyTerm {
                    started_at,
                    term_end,
                }
                .into())
            }
            _ => Ok(()),
        }
    }
}

impl Store {
    /// RESERVED / HELD → ASSIGNED: turns the tenant's live reservation into
    /// a lease for the configured term. (An ALPHA identifier must have been
    /// confirmed by the sender-id registry before this is called: see
    /// [`assign_verified`].)
    pub async fn assign(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
        auto_renew: bool,
    ) -> Result<Lease> {
        self.assign_for(ctx, tenant, id, auto_renew, LeaseTerm::Standard)
            .await
    }

    /// [`Store::assign`] with an explicit [`LeaseTerm`]: the same transition,
    /// rules, audit entry and event; a legacy term is recorded as such in
    /// the audit details. Refuses with `InvalidInput` a legacy term that
    /// does not end after both its start and now.
    pub async fn assign_for(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
        auto_renew: bool,
        term: LeaseTerm,
    ) -> Result<Lease> {
        term.check()?;
        let lease = self
            .transition(Scope::Tenant(tenant), async |tx| {
                self.assign_in(tx, ctx, tenant, id, auto_renew, term).await
            })
            .await?
            .into_domain()?;
        metrics::counter!("numbering_assign_total", "kind" => lease.identifier.kind().as_str())
            .increment(1);
        Ok(lease)
    }

    async fn assign_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
        auto_renew: bool,
        term: LeaseTerm,
    ) -> Result<LeaseRow> {
        let t = Transition::Assign;
        let (reservation, n, states) = self.live_reservation(tx, ctx, id, t).await?;
        let lease_id = LeaseId::new();
        let (started_at, term_end) = match term {
            LeaseTerm::Standard => (n.now, after(n.now, self.policy.lease_term)?),
            LeaseTerm::Legacy {
                started_at,
                term_end,
            } => (started_at, term_end),
        };
        let mut details = json!({
            "reservation_id": id.to_string(),
            "lease_id": lease_id.to_string(),
            "term_end": term_end,
            "auto_renew": auto_renew,
        });
        if let Some(a) = &reservation.account_id {
            details["account_id"] = json!(a);
        }
        if let LeaseTerm::Legacy { started_at, .. } = term {
            details["legacy_seed"] = json!(true);
            details["started_at"] = json!(started_at);
        }
        let mut change = change(t, &n, states, Some(tenant.as_str()), details);
        change.lease = Some(LeaseFacts {
            id: lease_id.as_uuid(),
            status: "ACTIVE",
            started_at,
            term_end,
            auto_renew,
            ended: None,
        });
        let moved = Moved::held_by(Some(tenant.as_str()), None);
        let step = NewLease {
            id: lease_id,
            reservation: reservation.id,
            account_id: reservation.account_id,
            holding: Holding::of(&n, tenant),
            auto_renew,
            started_at,
            term_end,
        };
        commit_change(tx, ctx, change, moved, step).await
    }

    /// ASSIGNED → QUARANTINED at the tenant's request; the cool-off starts.
    pub async fn release(&self, ctx: &Ctx, tenant: &TenantId, id: LeaseId) -> Result<Lease> {
        let lease = self
            .transition(Scope::Tenant(tenant), async |tx| {
                self.end_lease(tx, ctx, id, Transition::Release).await
            })
            .await?;
        metrics::counter!("numbering_release_total").increment(1);
        Ok(lease)
    }

    /// ASSIGNED → ASSIGNED: extends the lease by one term. The caller has
    /// already asked billing (PreviewCharge) and been told yes.
    pub async fn renew(&self, ctx: &Ctx, id: LeaseId) -> Result<Lease> {
        self.transition(Scope::Platform, async |tx| self.renew_in(tx, ctx, id).await)
            .await?
            .into_domain()
    }

    async fn renew_in(&self, tx: &mut PgConnection, ctx: &Ctx, id: LeaseId) -> Result<LeaseRow> {
        let t = Transition::Renew;
        let l = lock_lease(tx, id)
            .await?
            .ok_or(LifecycleError::NotFound("lease"))?;
        let n = lock_number_by_id(tx, l.number_id)
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))?;
        let from = n.effective_state()?;
        let to = self.decide(tx, ctx, &n, from, t).await?;
        current_lease_matches(&l, &n)?;
        let term_end = after(l.term_end, self.policy.lease_term)?;
        let details =
            json!({ "lease_id": id.to_string(), "term_end": term_end, "renewals": l.renewals + 1 });
        let mut change = change(t, &n, (from, to), Some(&l.tenant_id), details);
        change.lease = Some(LeaseFacts {
            term_end,
            ..LeaseFacts::after(t, &l, n.now)
        });
        let moved = Moved::held_by(n.tenant_id.as_deref(), None);
        let step = RenewedLease {
            lease: l.id,
            term_end,
        };
        commit_change(tx, ctx, change, moved, step).await
    }

    /// ASSIGNED → QUARANTINED when the term has ended without renewal.
    /// Refuses with `NotDue` before the term end.
    pub async fn expire_lease(&self, ctx: &Ctx, id: LeaseId) -> Result<Lease> {
        self.transition(Scope::Platform, async |tx| {
            self.end_lease(tx, ctx, id, Transition::ExpireLease).await
        })
        .await
    }

    /// Release or lease expiry: end the lease and quarantine the identifier.
    async fn end_lease(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        id: LeaseId,
        t: Transition,
    ) -> Result<Lease> {
        let l = lock_lease(tx, id)
            .await?
            .ok_or(LifecycleError::NotFound("lease"))?;
        let n = lock_number_by_id(tx, l.number_id)
            .await?
            .ok_or(LifecycleError::Conflict)?;
        let from = n.effective_state()?;
        let to = self.decide(tx, ctx, &n, from, t).await?;
        current_lease_matches(&l, &n)?;
        if t == Transition::ExpireLease && l.term_end > n.now {
            return Err(NotDue::LeaseTerm(l.term_end).into());
        }
        let reason = t.quarantine_reason().ok_or_else(|| {
            LifecycleError::Corrupt("transition without a quarantine reason".into())
        })?;
        let (details, lease) = self.quarantine(tx, &n, &l, reason).await?;
        let mut change = change(t, &n, (from, to), Some(&l.tenant_id), details);
        change.lease = Some(LeaseFacts::after(t, &l, n.now));
        commit_change(tx, ctx, change, Moved::released(), NoStep).await?;
        lease.into_domain()
    }

    /// Ends the current lease and opens a quarantine record for the cool-off
    /// of the identifier's kind and `reason`. Returns the audit details and
    /// the ended lease.
    pub(super) async fn quarantine(
        &self,
        tx: &mut PgConnection,
        n: &NumberRow,
        l: &LeaseRow,
        reason: QuarantineReason,
    ) -> Result<(Value, LeaseRow)> {
        let cool_off = self.policy.cool_off.cool_off(n.kind()?, reason);
        let lease: LeaseRow = sqlx::query_as(concat!(
            "UPDATE numbering.leases AS l SET status = 'ENDED', ended_at = now(), \
                 end_reason = $2::numbering.quarantine_reason \
             WHERE id = $1 RETURNING ",
            lease_columns!()
        ))
        .bind(l.id)
        .bind(reason.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let quarantine_id = Uuid::now_v7();
        let ends_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO numbering.quarantine_records \
                 (id, number_id, identifier, kind, previous_tenant_id, lease_id, reason, ends_at) \
             VALUES ($1, $2, $3, $4::numbering.identifier_kind, $5, $6, $7::numbering.quarantine_reason, \
                     now() + make_interval(secs => $8)) \
             RETURNING ends_at",
        )
        .bind(quarantine_id)
        .bind(n.id)
        .bind(&n.identifier)
        .bind(&n.kind)
        .bind(&l.tenant_id)
        .bind(l.id)
        .bind(reason.as_str())
        .bind(seconds(cool_off))
        .fetch_one(&mut *tx)
        .await?;
        let details = json!({
            "lease_id": l.id.to_string(),
            "quarantine_id": quarantine_id.to_string(),
            "quarantine_reason": reason.as_str(),
            "quarantine_ends_at": ends_at,
        });
        Ok((details, lease))
    }
}

/// A new lease from reservation `reservation`, which it consumes (assign).
struct NewLease {
    id: LeaseId,
    reservation: Uuid,
    /// The reservation's account, which the lease keeps.
    account_id: Option<String>,
    holding: Holding,
    auto_renew: bool,
    started_at: DateTime<Utc>,
    term_end: DateTime<Utc>,
}

impl Step for NewLease {
    type Row = LeaseRow;

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(
            "ended AS (UPDATE numbering.reservations SET status = 'CONSUMED', ended_at = now() \
             FROM moved WHERE id = ",
        )
        .push_bind(self.reservation)
        .push(
            "), step AS (INSERT INTO numbering.leases AS l (id, number_id, identifier, kind, \
             tenant_id, reservation_id, auto_renew, started_at, term_end, account_id) SELECT ",
        );
        let mut values = q.separated(", ");
        values.push_bind(self.id.as_uuid());
        self.holding.push_values(&mut values);
        values
            .push_bind(self.reservation)
            .push_bind(self.auto_renew)
            .push_bind(self.started_at)
            .push_bind(self.term_end)
            .push_bind(self.account_id);
        q.push(concat!(" FROM moved RETURNING ", lease_columns!(), ")"));
    }
}

/// A lease extended to `term_end` (renew).
struct RenewedLease {
    lease: Uuid,
    term_end: DateTime<Utc>,
}

impl Step for RenewedLease {
    type Row = LeaseRow;

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push("step AS (UPDATE numbering.leases AS l SET term_end = ");
        q.push_bind(self.term_end);
        q.push(", renewals = l.renewals + 1, renewal_declined_at = NULL FROM moved WHERE l.id = ");
        q.push_bind(self.lease);
        q.push(concat!(" RETURNING ", lease_columns!(), ")"));
    }
}

/// Why an assign was refused.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    /// The registry says the tenant is not verified for this sender id
    /// (an edge maps it to 403 / PERMISSION_DENIED, code `SENDER_ID_NOT_VERIFIED`).
    #[error("the sender-id registry has not verified {alpha_id} for this tenant")]
    NotVerified { alpha_id: String },
    /// The registry could not be asked: refused, never allowed (503 /
    /// UNAVAILABLE, code `SENDER_ID_REGISTRY_UNAVAILABLE`; retry later).
    #[error(transparent)]
    RegistryUnavailable(#[from] Unavailable),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

/// Assigns the tenant's reservation, asking the sender-id registry first
/// when the identifier is an ALPHA sender id (SPEC §2).
pub async fn assign_verified(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    ctx: &Ctx,
    tenant: &TenantId,
    reservation: ReservationId,
    auto_renew: bool,
) -> Result<Lease, AssignError> {
    let term = LeaseTerm::Standard;
    assign_verified_for(store, registry, ctx, tenant, reservation, auto_renew, term).await
}

/// [`assign_verified`] with an explicit lease term (legacy seeding carries
/// over the legacy lease's start and end).
pub async fn assign_verified_for(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    ctx: &Ctx,
    tenant: &TenantId,
    reservation: ReservationId,
    auto_renew: bool,
    term: LeaseTerm,
) -> Result<Lease, AssignError> {
    let r = store
        .reservation(tenant, reservation)
        .await?
        .ok_or(LifecycleError::NotFound("reservation"))?;
    if r.identifier.kind() == IdentifierKind::Alpha {
        let alpha_id = r.identifier.as_str();
        match registry.is_verified(alpha_id, tenant).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(alpha_id, "alpha assign refused: not verified");
                return Err(AssignError::NotVerified {
                    alpha_id: alpha_id.to_owned(),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "alpha assign refused: registry unavailable");
                return Err(e.into());
            }
        }
    }
    Ok(store
        .assign_for(ctx, tenant, reservation, auto_renew, term)
        .await?)
}
