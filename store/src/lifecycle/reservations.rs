//! The reservation transitions: reserve (a given identifier, or any that
//! matches), hold, cancel, and the expiry of lapsed reservations.

use chrono::{DateTime, Utc};
use numbering_shared::{
    AccountId, Identifier, NumberState, ReservationId, TenantId, Transition, lifecycle, quota,
};
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    Result, Store,
    rows::{
        Pool, account_quota, inventory_state, lock_number_by_key, lock_pool, open_quarantine_end,
    },
    write::{Holding, Moved, Step, after, change, commit_change},
};
use crate::{
    LifecycleError, NotAllowed, Reservation, ReservationStatus,
    model::{self, NumberRow, Placement, ReservationRow, number_columns, reservation_columns},
    query::{admitted_by_pool, bind_all},
    record::{self, Actor, Change, Ctx},
    scope::{self, Scope},
};

impl Store {
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
        self.reserve_for(ctx, tenant, None, identifier).await
    }

    /// [`Store::reserve`] for one of the tenant's accounts (`None`:
    /// tenant-wide): the reservation records the account and must fit
    /// under the account's quota as well as the tenant's (`QuotaExceeded`
    /// says which scope refused); `NotAllowed` for an account the pool
    /// does not have.
    pub async fn reserve_for(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        account: Option<&AccountId>,
        identifier: &Identifier,
    ) -> Result<Reservation> {
        let key = identifier.key();
        let r = self
            .transition(Scope::Tenant(tenant), async |tx| {
                let pool = lock_pool_for(tx, tenant, account).await?;
                lapse(tx, ctx, &key).await?;
                let Some(n) = lock_number_by_key(tx, &key).await? else {
                    // invisible to this tenant: held by another one, or not in inventory
                    return Err(match inventory_state(tx, &key).await? {
                        Some(_) => LifecycleError::Conflict,
                        None => LifecycleError::NotFound("identifier"),
                    });
                };
                self.reserve_locked(tx, ctx, tenant, &pool, n).await
            })
            .await?;
        reserved(r)
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
        self.reserve_any_for(ctx, tenant, None, criteria).await
    }

    /// [`Store::reserve_any`] for one of the tenant's accounts, checked as
    /// [`Store::reserve_for`] checks it.
    pub async fn reserve_any_for(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        account: Option<&AccountId>,
        criteria: &crate::Criteria,
    ) -> Result<Reservation> {
        let r = self
            .transition(Scope::Tenant(tenant), async |tx| {
                let pool = lock_pool_for(tx, tenant, account).await?;
                // the pool's own limits narrow the search, so "any" never
                // picks what the checks of `reserve_locked` would refuse
                let n = pick_available(tx, criteria)
                    .await?
                    .ok_or(LifecycleError::NotFound(
                        "available identifier matching the criteria",
                    ))?;
                self.reserve_locked(tx, ctx, tenant, &pool, n).await
            })
            .await?;
        reserved(r)
    }

    /// The rest of a reservation once the pool and the number are locked.
    async fn reserve_locked(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        tenant: &TenantId,
        pool: &AccountPool<'_>,
        n: NumberRow,
    ) -> Result<ReservationRow> {
        let from = n.effective_state()?;
        match from {
            NumberState::Available | NumberState::Retired => {}
            NumberState::Quarantined => {
                let until = open_quarantine_end(tx, n.id).await?;
                return Err(LifecycleError::QuarantineActive { until });
            }
            NumberState::Reserved
            | NumberState::Held
            | NumberState::Assigned
            | NumberState::Suspended => return Err(LifecycleError::Conflict),
        }
        let to = self.decide(tx, ctx, &n, from, Transition::Reserve).await?;
        let (tenant_pool, account) = (&pool.pool, &pool.account);
        tenant_pool
            .rules
            .admits(&n.candidate()?)
            .map_err(NotAllowed::from)?;
        quota::check_reserve_scoped(
            n.kind()?,
            (&tenant_pool.usage, &tenant_pool.quotas),
            account.as_ref().map(|(_, usage, quotas)| (usage, quotas)),
        )?;

        let until = after(n.now, self.policy.reservation_ttl)?;
        let id = ReservationId::new();
        let account_id = account.as_ref().map(|(id, ..)| id.as_str().to_owned());
        let mut details = json!({ "reservation_id": id.to_string(), "reserved_until": until });
        if let Some(a) = &account_id {
            details["account_id"] = json!(a);
        }
        let change = change(
            Transition::Reserve,
            &n,
            (from, to),
            Some(tenant.as_str()),
            details,
        );
        let moved = Moved::held_by(Some(tenant.as_str()), Some(until));
        let step = NewReservation {
            id,
            holding: Holding::of(&n, tenant),
            until,
            account_id,
        };
        commit_change(tx, ctx, change, moved, step).await
    }

    /// RESERVED → HELD, extending the reservation to the hold TTL.
    pub async fn hold(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Reservation> {
        let ttl = self.policy.hold_ttl;
        self.move_reservation(ctx, tenant, id, Transition::Hold, |reservation, n| {
            let until = after(n.now, ttl)?;
            Ok((
                json!({ "reservation_id": id.to_string(), "reserved_until": until }),
                Moved::held_by(Some(tenant.as_str()), Some(until)),
                HeldReservation { reservation, until },
            ))
        })
        .await
    }

    /// RESERVED / HELD → AVAILABLE at the tenant's request.
    pub async fn cancel(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Reservation> {
        self.move_reservation(ctx, tenant, id, Transition::Cancel, |reservation, _| {
            let details = json!({ "reservation_id": id.to_string() });
            Ok((
                details,
                Moved::released(),
                CancelledReservation { reservation },
            ))
        })
        .await
    }

    /// Moves the tenant's live reservation `id` by `t` (hold, cancel):
    /// `plan` says, from the reservation's id and its locked number, the
    /// change's audit details, what the number row becomes, and the step
    /// that writes the reservation.
    async fn move_reservation<'t, S: Step<Row = ReservationRow>>(
        &self,
        ctx: &Ctx,
        tenant: &'t TenantId,
        id: ReservationId,
        t: Transition,
        plan: impl FnOnce(Uuid, &NumberRow) -> Result<(Value, Moved<'t>, S)>,
    ) -> Result<Reservation> {
        self.transition(Scope::Tenant(tenant), async |tx| {
            let (reservation, n, states) = self.live_reservation(tx, ctx, id, t).await?;
            let (details, moved, step) = plan(reservation.id, &n)?;
            let change = change(t, &n, states, Some(tenant.as_str()), details);
            commit_change(tx, ctx, change, moved, step).await
        })
        .await?
        .into_domain()
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

    /// Locks the tenant's reservation and its number (one statement, the
    /// reservation's row first) and asks the rules about `t`; refuses one
    /// that has lapsed (to the second) with `ReservationExpired` whether or
    /// not its expiry has been recorded yet (by the sweeper, or by a reserve
    /// that noticed it): a refusal's code never depends on when background
    /// work ran. One that ended otherwise (consumed, cancelled) is an
    /// invalid transition. Returns the reservation (id, account), the number
    /// and its states before and after `t`.
    pub(super) async fn live_reservation(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        id: ReservationId,
        t: Transition,
    ) -> Result<(LiveReservation, NumberRow, (NumberState, NumberState))> {
        #[derive(sqlx::FromRow)]
        struct Locked {
            reservation_account_id: Option<String>,
            reservation_status: String,
            reservation_expires_at: DateTime<Utc>,
            reservation_tenant_id: String,
            #[sqlx(flatten)]
            number: NumberRow,
        }
        let locked: Option<Locked> = sqlx::query_as(concat!(
            "SELECT r.status::text AS reservation_status, r.expires_at AS reservation_expires_at, \
                    r.tenant_id AS reservation_tenant_id, r.account_id AS reservation_account_id, ",
            number_columns!(),
            " FROM numbering.reservations r JOIN numbering.numbers n ON n.id = r.number_id \
             WHERE r.id = $1 FOR UPDATE OF r, n"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(locked) = locked else {
            return Err(stale_reservation(tx, id).await?);
        };
        let n = locked.number;
        let status: ReservationStatus =
            model::parse("reservation status", &locked.reservation_status)?;
        if lapsed(status, locked.reservation_expires_at, n.now) {
            return Err(LifecycleError::ReservationExpired(
                locked.reservation_expires_at,
            ));
        }
        let from = n.effective_state()?;
        if !status.is_live() || n.tenant_id.as_deref() != Some(&locked.reservation_tenant_id) {
            // the reservation ended: whatever the number is doing now, this
            // handle cannot move it
            let invalid = lifecycle::InvalidTransition {
                from,
                transition: t,
            };
            return Err(self.invalid(tx, ctx, &n.identifier, invalid).await);
        }
        let to = self.decide(tx, ctx, &n, from, t).await?;
        let reservation = LiveReservation {
            id: id.as_uuid(),
            account_id: locked.reservation_account_id,
        };
        Ok((reservation, n, (from, to)))
    }
}

/// A live reservation, locked: its id and the account it was made for.
pub(super) struct LiveReservation {
    pub id: Uuid,
    pub account_id: Option<String>,
}

/// Why reservation `id` could not be locked with its number: there is no
/// such reservation, or its number is now held by another tenant (invisible
/// here): the reservation is stale, someone else got there first; unless it
/// had expired before they did.
async fn stale_reservation(tx: &mut PgConnection, id: ReservationId) -> Result<LifecycleError> {
    let found: Option<(String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT status::text, expires_at, now() FROM numbering.reservations WHERE id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match found {
        Some((status, expires_at, now)) => {
            let status = model::parse("reservation status", &status)?;
            if lapsed(status, expires_at, now) {
                LifecycleError::ReservationExpired(expires_at)
            } else {
                LifecycleError::Conflict
            }
        }
        None => LifecycleError::NotFound("reservation"),
    })
}

/// Locks one available identifier the tenant's pool admits that matches
/// `criteria`, skipping rows others hold.
///
/// Concurrent callers all starting at the first matching key would queue on
/// the same few rows (each skipping every row the others hold, and every
/// index entry they just made dead). So the scan starts at a random point
/// of the inventory (a random row's key, found by primary key) and wraps
/// around to the start only when nothing matches after it: any matching
/// identifier is a valid answer, and concurrent callers spread out.
async fn pick_available(
    tx: &mut PgConnection,
    criteria: &crate::Criteria,
) -> Result<Option<NumberRow>> {
    const FROM_RANDOM_POINT: &str = " AND n.identity_key >= (SELECT s.identity_key FROM numbering.numbers s \
        WHERE s.id >= (SELECT floor(random() * max(m.id))::bigint FROM numbering.numbers m) \
        ORDER BY s.id LIMIT 1)";
    let (filter, binds) = criteria.sql(1);
    for from in [FROM_RANDOM_POINT, ""] {
        let sql = format!(
            concat!(
                "SELECT ",
                number_columns!(),
                " FROM numbering.numbers n {} {} {} \
                 ORDER BY n.identity_key LIMIT 1 FOR UPDATE OF n SKIP LOCKED"
            ),
            admitted_by_pool(),
            filter,
            from
        );
        let n = bind_all(sqlx::query_as::<_, NumberRow>(&sql), binds.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if n.is_some() {
            return Ok(n);
        }
    }
    Ok(None)
}

/// The tenant's pool, locked, and the account a reservation is for with
/// its usage and quotas (read under the pool's lock).
struct AccountPool<'a> {
    pool: Pool,
    account: Option<(
        &'a AccountId,
        numbering_shared::Usage,
        numbering_shared::Quotas,
    )>,
}

/// Locks `tenant`'s pool ([`lock_pool`]), then reads `account`'s quota.
async fn lock_pool_for<'a>(
    tx: &mut PgConnection,
    tenant: &TenantId,
    account: Option<&'a AccountId>,
) -> Result<AccountPool<'a>> {
    let pool = lock_pool(tx, tenant).await?;
    let account = match account {
        Some(id) => {
            let (usage, quotas) = account_quota(tx, tenant, id).await?;
            Some((id, usage, quotas))
        }
        None => None,
    };
    Ok(AccountPool { pool, account })
}

/// A new reservation row (reserve).
struct NewReservation {
    id: ReservationId,
    holding: Holding,
    until: DateTime<Utc>,
    account_id: Option<String>,
}

impl Step for NewReservation {
    type Row = ReservationRow;

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push(
            "step AS (INSERT INTO numbering.reservations AS r \
             (id, number_id, identifier, kind, tenant_id, status, expires_at, account_id) SELECT ",
        );
        let mut values = q.separated(", ");
        values.push_bind(self.id.as_uuid());
        self.holding.push_values(&mut values);
        values
            .push("'RESERVED'")
            .push_bind(self.until)
            .push_bind(self.account_id);
        q.push(concat!(
            " FROM moved RETURNING ",
            reservation_columns!(),
            ")"
        ));
    }
}

/// A reservation held until `until` (hold).
struct HeldReservation {
    reservation: Uuid,
    until: DateTime<Utc>,
}

impl Step for HeldReservation {
    type Row = ReservationRow;

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push("step AS (UPDATE numbering.reservations AS r SET status = 'HELD', held_at = now(), expires_at = ")
            .push_bind(self.until)
            .push(" FROM moved WHERE r.id = ")
            .push_bind(self.reservation)
            .push(concat!(" RETURNING ", reservation_columns!(), ")"));
    }
}

