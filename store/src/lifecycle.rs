//! The lifecycle transactions of SPEC §2.
//!
//! Shape of every transition: begin in the caller's scope, lock the rows it
//! touches (pool, then reservation or lease, then number), derive the
//! effective state (a lapsed reservation reads as AVAILABLE), ask the pure
//! rules whether the transition is allowed, compare-and-swap the number's
//! version, write the side rows, record one audit entry and one outbox
//! event, commit.
//!
//! A transition refuses before it writes anything of its own. An invalid
//! transition is recorded as an ops event on the transition's own
//! connection and committed there ([`settle`]): a request never needs a
//! second pooled connection while it holds one (with its row locks), which
//! under load would wait for connections that are all waiting likewise.

use chrono::{DateTime, Duration, Utc};
use numbering_shared::{
    Identifier, IdentifierKind, LeaseId, LifecyclePolicy, NumberSnapshot, NumberState,
    QuarantineReason, Quotas, ReservationId, TenantId, Transition, Usage,
    lifecycle::{self, TransitionError},
    quota,
};
use serde_json::{Value, json};
use sqlx::{
    PgConnection, PgPool, Postgres,
    postgres::{PgArguments, PgRow},
    query::QueryAs,
};

use crate::{
    Lease, LifecycleError, NumberRecord, Reservation,
    model::{
        self, LEASE_COLUMNS, LeaseRow, LeaseStatus, NUMBER_COLUMNS, NumberRow, RESERVATION_COLUMNS,
        ReservationRow,
    },
    query::ADMITTED_BY_POOL,
    record::{self, Actor, Change, Ctx, LeaseFacts},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

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

/// The system of record: every read and write of inventory, reservations,
/// leases and quarantine goes through here.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    policy: LifecyclePolicy,
    wakeup: std::sync::Arc<crate::wakeup::Wakeup>,
    /// The request's unit of work this store's operations are steps of
    /// (see [`crate::uow`]); `None`: a transaction per operation.
    pub(crate) uow: Option<crate::uow::Shared>,
}

impl Store {
    pub fn new(pool: PgPool, policy: LifecyclePolicy) -> Self {
        Self {
            wakeup: std::sync::Arc::new(crate::wakeup::Wakeup::new(pool.clone())),
            pool,
            policy,
            uow: None,
        }
    }

    /// Tells the outbox relays that events may be waiting (see
    /// [`crate::wakeup`]); the store's own commits do it themselves.
    pub fn wake_relays(&self) {
        self.wakeup.signal();
    }

    pub(crate) fn wakeup(&self) -> &std::sync::Arc<crate::wakeup::Wakeup> {
        &self.wakeup
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn policy(&self) -> &LifecyclePolicy {
        &self.policy
    }

    // ----- tenant operations -------------------------------------------------

    /// AVAILABLE → RESERVED for `tenant`, for the reservation TTL.
    ///
    /// Refuses with `NotAllowed` (no or suspended pool, kind / operator not
    /// allowlisted, vanity without the flag), `QuotaExceeded`, `Conflict`
    /// (held by anyone, or lost the compare-and-swap), `QuarantineActive`,
    /// `NotFound`, or `InvalidTransition` (retired).
    pub async fn reserve(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        identifier: &Identifier,
    ) -> Result<Reservation> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = async {
            let pool = lock_pool(&mut tx, tenant).await?;
            lapse(&mut tx, ctx, &identifier.key()).await?;
            let Some(n) = lock_number_by_key(&mut tx, &identifier.key()).await? else {
                // invisible to this tenant: held by another one, or not in inventory
                return Err(match inventory_state(&mut tx, &identifier.key()).await? {
                    Some(_) => LifecycleError::Conflict,
                    None => LifecycleError::NotFound("identifier"),
                });
            };
            self.reserve_locked(&mut tx, ctx, tenant, &pool, n).await
        }
        .await;
        reserved(settle(tx, result).await?)
    }

