//! What happens to an ended contract's identifiers after its end: the
//! sweeper recalls its flagged leases at term end and retires what is
//! left; and the bulk retirement the end itself uses.
//!
//! Retirement goes through the lifecycle table ([`Transition::Retire`]:
//! its sources, its target, its actors) and writes, per chunk, one
//! statement: the numbers' compare-and-swaps, their open quarantines'
//! ends, one audit entry and one `number.retired.v1` each, the same JSON a
//! single `retire` writes (`Change::entry`).

use numbering_shared::{LeaseId, NumberState, QuarantineReason, Transition, lifecycle};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Store,
    contracts::CONTRACT_ENDED,
    rows::{current_lease_matches, lock_lease, lock_number_by_id},
    write::{Moved, NoStep, change, commit_change},
};
use crate::{
    LifecycleError,
    model::{LeaseRow, NumberRow, Placement},
    record::{Ctx, LeaseFacts},
    scope::{self, Scope},
};

impl Store {
    /// Recalls lease `id` of an ended contract once its `recall_at` has
    /// come, and retires its identifier, in one transaction: `recall`
    /// (`number.recalled.v1`, `lease.recalled.v1`, reason
    /// `CONTRACT_ENDED`), then `retire` (`number.retired.v1`). `false`: not
    /// due (not flagged, not yet, or no longer current).
    pub async fn recall_ended_contract_lease(
        &self,
        ctx: &Ctx,
        id: LeaseId,
    ) -> Result<bool, LifecycleError> {
        self.transition(Scope::Platform, async |tx| {
            let Some(l) = lock_lease(tx, id).await? else {
                return Ok(false);
            };
            let due: bool = sqlx::query_scalar(
                "SELECT recall_at <= now() AND status IN ('ACTIVE', 'SUSPENDED') \
                 FROM numbering.leases WHERE id = $1",
            )
            .bind(l.id)
            .fetch_one(&mut *tx)
            .await
            .map(|d: Option<bool>| d.unwrap_or(false))?;
            if !due {
                return Ok(false);
            }
            self.recall_flagged(tx, ctx, &l).await?;
            Ok(true)
        })
        .await
    }

    async fn recall_flagged(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        l: &LeaseRow,
    ) -> Result<(), LifecycleError> {
        let t = Transition::Recall;
        let n = lock_number_by_id(tx, l.number_id)
            .await?
            .ok_or(LifecycleError::Conflict)?;
        let from = n.effective_state()?;
        let to = self.decide(tx, ctx, &n, from, t).await?;
        current_lease_matches(l, &n)?;
        let (mut details, _) = self
            .quarantine(tx, &n, l, QuarantineReason::Recalled)
            .await?;
        let quarantine_id = details["quarantine_id"]
            .as_str()
            .and_then(|q| q.parse::<Uuid>().ok());
        details["reason"] = json!(CONTRACT_ENDED);
        let mut recall = change(t, &n, (from, to), Some(&l.tenant_id), details);
        recall.lease = Some(LeaseFacts::after(t, l, n.now));
        commit_change(tx, ctx, recall, Moved::released(), NoStep).await?;
        // the identifier's contract is over: out of inventory for good
        let n = lock_number_by_id(tx, l.number_id)
            .await?
            .ok_or(LifecycleError::Conflict)?;
        let retired = ToRetire {
            number: n,
            quarantine_id,
        };
        retire_rows(tx, ctx, vec![retired]).await?;
        Ok(())
    }

    /// Retires up to `limit` AVAILABLE or QUARANTINED identifiers of ended
    /// contracts left over (a lease of one released or expired before its
    /// recall, a reservation that lapsed): the sweeper's tidy-up.
    pub async fn retire_ended_contracts_inventory(
        &self,
        ctx: &Ctx,
        limit: i64,
    ) -> Result<usize, LifecycleError> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let n = retire_ended(&mut tx, ctx, None, limit).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Current leases flagged for recall whose `recall_at` has come,
    /// soonest first.
    pub async fn leases_due_for_recall(&self, limit: i64) -> Result<Vec<LeaseId>, LifecycleError> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM numbering.leases \
             WHERE recall_at IS NOT NULL AND status IN ('ACTIVE', 'SUSPENDED') AND recall_at <= now() \
             ORDER BY recall_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(LeaseId::from_uuid).collect())
    }
}

/// Identifiers retired per statement when a contract ends.
pub(super) const RETIRE_CHUNK: i64 = 5_000;

/// One identifier to retire, locked, with its open quarantine if any.
struct ToRetire {
    number: NumberRow,
    quarantine_id: Option<Uuid>,
}