/// A reservation ended at the tenant's request (cancel).
struct CancelledReservation {
    reservation: Uuid,
}

impl Step for CancelledReservation {
    type Row = ReservationRow;

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push("step AS (UPDATE numbering.reservations AS r SET status = 'CANCELLED', ended_at = now() FROM moved WHERE r.id = ")
            .push_bind(self.reservation)
            .push(concat!(" RETURNING ", reservation_columns!(), ")"));
    }
}

/// Lapses the reservation on `key` if its TTL has passed (whoever holds it)
/// and records the expiry. Returns whether it lapsed one.
pub(super) async fn lapse(tx: &mut PgConnection, ctx: &Ctx, key: &str) -> Result<bool> {
    #[derive(sqlx::FromRow)]
    struct Lapsed {
        number_id: i64,
        identifier: String,
        kind: String,
        reservation_id: Uuid,
        tenant_id: String,
        from_state: String,
        expires_at: DateTime<Utc>,
        new_version: i64,
    }
    let row: Option<Lapsed> = sqlx::query_as(
        "SELECT number_id, identifier, kind, reservation_id, tenant_id, from_state::text AS from_state, \
                expires_at, new_version \
         FROM numbering.lapse_reservation($1)",
    )
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(l) = row else {
        return Ok(false);
    };
    let n = NumberRow {
        id: l.number_id,
        identifier: l.identifier,
        kind: l.kind,
        state: l.from_state,
        tenant_id: Some(l.tenant_id.clone()),
        reserved_until: Some(l.expires_at),
        version: l.new_version - 1,
        now: l.expires_at,
        placement: Placement::default(),
    };
    // the expiry is the system's doing, whoever's request noticed it
    let system = Ctx {
        actor: Actor::system("reservation-expiry"),
        request_id: ctx.request_id.clone(),
        trace_id: ctx.trace_id.clone(),
        audit_facts: None,
    };
    let change = Change {
        transition: Transition::ExpireReservation,
        number: &n,
        from: n.state()?,
        to: NumberState::Available,
        new_version: l.new_version,
        tenant_id: Some(&l.tenant_id),
        details: json!({ "reservation_id": l.reservation_id.to_string(), "expired_at": l.expires_at }),
        lease: None,
    };
    record::record(tx, &system, change).await?;
    Ok(true)
}

/// Whether a reservation with `status` has expired by `now`: live past its
/// TTL (its expiry not recorded yet) or recorded as expired.
fn lapsed(status: ReservationStatus, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    status == ReservationStatus::Expired || (status.is_live() && expires_at <= now)
}

/// A new reservation, counted.
fn reserved(r: ReservationRow) -> Result<Reservation> {
    let r = r.into_domain()?;
    metrics::counter!("numbering_reserve_total", "kind" => r.identifier.kind().as_str())
        .increment(1);
    Ok(r)
}