    /// AVAILABLE → RESERVED for `tenant`, for the reservation TTL: one of the
    /// pool's allowlisted, quota-permitting identifiers matching `criteria`,
    /// chosen with `FOR UPDATE SKIP LOCKED` so concurrent callers (of any
    /// tenant) each get a different identifier instead of a `CONFLICT`.
    /// `NotFound` when nothing matching is available.
    pub async fn reserve_any(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        criteria: &crate::Criteria,
    ) -> Result<Reservation> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = self.reserve_any_in(&mut tx, ctx, tenant, criteria).await;
        reserved(settle(tx, result).await?)
    }

    async fn reserve_any_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        criteria: &crate::Criteria,
    ) -> Result<ReservationRow> {
        let pool = lock_pool(&mut *tx, tenant).await?;
        let (filter, binds) = criteria.sql(1);
        // Concurrent callers all starting at the first matching key would
        // queue on the same few rows (each skipping every row the others
        // hold, and every index entry they just made dead). So the scan
        // starts at a random point of the inventory (a random row's key,
        // found by primary key) and wraps around to the start only when
        // nothing matches after it: any matching identifier is a valid
        // answer, and concurrent callers spread out.
        let pick = |from: &str| {
            format!(
                "SELECT {NUMBER_COLUMNS} FROM numbering.numbers n {ADMITTED_BY_POOL} {filter} {from} \
                 ORDER BY n.identity_key LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
            )
        };
        let from_random_point = pick(
            "AND n.identity_key >= (SELECT s.identity_key FROM numbering.numbers s \
               WHERE s.id >= (SELECT floor(random() * max(m.id))::bigint FROM numbering.numbers m) \
               ORDER BY s.id LIMIT 1)",
        );
        let mut n = crate::query::bind_all(
            sqlx::query_as::<_, NumberRow>(&from_random_point),
            binds.clone(),
        )
        .fetch_optional(&mut *tx)
        .await?;
        if n.is_none() {
            n = crate::query::bind_all(sqlx::query_as::<_, NumberRow>(&pick("")), binds)
                .fetch_optional(&mut *tx)
                .await?;
        }
        // the pool's own limits narrow the search, so "any" never picks what
        // the checks below would refuse
        let Some(n) = n else {
            return Err(LifecycleError::NotFound(
                "available identifier matching the criteria",
            ));
        };
        self.reserve_locked(tx, ctx, tenant, &pool, n).await
    }

    /// The rest of a reservation once the pool and the number are locked.
    async fn reserve_locked(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        pool: &Pool,
        n: NumberRow,
    ) -> Result<ReservationRow> {
        let from = n.effective_state()?;
        match from {
            NumberState::Available => {}
            NumberState::Quarantined => {
                let until = open_quarantine_end(tx, n.id).await?;
                return Err(LifecycleError::QuarantineActive { until });
            }
            NumberState::Reserved
            | NumberState::Held
            | NumberState::Assigned
            | NumberState::Suspended => {
                return Err(LifecycleError::Conflict);
            }
            NumberState::Retired => {}
        }
        let to = self.decide(tx, ctx, &n, from, Transition::Reserve).await?;
        let kind = n.kind()?;
        pool.admits(kind, &n)?;
        quota::check_reserve(kind, &pool.usage, &pool.quotas)?;

        let until = after(n.now, self.policy.reservation_ttl)?;
        let id = ReservationId::new();
        let details = json!({ "reservation_id": id.to_string(), "reserved_until": until });
        let change = change(
            Transition::Reserve,
            &n,
            from,
            to,
            Some(tenant.as_str()),
            details,
        );
        let moved = Moved {
            tenant: Some(tenant.as_str()),
            reserved_until: Some(until),
        };
        let (number_id, identifier, kind_name) = (n.id, n.identifier.clone(), n.kind.clone());
        let tenant_id = tenant.as_str().to_owned();
        commit_change(
            tx,
            ctx,
            change,
            moved,
            Some(&format!(
                "step AS (INSERT INTO numbering.reservations AS r (id, number_id, identifier, kind, tenant_id, status, expires_at) \
                 SELECT $16, $17, $18, $19::numbering.identifier_kind, $20, 'RESERVED', $21 FROM moved \
                 RETURNING {RESERVATION_COLUMNS})"
            )),
            move |q| {
                q.bind(id.as_uuid())
                    .bind(number_id)
                    .bind(identifier)
                    .bind(kind_name)
                    .bind(tenant_id)
                    .bind(until)
            },
        )
        .await
    }

    /// RESERVED → HELD, extending the reservation to the hold TTL.
    pub async fn hold(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Reservation> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = self.hold_in(&mut tx, ctx, tenant, id).await;
        settle(tx, result).await?.into_domain()
    }

    async fn hold_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<ReservationRow> {
        let (r, n, from) = self.live_reservation(tx, ctx, id, Transition::Hold).await?;
        let to = self.decide(tx, ctx, &n, from, Transition::Hold).await?;
        let until = after(n.now, self.policy.hold_ttl)?;
        let details = json!({ "reservation_id": id.to_string(), "reserved_until": until });
        let change = change(
            Transition::Hold,
            &n,
            from,
            to,
            Some(tenant.as_str()),
            details,
        );
        let moved = Moved {
            tenant: Some(tenant.as_str()),
            reserved_until: Some(until),
        };
        let reservation = r;
        commit_change(
            tx,
            ctx,
            change,
            moved,
            Some(&format!(
                "step AS (UPDATE numbering.reservations AS r SET status = 'HELD', held_at = now(), expires_at = $17 \
                 FROM moved WHERE r.id = $16 RETURNING {RESERVATION_COLUMNS})"
            )),
            move |q| q.bind(reservation).bind(until),
        )
        .await
    }

    /// RESERVED / HELD → AVAILABLE at the tenant's request.
    pub async fn cancel(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Reservation> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = self.cancel_in(&mut tx, ctx, tenant, id).await;
        settle(tx, result).await?.into_domain()
    }

    async fn cancel_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<ReservationRow> {
        let (r, n, from) = self
            .live_reservation(tx, ctx, id, Transition::Cancel)
            .await?;
        let to = self.decide(tx, ctx, &n, from, Transition::Cancel).await?;
        let details = json!({ "reservation_id": id.to_string() });
        let change = change(
            Transition::Cancel,
            &n,
            from,
            to,
            Some(tenant.as_str()),
            details,
        );
        let reservation = r;
        commit_change(
            tx,
            ctx,
            change,
            Moved::released(),
            Some(&end_reservation("CANCELLED")),
            move |q| q.bind(reservation),
        )
        .await
    }

    /// RESERVED / HELD → ASSIGNED: turns the tenant's live reservation into
    /// a lease for the configured term. (An ALPHA identifier must have been
    /// confirmed by the sender-id registry before this is called.)
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
        if let LeaseTerm::Legacy {
            started_at,
            term_end,
        } = term
        {
            if term_end <= started_at || term_end <= Utc::now() {
                return Err(LifecycleError::InvalidInput(format!(
                    "the lease term ({started_at} to {term_end}) must end after its start and in the future"
                )));
            }
        }
        let (started_at, term_end) = match term {
            LeaseTerm::Standard => (None, None),
            LeaseTerm::Legacy {
                started_at,
                term_end,
            } => (Some(started_at), Some(term_end)),
        };
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = self
            .assign_in(
                &mut tx, ctx, tenant, id, auto_renew, term, started_at, term_end,
            )
            .await;
        let lease = settle(tx, result).await?.into_domain()?;
        metrics::counter!("numbering_assign_total", "kind" => lease.identifier.kind().as_str())
            .increment(1);
        Ok(lease)
    }

    #[allow(clippy::too_many_arguments)]
    async fn assign_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
        auto_renew: bool,
        term: LeaseTerm,
        started_at: Option<DateTime<Utc>>,
        term_end: Option<DateTime<Utc>>,
    ) -> Result<LeaseRow> {
        let (r, n, from) = self
            .live_reservation(tx, ctx, id, Transition::Assign)
            .await?;
        let to = self.decide(tx, ctx, &n, from, Transition::Assign).await?;
        let lease_id = LeaseId::new();
        let started_at = started_at.unwrap_or(n.now);
        let term_end = match term_end {
            Some(end) => end,
            None => after(n.now, self.policy.lease_term)?,
        };
        let mut details = json!({
            "reservation_id": id.to_string(),
            "lease_id": lease_id.to_string(),
            "term_end": term_end,
            "auto_renew": auto_renew,
        });
        if let LeaseTerm::Legacy { started_at, .. } = term {
            details["legacy_seed"] = json!(true);
            details["started_at"] = json!(started_at);
        }
        let mut change = change(
            Transition::Assign,
            &n,
            from,
            to,
            Some(tenant.as_str()),
            details,
        );
        change.lease = Some(LeaseFacts {
            id: lease_id.as_uuid(),
            status: "ACTIVE",
            started_at,
            term_end,
            auto_renew,
            ended: None,
        });
        let moved = Moved {
            tenant: Some(tenant.as_str()),
            reserved_until: None,
        };
        let (reservation, number_id) = (r, n.id);
        let (identifier, kind) = (n.identifier.clone(), n.kind.clone());
        let tenant_id = tenant.as_str().to_owned();
        commit_change(
            tx,
            ctx,
            change,
            moved,
            Some(&format!(
                "ended AS (UPDATE numbering.reservations SET status = 'CONSUMED', ended_at = now() \
                   FROM moved WHERE id = $16), \
                 step AS (INSERT INTO numbering.leases AS l \
                   (id, number_id, identifier, kind, tenant_id, reservation_id, auto_renew, started_at, term_end) \
                   SELECT $17, $18, $19, $20::numbering.identifier_kind, $21, $16, $22, $23, $24 FROM moved \
                   RETURNING {LEASE_COLUMNS})"
            )),
            move |q| {
                q.bind(reservation)
                    .bind(lease_id.as_uuid())
                    .bind(number_id)
                    .bind(identifier)
                    .bind(kind)
                    .bind(tenant_id)
                    .bind(auto_renew)
                    .bind(started_at)
                    .bind(term_end)
            },
        )
        .await
    }

    /// ASSIGNED → QUARANTINED at the tenant's request; the cool-off starts.
    pub async fn release(&self, ctx: &Ctx, tenant: &TenantId, id: LeaseId) -> Result<Lease> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let result = self
            .end_lease_by_id(&mut tx, ctx, id, Transition::Release)
            .await;
        let lease = settle(tx, result).await?;
        metrics::counter!("numbering_release_total").increment(1);
        Ok(lease)
    }

    // ----- system operations on leases --------------------------------------

    /// ASSIGNED → ASSIGNED: extends the lease by one term. The caller has
    /// already asked billing (PreviewCharge) and been told yes.
    pub async fn renew(&self, ctx: &Ctx, id: LeaseId) -> Result<Lease> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let result = self.renew_in(&mut tx, ctx, id).await;
        settle(tx, result).await?.into_domain()
    }

    async fn renew_in(&self, tx: &mut PgConnection, ctx: &Ctx, id: LeaseId) -> Result<LeaseRow> {
        let l = lock_lease(tx, id)
            .await?
            .ok_or(LifecycleError::NotFound("lease"))?;
        let n = lock_number_by_id(tx, l.number_id)
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))?;
        let from = n.effective_state()?;
        let to = self.decide(tx, ctx, &n, from, Transition::Renew).await?;
        current_lease_matches(&l, &n)?;
        let term_end = after(l.term_end, self.policy.lease_term)?;
        let details =
            json!({ "lease_id": id.to_string(), "term_end": term_end, "renewals": l.renewals + 1 });
        let mut change = change(Transition::Renew, &n, from, to, Some(&l.tenant_id), details);
        change.lease = Some(LeaseFacts {
            term_end,
            ..LeaseFacts::after(Transition::Renew, &l, n.now)
        });
        let moved = Moved {
            tenant: n.tenant_id.as_deref(),
            reserved_until: None,
        };
        let lease_uuid = l.id;
        commit_change(
            tx,
            ctx,
            change,
            moved,
            Some(&format!(
                "step AS (UPDATE numbering.leases AS l SET term_end = $17, renewals = l.renewals + 1, renewal_declined_at = NULL \
                 FROM moved WHERE l.id = $16 RETURNING {LEASE_COLUMNS})"
            )),
            move |q| q.bind(lease_uuid).bind(term_end),
        )
        .await
    }

    /// ASSIGNED → QUARANTINED when the term has ended without renewal.
    /// Refuses with `NotDue` before the term end.
    pub async fn expire_lease(&self, ctx: &Ctx, id: LeaseId) -> Result<Lease> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let result = self
            .end_lease_by_id(&mut tx, ctx, id, Transition::ExpireLease)
            .await;
        settle(tx, result).await
    }

    // ----- admin and system operations by identifier ------------------------

    /// ASSIGNED → SUSPENDED (billing delinquency, or an admin).
    pub async fn suspend(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::Suspend, None)
            .await
    }

    /// SUSPENDED → ASSIGNED (billing paid, or an admin).
    pub async fn reinstate(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::Reinstate, None)
            .await
    }

    /// ASSIGNED / SUSPENDED → QUARANTINED (compliance, a revoked sender id, or an admin).
    pub async fn recall(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::Recall, None)
            .await
    }

    /// QUARANTINED → AVAILABLE once the cool-off has been served.
    pub async fn end_quarantine(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::EndQuarantine, None)
            .await
    }

    /// QUARANTINED → AVAILABLE early, by an admin, with a written
    /// justification of at least 20 characters kept in the audit trail.
    pub async fn override_quarantine(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
        justification: &str,
    ) -> Result<NumberRecord> {
        self.platform_transition(
            ctx,
            identifier,
            Transition::OverrideQuarantine,
            Some(justification),
        )
        .await
    }

    /// AVAILABLE / QUARANTINED → RETIRED (contract ended, removed from inventory).
    pub async fn retire(&self, ctx: &Ctx, identifier: &Identifier) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::Retire, None)
            .await
    }

    /// RESERVED / HELD → AVAILABLE once the TTL has passed. `NotDue` before.
    pub async fn expire_reservation(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
    ) -> Result<NumberRecord> {
        self.platform_transition(ctx, identifier, Transition::ExpireReservation, None)
            .await
    }

    /// Lapses up to `limit` reservations whose TTL has passed, recording each.
    /// Correctness never depends on this running: reads and writes already
    /// treat a lapsed reservation as expired.
    pub async fn expire_lapsed_reservations(&self, ctx: &Ctx, limit: i64) -> Result<usize> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT identity_key FROM numbering.numbers WHERE reserved_until <= now() \
             ORDER BY reserved_until LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut lapsed = 0;
        for key in &keys {
            lapsed += usize::from(lapse(&mut tx, ctx, key).await?);
        }
        tx.commit().await?;
        Ok(lapsed)
    }

    // ----- reads -------------------------------------------------------------

    /// The inventory row of `identifier` (platform view), if it is in inventory.
    pub async fn number(&self, identifier: &Identifier) -> Result<Option<NumberRecord>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let n: Option<NumberRow> = sqlx::query_as(&format!(
            "SELECT {NUMBER_COLUMNS} FROM numbering.numbers n WHERE n.identity_key = $1 \
             ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1"
        ))
        .bind(identifier.key())
        .fetch_optional(&mut *tx)
        .await?;
        // committed either way: inside a request's transaction, a read
        // dropped uncommitted would mark the request's work as failed
        tx.commit().await?;
        n.map(NumberRow::into_record).transpose()
    }

    /// What ValidateLease needs to know about `identifier`, read from
    /// Postgres in one round trip (`numbering.lease_snapshot`): state,
    /// holder, current lease and row version. The hot path itself reads
    /// through [`SnapshotReader`](crate::SnapshotReader).
    pub async fn snapshot(&self, identifier: &Identifier) -> Result<Option<NumberSnapshot>> {
        let row: Option<crate::snapshots::SnapshotRow> = sqlx::query_as(
            "SELECT state, tenant_id, reserved_until, version, lease_id, lease_term_end, read_at \
             FROM numbering.lease_snapshot($1)",
        )
        .bind(identifier.key())
        .fetch_optional(&self.pool)
        .await?;
        row.map(crate::snapshots::into_snapshot).transpose()
    }

    /// Routing's view of `identifier` (`numbering.lookup_identifier`, one
    /// round trip): kind, state, operator, MCC and MNC.
    pub async fn lookup(&self, identifier: &Identifier) -> Result<Option<crate::Lookup>> {
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT kind, state, operator_id, operator_name, mcc, mnc FROM numbering.lookup_identifier($1)",
        )
        .bind(identifier.key())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(kind, state, operator_id, operator_name, mcc, mnc)| crate::Lookup {
                kind,
                state,
                operator_id,
                operator_name,
                mcc,
                mnc,
            },
        ))
    }

    /// One of the tenant's reservations (a lapsed one reads as EXPIRED).
    pub async fn reservation(
        &self,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Option<Reservation>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let r: Option<ReservationRow> = sqlx::query_as(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM numbering.reservations r WHERE r.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        r.map(|r| {
            let lapsed = r.status()?.is_live() && r.expires_at <= r.now;
            let mut r = r.into_domain()?;
            if lapsed {
                r.status = crate::ReservationStatus::Expired;
            }
            Ok(r)
        })
        .transpose()
    }

    /// One of the tenant's leases.
    pub async fn lease(&self, tenant: &TenantId, id: LeaseId) -> Result<Option<Lease>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let l: Option<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM numbering.leases l WHERE l.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        l.map(LeaseRow::into_domain).transpose()
    }

    // ----- internals ---------------------------------------------------------

    /// Asks the pure rules; a refused transition is recorded as an ops
    /// event on `tx` (see [`Store::invalid`]).
    async fn decide(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        n: &NumberRow,
        from: NumberState,
        t: Transition,
    ) -> Result<NumberState> {
        match lifecycle::apply(from, t, ctx.actor.kind()) {
            Ok(to) => Ok(to),
            Err(TransitionError::NotPermitted { transition, actor }) => {
                Err(LifecycleError::NotPermitted { transition, actor })
            }
            Err(TransitionError::Invalid(invalid)) => {
                Err(self.invalid(tx, ctx, &n.identifier, invalid).await)
            }
        }
    }

    /// Records an invalid transition as an ops event in the transition's
    /// own transaction, which [`settle`] then commits: on the connection the
    /// request already holds, never on a second one.
    async fn invalid(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        subject: &str,
        invalid: lifecycle::InvalidTransition,
    ) -> LifecycleError {
        if let Err(e) =
            record::record_invalid_transition(tx, ctx, subject, invalid.from, invalid.transition)
                .await
        {
            tracing::warn!(error = %e, subject, "could not record the invalid-transition ops event");
        }
        LifecycleError::InvalidTransition(invalid)
    }

    /// Locks the tenant's reservation and its number (one statement, the
    /// reservation's row first); refuses one that has lapsed (to the second)
    /// with `ReservationExpired` whether or not its expiry has been recorded
    /// yet (by the sweeper, or by a reserve that noticed it): a refusal's
    /// code never depends on when background work ran. One that ended
    /// otherwise (consumed, cancelled) is an invalid transition. Returns the
    /// reservation's id, the number and its effective state.
    async fn live_reservation(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        id: ReservationId,
        t: Transition,
    ) -> Result<(uuid::Uuid, NumberRow, NumberState)> {
        #[derive(sqlx::FromRow)]
        struct Locked {
            reservation_status: String,
            reservation_expires_at: DateTime<Utc>,
            reservation_tenant_id: String,
            #[sqlx(flatten)]
            number: NumberRow,
        }
        let locked: Option<Locked> = sqlx::query_as(&format!(
            "SELECT r.status::text AS reservation_status, r.expires_at AS reservation_expires_at, \
                    r.tenant_id AS reservation_tenant_id, {NUMBER_COLUMNS} \
             FROM numbering.reservations r JOIN numbering.numbers n ON n.id = r.number_id \
             WHERE r.id = $1 FOR UPDATE OF r, n"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(Locked {
            reservation_status,
            reservation_expires_at,
            reservation_tenant_id,
            number: n,
        }) = locked
        else {
            // No reservation, or its number is now held by another tenant
            // (invisible here): the reservation is stale, someone else got
            // there first; unless it had expired before they did.
            let found: Option<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
                "SELECT status::text, expires_at, now() FROM numbering.reservations WHERE id = $1",
            )
            .bind(id.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
            return Err(match found {
                Some((status, expires_at, now)) => {
                    let status = model::parse("reservation status", &status)?;
                    if lapsed(status, expires_at, now) {
                        LifecycleError::ReservationExpired(expires_at)
                    } else {
                        LifecycleError::Conflict
                    }
                }
                None => LifecycleError::NotFound("reservation"),
            });
        };
        let status: crate::ReservationStatus =
            model::parse("reservation status", &reservation_status)?;
        if lapsed(status, reservation_expires_at, n.now) {
            return Err(LifecycleError::ReservationExpired(reservation_expires_at));
        }
        let from = n.effective_state()?;
        if !status.is_live() || n.tenant_id.as_deref() != Some(reservation_tenant_id.as_str()) {
            // the reservation ended: whatever the number is doing now, this
            // handle cannot move it
            return Err(self
                .invalid(
                    tx,
                    ctx,
                    &n.identifier,
                    lifecycle::InvalidTransition {
                        from,
                        transition: t,
                    },
                )
                .await);
        }
        Ok((id.as_uuid(), n, from))
    }

    /// Release or lease expiry: end the lease and quarantine the identifier.
    async fn end_lease_by_id(
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
            return Err(LifecycleError::NotDue(format!(
                "the lease term ends at {}",
                l.term_end
            )));
        }
        let reason = t.quarantine_reason().ok_or_else(|| {
            LifecycleError::Corrupt("transition without a quarantine reason".into())
        })?;
        let tenant = l.tenant_id.clone();
        let (details, lease) = self.quarantine(tx, &n, &l, reason).await?;
        let mut change = change(t, &n, from, to, Some(&tenant), details);
        change.lease = Some(LeaseFacts::after(t, &l, n.now));
        commit_change::<(i64,)>(tx, ctx, change, Moved::released(), None, |q| q).await?;
        Ok(lease)
    }

    /// Ends the current lease and opens a quarantine record for the cool-off
    /// of the identifier's kind and `reason`.
    async fn quarantine(
        &self,
        tx: &mut PgConnection,
        n: &NumberRow,
        l: &LeaseRow,
        reason: QuarantineReason,
    ) -> Result<(Value, Lease)> {
        let kind = n.kind()?;
        let cool_off = self.policy.cool_off.cool_off(kind, reason);
        let lease: LeaseRow = sqlx::query_as(&format!(
            "UPDATE numbering.leases AS l SET status = 'ENDED', ended_at = now(), end_reason = $2::numbering.quarantine_reason \
             WHERE id = $1 RETURNING {LEASE_COLUMNS}"
        ))
        .bind(l.id)
        .bind(reason.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let quarantine_id = uuid::Uuid::now_v7();
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
        Ok((details, lease.into_domain()?))
    }

    async fn platform_transition(
        &self,
        ctx: &Ctx,
        identifier: &Identifier,
        t: Transition,
        justification: Option<&str>,
    ) -> Result<NumberRecord> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let result = self
            .platform_transition_in(&mut tx, ctx, identifier, t, justification)
            .await;
        settle(tx, result).await?;
        self.number(identifier)
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))
    }

    async fn platform_transition_in(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        identifier: &Identifier,
        t: Transition,
        justification: Option<&str>,
    ) -> Result<()> {
        let key = identifier.key();
        if t == Transition::ExpireReservation {
            let ctx_kind = ctx.actor.kind();
            if !lifecycle::may_perform(t, ctx_kind) {
                return Err(LifecycleError::NotPermitted {
                    transition: t,
                    actor: ctx_kind,
                });
            }
            if lapse(tx, ctx, &key).await? {
                return Ok(());
            }
        }
        let n = lock_number_by_key(tx, &key)
            .await?
            .ok_or(LifecycleError::NotFound("identifier"))?;
        let from = n.effective_state()?;
        if t == Transition::ExpireReservation
            && matches!(from, NumberState::Reserved | NumberState::Held)
        {
            let until = n.reserved_until.map(|u| u.to_rfc3339()).unwrap_or_default();
            return Err(LifecycleError::NotDue(format!(
                "the reservation lasts until {until}"
            )));
        }
        let to = self.decide(tx, ctx, &n, from, t).await?;
        let mut details = json!({});
        let mut lease = None;
        let mut tenant_after = None;
        let tenant_before = n.tenant_id.clone();
        match t {
            Transition::Suspend | Transition::Reinstate => {
                let (new_status, old_status) = if t == Transition::Suspend {
                    (LeaseStatus::Suspended, LeaseStatus::Active)
                } else {
                    (LeaseStatus::Active, LeaseStatus::Suspended)
                };
                // a suspension records who made it (a payment lifts only
                // billing's, see `Lease::suspended_by_system`)
                let l: LeaseRow = sqlx::query_as(&format!(
                    "UPDATE numbering.leases AS l SET status = $2::numbering.lease_status, \
                         suspended_by = CASE WHEN $2 = 'SUSPENDED' THEN $4 END \
                     WHERE number_id = $1 AND status = $3::numbering.lease_status RETURNING {LEASE_COLUMNS}"
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
                details = json!({ "lease_id": l.id.to_string() });
                lease = Some(LeaseFacts::after(t, &l, n.now));
                tenant_after = tenant_before.as_deref();
            }
            Transition::Recall => {
                let l: LeaseRow = sqlx::query_as(&format!(
                    "SELECT {LEASE_COLUMNS} FROM numbering.leases l \
                     WHERE l.number_id = $1 AND l.status IN ('ACTIVE', 'SUSPENDED') FOR UPDATE"
                ))
                .bind(n.id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| {
                    LifecycleError::Corrupt(format!("{} has no current lease", n.identifier))
                })?;
                details = self
                    .quarantine(tx, &n, &l, QuarantineReason::Recalled)
                    .await?
                    .0;
                lease = Some(LeaseFacts::after(t, &l, n.now));
            }
            Transition::EndQuarantine | Transition::OverrideQuarantine | Transition::Retire => {
                let (ended_by, text) = match t {
                    Transition::EndQuarantine => ("COOL_OFF", None),
                    Transition::OverrideQuarantine => {
                        let text = justification.map(str::trim).unwrap_or_default();
                        if text.chars().count() < 20 {
                            return Err(LifecycleError::InvalidInput(
                                "a quarantine override needs a written justification of at least 20 characters".into(),
                            ));
                        }
                        ("OVERRIDE", Some(text))
                    }
                    _ => ("RETIRED", None),
                };
                if from == NumberState::Quarantined {
                    let closed: Option<uuid::Uuid> = sqlx::query_scalar(
                        "UPDATE numbering.quarantine_records \
                         SET ended_at = now(), ended_by = $2, override_justification = $3, \
                             overridden_by = CASE WHEN $2 = 'OVERRIDE' THEN $4 END \
                         WHERE number_id = $1 AND ended_at IS NULL AND ($2 <> 'COOL_OFF' OR ends_at <= now()) \
                         RETURNING id",
                    )
                    .bind(n.id)
                    .bind(ended_by)
                    .bind(text)
                    .bind(ctx.actor.label())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(closed) = closed else {
                        let until = open_quarantine_end(tx, n.id).await?;
                        return Err(LifecycleError::NotDue(format!(
                            "the cool-off lasts until {}",
                            until.map(|u| u.to_rfc3339()).unwrap_or_default()
                        )));
                    };
                    details = json!({ "quarantine_id": closed.to_string(), "ended_by": ended_by });
                    if let Some(text) = text {
                        details["justification"] = json!(text);
                    }
                }
            }
            _ => {
                return Err(LifecycleError::NotPermitted {
                    transition: t,
                    actor: ctx.actor.kind(),
                });
            }
        }
        let mut change = change(t, &n, from, to, tenant_before.as_deref(), details);
        change.lease = lease;
        let moved = Moved {
            tenant: tenant_after,
            reserved_until: None,
        };
        commit_change::<(i64,)>(tx, ctx, change, moved, None, |q| q).await?;
        Ok(())
    }
}

/// What a tenant's pool admits and what the tenant already uses, locked for
/// the transaction so that the tenant's quota checks are serialised.
pub(crate) struct Pool {
    quotas: Quotas,
    usage: Usage,
    allowed_kinds: Vec<String>,
    allowed_operators: Vec<String>,
    vanity_allowed: bool,
}

impl Pool {
    fn admits(&self, kind: IdentifierKind, n: &NumberRow) -> Result<()> {
        if !self.allowed_kinds.iter().any(|k| k == kind.as_str()) {
            return Err(LifecycleError::NotAllowed(format!(
                "the pool does not allow {} identifiers",
                kind.as_str()
            )));
        }
        if let Some(op) = &n.operator_id {
            if !self.allowed_operators.is_empty() && !self.allowed_operators.contains(op) {
                return Err(LifecycleError::NotAllowed(format!(
                    "the pool does not allow operator {op}"
                )));
            }
        }
        if n.vanity && !self.vanity_allowed {
            return Err(LifecycleError::NotAllowed(
                "the pool may not hold vanity identifiers".into(),
            ));
        }
        Ok(())
    }
}

/// Locks the tenant's pool and reads what the tenant uses, in one round
/// trip (`numbering.lock_pool`: the usage is counted after the lock is
/// granted, so the tenant's quota checks are serialised).
async fn lock_pool(tx: &mut PgConnection, tenant: &TenantId) -> Result<Pool> {
    #[derive(sqlx::FromRow)]
    struct Row {
        status: String,
        quota_msisdn: i32,
        quota_short_code: i32,
        quota_alpha: i32,
        allowed_kinds: Vec<String>,
        allowed_operators: Vec<String>,
        vanity_allowed: bool,
        used_msisdn: i64,
        used_short_code: i64,
        used_alpha: i64,
    }
    let row: Option<Row> = sqlx::query_as("SELECT * FROM numbering.lock_pool($1)")
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(LifecycleError::NotAllowed(
            "the tenant has no numbering pool".into(),
        ));
    };
    if row.status != "ACTIVE" {
        return Err(LifecycleError::NotAllowed(
            "the tenant's numbering pool is suspended".into(),
        ));
    }
    let q = |v: i32| u32::try_from(v).unwrap_or(0);
    Ok(Pool {
        quotas: Quotas {
            msisdn: q(row.quota_msisdn),
            short_code: q(row.quota_short_code),
            alpha: q(row.quota_alpha),
        },
        usage: usage_from_counts(row.used_msisdn, row.used_short_code, row.used_alpha),
        allowed_kinds: row.allowed_kinds,
        allowed_operators: row.allowed_operators,
        vanity_allowed: row.vanity_allowed,
    })
}

