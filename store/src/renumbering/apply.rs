//! Applying a plan: one transaction of set-based statements over a staging
//! table of the block's moves (`renumber_moves`), a few round trips
//! whatever the size of the block.
//!
//! Locks are taken in the transitions' order (reservations and leases,
//! then numbers), so a concurrent transition queues behind the apply, or
//! the apply behind it, and whichever comes second sees the other's
//! commit: a transition that read a number before the apply fails its
//! compare-and-swap (the apply moves every version on), one that comes
//! after finds the old identifier retired.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    APPLIED_ACTION, BLOCK, ConflictSource, NEW_IDENTIFIER, RENUMBER_ACTION, RENUMBERED_EVENT,
    Renumbering, RenumberingError, Result, conflicts, plan_json,
};
use crate::{
    LifecycleError, Store,
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

/// Serialises applies (two plans may cover overlapping blocks).
const RENUMBER_LOCK: i64 = 0x6e75_6d5f_726e_6d62; // "num_rnmb"

/// The outcome of an apply.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Applied now.
    Now(Renumbering),
    /// It had been applied before; nothing changed.
    Before(Renumbering),
}

impl Applied {
    pub fn renumbering(&self) -> &Renumbering {
        match self {
            Applied::Now(r) | Applied::Before(r) => r,
        }
    }
}

impl Store {
    /// Applies plan `id`: all of its block or nothing (see the module
    /// docs). An applied plan is answered as [`Applied::Before`].
    ///
    /// MUST refuse with `NotDue` before the cutover and with `Conflicts`
    /// (moving nothing) when a new identifier is already in inventory.
    pub async fn apply_renumbering(&self, ctx: &Ctx, id: Uuid) -> Result<Applied> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        // a block of 100,000 numbers takes longer than an ordinary statement may
        sqlx::query("SET LOCAL statement_timeout = '600s'")
            .execute(&mut *tx)
            .await?;
        crate::lock::xact_lock(&mut tx, RENUMBER_LOCK).await?;
        let (plan, due) = lock_plan(&mut tx, id).await?;
        if plan.status == "APPLIED" {
            tx.commit().await?;
            return Ok(Applied::Before(plan));
        }
        if !due {
            return Err(RenumberingError::NotDue(plan.cutover_at));
        }
        let staged = stage(&mut tx, id).await?;
        let (count, sample) = conflicts(&mut tx, ConflictSource::Staged).await?;
        if count > 0 {
            return Err(RenumberingError::Conflicts { count, sample });
        }
        move_rows(&mut tx, id, staged).await?;
        record_moves(&mut tx, ctx, id).await?;
        let applied = mark_applied(&mut tx, ctx, &plan, staged).await?;
        tx.commit().await?;
        Ok(Applied::Now(applied))
    }
}

/// Locks the plan's row; with whether its cutover has come.
async fn lock_plan(tx: &mut PgConnection, id: Uuid) -> Result<(Renumbering, bool)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        plan: Renumbering,
        due: bool,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {}, cutover_at <= now() AS due FROM numbering.renumberings WHERE id = $1 FOR UPDATE",
        super::COLUMNS
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(RenumberingError::NotFound)?;
    Ok((row.plan, row.due))
}