/// Locks up to `limit` identifiers that [`Transition::Retire`] may start
/// from, of contract `contract` (which has ended) or, with `None`, of any
/// ended contract, and retires them.
pub(super) async fn retire_ended(
    tx: &mut PgConnection,
    ctx: &Ctx,
    contract: Option<Uuid>,
    limit: i64,
) -> Result<usize, LifecycleError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        identifier: String,
        kind: String,
        state: String,
        version: i64,
        now: chrono::DateTime<chrono::Utc>,
        quarantine_id: Option<Uuid>,
    }
    let sources: Vec<&str> = Transition::Retire
        .sources()
        .iter()
        .map(|s| s.as_str())
        .collect();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id, n.identifier, n.kind::text AS kind, n.state::text AS state, n.version, now() AS now, \
                (SELECT q.id FROM numbering.quarantine_records q \
                 WHERE q.number_id = n.id AND q.ended_at IS NULL) AS quarantine_id \
         FROM numbering.numbers n \
         WHERE n.state::text = ANY($1) AND n.contract_id IN \
           (SELECT c.id FROM numbering.lease_contracts c WHERE c.status = 'ENDED' \
              AND ($2::uuid IS NULL OR c.id = $2)) \
         ORDER BY n.id LIMIT $3 FOR UPDATE OF n",
    )
    .bind(&sources)
    .bind(contract)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| ToRetire {
            number: NumberRow {
                id: r.id,
                identifier: r.identifier,
                kind: r.kind,
                state: r.state,
                tenant_id: None,
                reserved_until: None,
                version: r.version,
                now: r.now,
                placement: Placement::default(),
            },
            quarantine_id: r.quarantine_id,
        })
        .collect();
    retire_rows(tx, ctx, rows).await
}

/// Retires `rows` (locked) in one statement: each one's compare-and-swap,
/// its open quarantine closed (`RETIRED`), its audit entry and its
/// `number.retired.v1`, as the lifecycle table allows. Any missed swap
/// writes nothing and is `Conflict`.
async fn retire_rows(
    tx: &mut PgConnection,
    ctx: &Ctx,
    rows: Vec<ToRetire>,
) -> Result<usize, LifecycleError> {
    let t = Transition::Retire;
    let mut cols = RetireColumns::default();
    for r in &rows {
        let n = &r.number;
        let from = n.state()?;
        let to = match lifecycle::apply(from, t, ctx.actor.kind()) {
            Ok(to) => to,
            Err(lifecycle::TransitionError::Invalid(i)) => return Err(i.into()),
            Err(lifecycle::TransitionError::NotPermitted { transition, actor }) => {
                return Err(LifecycleError::NotPermitted { transition, actor });
            }
        };
        let mut details = json!({ "reason": CONTRACT_ENDED });
        if let (NumberState::Quarantined, Some(q)) = (from, r.quarantine_id) {
            details["quarantine_id"] = json!(q.to_string());
            details["ended_by"] = json!("RETIRED");
        }
        let entry = change(t, n, (from, to), None, details).entry(ctx);
        cols.push(n, entry);
    }
    if cols.ids.is_empty() {
        return Ok(0);
    }
    let expected = cols.ids.len();
    let moved: i64 = sqlx::query_scalar(RETIRE_ROWS)
        .bind(&cols.ids)
        .bind(&cols.versions)
        .bind(&cols.subjects)
        .bind(&cols.befores)
        .bind(&cols.afters)
        .bind(&cols.event_ids)
        .bind(&cols.payloads)
        .bind(t.target().as_str())
        .bind(ctx.actor.label())
        .bind(ctx.request_id.as_deref())
        .fetch_one(&mut *tx)
        .await?;
    if moved as usize != expected {
        return Err(LifecycleError::Conflict);
    }
    Ok(expected)
}

/// The columns of [`RETIRE_ROWS`]: one element per identifier.
#[derive(Default)]
struct RetireColumns {
    ids: Vec<i64>,
    versions: Vec<i64>,
    subjects: Vec<String>,
    befores: Vec<String>,
    afters: Vec<String>,
    event_ids: Vec<Uuid>,
    payloads: Vec<String>,
}

impl RetireColumns {
    fn push(&mut self, n: &NumberRow, entry: crate::record::Entry) {
        self.ids.push(n.id);
        self.versions.push(n.version);
        self.subjects.push(n.identifier.clone());
        self.befores.push(entry.before);
        self.afters.push(entry.after);
        self.event_ids.push(Uuid::now_v7());
        self.payloads
            .push(entry.payloads.into_iter().next().unwrap_or_default());
    }
}

/// Bulk retirement: every write `… FROM moved`, so a row whose swap misses
/// writes nothing (and the count tells).
const RETIRE_ROWS: &str = "WITH t AS ( \
       SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::text[]) \
         AS t(id, version, subject, before, after, event_id, payload)), \
     moved AS ( \
       UPDATE numbering.numbers n SET state = $8::numbering.number_state, tenant_id = NULL, \
           reserved_until = NULL, version = n.version + 1, state_changed_at = now() \
       FROM t WHERE n.id = t.id AND n.version = t.version RETURNING n.id), \
     closed AS ( \
       UPDATE numbering.quarantine_records q SET ended_at = now(), ended_by = 'RETIRED' \
       FROM moved m WHERE q.number_id = m.id AND q.ended_at IS NULL RETURNING q.id), \
     audit AS ( \
       INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
       SELECT $9, 'retire', NULL, t.subject, t.before::json, t.after::json, $10 \
       FROM t JOIN moved m ON m.id = t.id ORDER BY t.id), \
     event AS ( \
       INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
       SELECT t.event_id, 'NUMBERING_EVENTS', 'number.retired.v1', 'number', t.subject, NULL, t.payload::json \
       FROM t JOIN moved m ON m.id = t.id ORDER BY t.id) \
     SELECT count(*) FROM moved";