/// Live reservations (not lapsed) plus current leases, per kind
/// (`numbering.tenant_usage`: the leases come from a counter the database
/// keeps, so this costs the same whatever the tenant holds).
pub(crate) async fn usage(tx: &mut PgConnection, tenant: &TenantId) -> Result<Usage> {
    let (msisdn, short_code, alpha): (i64, i64, i64) =
        sqlx::query_as("SELECT * FROM numbering.tenant_usage($1)")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
    Ok(usage_from_counts(msisdn, short_code, alpha))
}

/// `numbering.tenant_usage`'s counts per kind (a count past `u32::MAX`
/// saturates, which every quota refuses).
fn usage_from_counts(msisdn: i64, short_code: i64, alpha: i64) -> Usage {
    let used = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Usage {
        msisdn: used(msisdn),
        short_code: used(short_code),
        alpha: used(alpha),
    }
}

async fn lock_number_by_key(tx: &mut PgConnection, key: &str) -> Result<Option<NumberRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM numbering.numbers n WHERE n.identity_key = $1 \
         ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1 FOR UPDATE"
    ))
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?)
}

/// The state of `key` in inventory whoever holds it (`numbering.inventory_state`).
async fn inventory_state(tx: &mut PgConnection, key: &str) -> Result<Option<NumberState>> {
    let state: Option<String> = sqlx::query_scalar("SELECT numbering.inventory_state($1)::text")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    state.map(|s| model::parse("number state", &s)).transpose()
}