/// Stages the block's moves and locks them (the numbers' reservations and
/// leases, then the numbers), then re-reads each staged number under its
/// lock (a number retired meanwhile is no longer moved); returns how many.
async fn stage(tx: &mut PgConnection, id: Uuid) -> Result<i64> {
    sqlx::query(
        "CREATE TEMPORARY TABLE renumber_moves (old_id bigint PRIMARY KEY, new_id bigint UNIQUE, \
             old_identifier text NOT NULL, new_identifier text NOT NULL UNIQUE, \
             state numbering.number_state NOT NULL, tenant_id text, version bigint NOT NULL) \
         ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO renumber_moves (old_id, old_identifier, new_identifier, state, tenant_id, version) \
         SELECT n.id, n.identifier, {NEW_IDENTIFIER}, n.state, n.tenant_id, n.version \
         FROM numbering.renumberings r JOIN numbering.numbers n ON {BLOCK} WHERE r.id = $1"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    // the planner's estimates of every join below
    sqlx::query("ANALYZE renumber_moves")
        .execute(&mut *tx)
        .await?;
    for (table, alias, key) in [
        ("reservations", "s", "number_id"),
        ("leases", "l", "number_id"),
        ("numbers", "n", "id"),
    ] {
        sqlx::query(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM numbering.{table} {alias} \
               JOIN renumber_moves m ON m.old_id = {alias}.{key} \
              ORDER BY {alias}.id FOR UPDATE OF {alias}) x"
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE renumber_moves m SET state = n.state, tenant_id = n.tenant_id, version = n.version \
         FROM numbering.numbers n WHERE n.id = m.old_id",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM renumber_moves WHERE state = 'RETIRED'")
        .execute(&mut *tx)
        .await?;
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM renumber_moves")
        .fetch_one(&mut *tx)
        .await?;
    Ok(staged)
}

/// The moves themselves: new inventory rows (state, holder, version + 1),
/// leases, reservations and quarantine records repointed, old rows
/// retired (compare-and-swap on the staged version), links recorded.
async fn move_rows(tx: &mut PgConnection, id: Uuid, staged: i64) -> Result<()> {
    let inserted = sqlx::query(
        "WITH ins AS (INSERT INTO numbering.numbers (identifier, identity_key, kind, state, tenant_id, \
             reserved_until, operator_id, mcc, mnc, contract_id, vanity, version, state_changed_at) \
           SELECT m.new_identifier, m.new_identifier, n.kind, n.state, n.tenant_id, n.reserved_until, \
                  n.operator_id, n.mcc, n.mnc, n.contract_id, n.vanity, n.version + 1, n.state_changed_at \
           FROM renumber_moves m JOIN numbering.numbers n ON n.id = m.old_id ORDER BY m.old_id \
           RETURNING id, identifier) \
         UPDATE renumber_moves m SET new_id = ins.id FROM ins WHERE ins.identifier = m.new_identifier",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut moved = vec![("new numbers", inserted)];
    for table in ["leases", "reservations", "quarantine_records"] {
        sqlx::query(&format!(
            "UPDATE numbering.{table} t SET number_id = m.new_id, identifier = m.new_identifier \
             FROM renumber_moves m WHERE t.number_id = m.old_id"
        ))
        .execute(&mut *tx)
        .await?;
    }
    let retired = sqlx::query(
        "UPDATE numbering.numbers n SET state = 'RETIRED', tenant_id = NULL, reserved_until = NULL, \
             version = n.version + 1, state_changed_at = now() \
         FROM renumber_moves m WHERE n.id = m.old_id AND n.version = m.version",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    moved.push(("retired numbers", retired));
    let linked = sqlx::query(
        "INSERT INTO numbering.identifier_links (old_number_id, new_number_id, old_identifier, \
             new_identifier, renumbering_id, parallel_until) \
         SELECT m.old_id, m.new_id, m.old_identifier, m.new_identifier, r.id, r.parallel_until \
         FROM renumber_moves m CROSS JOIN numbering.renumberings r WHERE r.id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    moved.push(("links", linked));
    for (what, n) in moved {
        if n as i64 != staged {
            // a number changed under the staged version: a concurrent writer won
            tracing::warn!(what, n, staged, "renumbering miscounted; rolled back");
            return Err(LifecycleError::Conflict.into());
        }
    }
    Ok(())
}

/// Each move's two audit entries (subject: the old identifier, then the
/// new one) and its `number.renumbered.v1` event, in old-identifier order.
async fn record_moves(tx: &mut PgConnection, ctx: &Ctx, id: Uuid) -> Result<()> {
    // the facts of a move, as the audit's `after` and the event's data share them
    const FACTS: &str = "jsonb_build_object('identifier', m.new_identifier, \
        'old_identifier', m.old_identifier, 'new_identifier', m.new_identifier, 'kind', 'MSISDN', \
        'transition', 'renumber', 'from_state', m.state, 'to_state', m.state, \
        'version', m.version + 1, 'tenant_id', m.tenant_id, 'lease_id', l.id, \
        'renumbering_id', r.id, 'parallel_until', r.parallel_until, 'actor', $2::text, \
        'request_id', $3::text) \
        || CASE WHEN $4::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('trace_id', $4::text) END";
    const MOVES: &str = "FROM renumber_moves m CROSS JOIN numbering.renumberings r \
        LEFT JOIN numbering.leases l ON l.number_id = m.new_id AND l.status IN ('ACTIVE', 'SUSPENDED')";
    sqlx::query(&format!(
        "INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
         SELECT $2, '{RENUMBER_ACTION}', m.tenant_id, s.subject, \
                json_build_object('identifier', m.old_identifier, 'state', m.state, \
                                  'tenant_id', m.tenant_id, 'version', m.version), \
                ({FACTS})::json, $3 \
         {MOVES} CROSS JOIN LATERAL (VALUES (m.old_identifier, 1), (m.new_identifier, 2)) s(subject, ord) \
         WHERE r.id = $1 ORDER BY m.old_identifier, s.ord"
    ))
    .bind(id)
    .bind(ctx.actor.label())
    .bind(ctx.request_id.as_deref())
    .bind(ctx.trace_id.as_deref())
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, \
             tenant_id, payload) \
         SELECT gen_random_uuid(), 'NUMBERING_EVENTS', '{RENUMBERED_EVENT}', 'number', \
                m.new_identifier, m.tenant_id, ({FACTS})::json \
         {MOVES} WHERE r.id = $1 ORDER BY m.old_identifier"
    ))
    .bind(id)
    .bind(ctx.actor.label())
    .bind(ctx.request_id.as_deref())
    .bind(ctx.trace_id.as_deref())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks the plan APPLIED with its counts per state, and records the
/// operation's own audit entry.
async fn mark_applied(
    tx: &mut PgConnection,
    ctx: &Ctx,
    plan: &Renumbering,
    moved: i64,
) -> Result<Renumbering> {
    let r: Renumbering = sqlx::query_as(&format!(
        "UPDATE numbering.renumberings SET status = 'APPLIED', applied_by = $2, applied_at = now(), \
             moved = $3, \
             counts = (SELECT coalesce(json_object_agg(state, n ORDER BY state), '{{}}'::json) \
                       FROM (SELECT state::text AS state, count(*) AS n FROM renumber_moves GROUP BY 1) c) \
         WHERE id = $1 RETURNING {}",
        super::COLUMNS
    ))
    .bind(plan.id)
    .bind(ctx.actor.label())
    .bind(i32::try_from(moved).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    let before = plan_json(plan);
    let mut after = before.clone();
    after["status"] = "APPLIED".into();
    after["moved"] = moved.into();
    after["counts"] = r
        .counts
        .as_ref()
        .map_or(serde_json::Value::Null, |c| c.0.clone());
    let subject = plan.id.to_string();
    record_admin_action(
        tx,
        ctx,
        APPLIED_ACTION,
        &subject,
        None,
        Some(&before),
        Some(&after),
    )
    .await?;
    Ok(r)
}