async fn lock_number_by_id(tx: &mut PgConnection, id: i64) -> Result<Option<NumberRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {NUMBER_COLUMNS} FROM numbering.numbers n WHERE n.id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

async fn lock_lease(tx: &mut PgConnection, id: LeaseId) -> Result<Option<LeaseRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {LEASE_COLUMNS} FROM numbering.leases l WHERE l.id = $1 FOR UPDATE"
    ))
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?)
}

/// A lease handle must be the identifier's current lease.
fn current_lease_matches(l: &LeaseRow, n: &NumberRow) -> Result<()> {
    let current = l.status != LeaseStatus::Ended.as_str()
        && n.tenant_id.as_deref() == Some(l.tenant_id.as_str());
    if current {
        Ok(())
    } else {
        Err(LifecycleError::Conflict)
    }
}

async fn open_quarantine_end(
    tx: &mut PgConnection,
    number_id: i64,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT ends_at FROM numbering.quarantine_records WHERE number_id = $1 AND ended_at IS NULL",
    )
    .bind(number_id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// The `step` that ends reservation `$16` with `status`.
fn end_reservation(status: &str) -> String {
    format!(
        "step AS (UPDATE numbering.reservations AS r SET status = '{status}', ended_at = now() \
         FROM moved WHERE r.id = $16 RETURNING {RESERVATION_COLUMNS})"
    )
}

/// What the number row becomes in a change (besides its state).
struct Moved<'a> {
    /// The holder after the change.
    tenant: Option<&'a str>,
    /// The reservation's expiry, for RESERVED and HELD.
    reserved_until: Option<DateTime<Utc>>,
}

impl Moved<'_> {
    /// No holder, no reservation: released, quarantined, available.
    fn released() -> Self {
        Self {
            tenant: None,
            reserved_until: None,
        }
    }
}

fn change<'a>(
    transition: Transition,
    number: &'a NumberRow,
    from: NumberState,
    to: NumberState,
    tenant_id: Option<&'a str>,
    details: Value,
) -> Change<'a> {
    Change {
        transition,
        number,
        from,
        to,
        // the compare-and-swap below moves exactly this version on by one
        new_version: number.version + 1,
        tenant_id,
        details,
        lease: None,
    }
}

/// Writes a change in one statement: the compare-and-swap of the number row
/// (`moved`: it matches only if nobody changed the row since `change.number`
/// was read), the audit entry and the outbox event and, with `step`, the
/// transition's own row. Everything but the swap is `… FROM moved`, so when
/// the swap misses nothing at all is written and the result is `Conflict`.
///
/// `step` is one or more CTE definitions, one named `step` whose RETURNING
/// row is the result; its placeholders start at `$16` and `bind_step` binds
/// them. Without a step the result is the new version.
async fn commit_change<O>(
    tx: &mut PgConnection,
    ctx: &Ctx,
    change: Change<'_>,
    moved: Moved<'_>,
    step: Option<&str>,
    bind_step: impl for<'q> FnOnce(
        QueryAs<'q, Postgres, O, PgArguments>,
    ) -> QueryAs<'q, Postgres, O, PgArguments>,
) -> Result<O>
where
    O: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = format!(
        "WITH moved AS ( \
             UPDATE numbering.numbers SET state = $3::numbering.number_state, tenant_id = $4, \
                 reserved_until = $5, version = version + 1, state_changed_at = now() \
             WHERE id = $1 AND version = $2 RETURNING version), \
         audit AS ( \
             INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
             SELECT $6, $7, $8, $9, $10::json, $11::json, $12 FROM moved), \
         {} {}",
        record::CHANGE_EVENTS_CTE,
        match step {
            Some(step) => format!(", {step} SELECT * FROM step"),
            None => "SELECT version FROM moved".to_owned(),
        }
    );
    let entry = change.entry(ctx);
    let event_ids = entry.event_ids();
    let n = change.number;
    let q = sqlx::query_as::<_, O>(&sql)
        .bind(n.id)
        .bind(n.version)
        .bind(change.to.as_str())
        .bind(moved.tenant)
        .bind(moved.reserved_until)
        .bind(ctx.actor.label())
        .bind(change.transition.as_str())
        .bind(change.tenant_id)
        .bind(&n.identifier)
        .bind(entry.before)
        .bind(entry.after)
        .bind(ctx.request_id.as_deref())
        .bind(event_ids)
        .bind(entry.event_types)
        .bind(entry.payloads);
    bind_step(q)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(LifecycleError::Conflict)
}

/// `from + d`, to the millisecond, as the database would compute it.
fn after(from: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>> {
    from.checked_add_signed(Duration::milliseconds(d.num_milliseconds()))
        .ok_or_else(|| LifecycleError::Corrupt(format!("{from} + {d} is out of range")))
}

/// Lapses the reservation on `key` if its TTL has passed (whoever holds it)
/// and records the expiry. Returns whether it lapsed one.
async fn lapse(tx: &mut PgConnection, ctx: &Ctx, key: &str) -> Result<bool> {
    type Row = (
        i64,
        String,
        String,
        uuid::Uuid,
        String,
        String,
        DateTime<Utc>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT number_id, identifier, kind, reservation_id, tenant_id, from_state::text, expires_at, new_version \
         FROM numbering.lapse_reservation($1)",
    )
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((
        number_id,
        identifier,
        kind,
        reservation_id,
        tenant_id,
        from_state,
        expires_at,
        new_version,
    )) = row
    else {
        return Ok(false);
    };
    let from: NumberState = model::parse("number state", &from_state)?;
    let n = NumberRow {
        id: number_id,
        identifier,
        kind,
        state: from_state,
        tenant_id: Some(tenant_id.clone()),
        reserved_until: Some(expires_at),
        operator_id: None,
        mcc: None,
        mnc: None,
        vanity: false,
        version: new_version - 1,
        now: expires_at,
    };
    // the expiry is the system's doing, whoever's request noticed it
    let system = Ctx {
        actor: Actor::system("reservation-expiry"),
        request_id: ctx.request_id.clone(),
    };
    let change = Change {
        transition: Transition::ExpireReservation,
        number: &n,
        from,
        to: NumberState::Available,
        new_version,
        tenant_id: Some(&tenant_id),
        details: json!({ "reservation_id": reservation_id.to_string(), "expired_at": expires_at }),
        lease: None,
    };
    record::record(tx, &system, change).await?;
    Ok(true)
}

/// Whether a reservation with `status` has expired by `now`: live past its
/// TTL (its expiry not recorded yet) or recorded as expired.
fn lapsed(status: crate::ReservationStatus, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == crate::ReservationStatus::Expired || (status.is_live() && expires_at <= now)
}

/// Ends a transition's transaction (`tx`, which `result` ran in). A
/// success commits. An invalid transition commits too: it refused before
/// writing anything of its own, so its transaction holds only the ops event
/// that counts it (and any lapsed reservation it noticed, which expired
/// either way), written on this same connection. Any other refusal or
/// failure rolls back.
async fn settle<T>(tx: crate::scope::Tx, result: Result<T>) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e @ LifecycleError::InvalidTransition(_)) => {
            if let Err(c) = tx.commit().await {
                tracing::warn!(error = %c, "could not record the invalid-transition ops event");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// A new reservation, counted.
fn reserved(r: ReservationRow) -> Result<Reservation> {
    let r = r.into_domain()?;
    metrics::counter!("numbering_reserve_total", "kind" => r.identifier.kind().as_str())
        .increment(1);
    Ok(r)
}

fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}
