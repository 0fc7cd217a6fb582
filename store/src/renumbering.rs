//! Bulk renumbering: an operator moves a block of MSISDNs to a new prefix
//! (`+9379…` becomes `+9377…`) at a cutover.
//!
//! A plan ([`Store::plan_renumbering`]) is a row of `renumberings`:
//! operator, old and new prefix, cutover, optional parallel-running window.
//! Its dry run ([`Store::renumbering_dry_run`]) counts what would move per
//! state and lists the conflicts (a new identifier already in inventory).
//!
//! Applying it ([`Store::apply_renumbering`]) is one transaction, so a
//! crash halfway leaves nothing of it and a re-run does it all; re-applying
//! an applied plan changes nothing and answers with it. Set-based SQL, not
//! a loop (see [`apply`]): each number of the block gets a new inventory
//! row that takes over its state, holder, version (+1), leases (same ids,
//! tenants and terms), reservations and quarantine records; the old row is
//! retired; `identifier_links` records old → new; each number gets two
//! audit entries (action `renumber`, subject the old and the new
//! identifier) and one `number.renumbered.v1` event, and the operation one
//! entry (`renumbering.apply`, subject the plan's id).
//!
//! ValidateLease follows a link: until the window ends (at once, without
//! one) the old identifier answers with the new number's verdict
//! (`snapshots::SNAPSHOT_OF_KEY`), and the relay moves the old
//! identifier's caches with every event of the new one meanwhile.

mod apply;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, renumbering::RenumberingPlan};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    LifecycleError, Store, is_constraint_violation,
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

pub use apply::Applied;

/// The audit action of a plan.
pub const PLANNED_ACTION: &str = "renumbering.plan";
/// The audit action of an apply (subject: the plan's id).
pub const APPLIED_ACTION: &str = "renumbering.apply";
/// The audit action of each moved number (subject: old and new identifier).
pub const RENUMBER_ACTION: &str = "renumber";
/// The event of each moved number (stream `NUMBERING_EVENTS`).
pub const RENUMBERED_EVENT: &str = "number.renumbered.v1";

/// Most conflicts a dry run or a refused apply names.
pub const CONFLICT_SAMPLE: i64 = 100;

/// A plan, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Renumbering {
    pub id: Uuid,
    pub operator_id: String,
    pub old_prefix: String,
    pub new_prefix: String,
    pub cutover_at: DateTime<Utc>,
    pub parallel_until: Option<DateTime<Utc>>,
    /// PLANNED or APPLIED.
    pub status: String,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub applied_by: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    /// Numbers moved per state, once applied.
    pub counts: Option<sqlx::types::Json<Value>>,
    pub moved: Option<i32>,
}

const COLUMNS: &str = "id, operator_id, old_prefix, new_prefix, cutover_at, parallel_until, \
    status::text AS status, requested_by, created_at, applied_by, applied_at, counts, moved";

/// A new identifier of the block that is already in inventory.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Conflict {
    pub old_identifier: String,
    pub new_identifier: String,
    /// The state of the inventory row holding the new identifier.
    pub new_state: String,
}

/// What applying a plan would move now.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Numbers of the block (not retired), per state.
    pub counts: BTreeMap<String, i64>,
    pub total: i64,
    /// The first [`CONFLICT_SAMPLE`] conflicts, by old identifier.
    pub conflicts: Vec<Conflict>,
    pub conflict_count: i64,
    /// Whether the cutover has come (apply is refused before it).
    pub due: bool,
}

/// Why a renumbering operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RenumberingError {
    #[error("renumbering not found")]
    NotFound,
    #[error("operator_id names no operator")]
    UnknownOperator,
    #[error("the cutover is at {0}; a renumbering is applied from then on")]
    NotDue(DateTime<Utc>),
    #[error("{count} new identifiers of the block are already in inventory; nothing was moved")]
    Conflicts { count: i64, sample: Vec<Conflict> },
    #[error(transparent)]
    Store(#[from] LifecycleError),
}

impl From<sqlx::Error> for RenumberingError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl RenumberingError {
    /// The stable code of the problem (`Store`'s own otherwise).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::UnknownOperator => "VALIDATION_FAILED",
            Self::NotDue(_) => "RENUMBERING_NOT_DUE",
            Self::Conflicts { .. } => "RENUMBERING_CONFLICT",
            Self::Store(e) => e.code(),
        }
    }
}

type Result<T, E = RenumberingError> = std::result::Result<T, E>;

/// The block of plan `r.*`: the operator's MSISDNs (not retired) whose
/// identifier starts with the old prefix (a seq scan of `numbers`, n).
pub(crate) const BLOCK: &str = "n.kind = 'MSISDN' AND n.operator_id = r.operator_id \
    AND n.state <> 'RETIRED' AND left(n.identifier, length(r.old_prefix)) = r.old_prefix";

/// The new identifier of `n` under plan `r`.
pub(crate) const NEW_IDENTIFIER: &str =
    "r.new_prefix || substr(n.identifier, length(r.old_prefix) + 1)";

/// One link of an identifier, for its history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentifierLink {
    pub old_identifier: String,
    pub new_identifier: String,
    pub renumbering_id: Uuid,
    pub linked_at: DateTime<Utc>,
    pub parallel_until: Option<DateTime<Utc>>,
}

impl Store {
    /// Records a plan (PLANNED), with its audit entry.
    pub async fn plan_renumbering(&self, ctx: &Ctx, plan: &RenumberingPlan) -> Result<Renumbering> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let r: Renumbering = sqlx::query_as(&format!(
            "INSERT INTO numbering.renumberings \
             (id, operator_id, old_prefix, new_prefix, cutover_at, parallel_until, requested_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(plan.operator_id())
        .bind(plan.old_prefix())
        .bind(plan.new_prefix())
        .bind(plan.cutover_at())
        .bind(plan.parallel_until())
        .bind(ctx.actor.label())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_constraint_violation(&e, "renumberings_operator_id_fkey") {
                RenumberingError::UnknownOperator
            } else {
                e.into()
            }
        })?;
        let after = plan_json(&r);
        let subject = r.id.to_string();
        record_admin_action(
            &mut tx,
            ctx,
            PLANNED_ACTION,
            &subject,
            None,
            None,
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// One plan.
    pub async fn renumbering(&self, id: Uuid) -> Result<Renumbering> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let r: Option<Renumbering> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM numbering.renumberings WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        r.ok_or(RenumberingError::NotFound)
    }

    /// The newest plans first.
    pub async fn renumberings(&self, limit: i64) -> Result<Vec<Renumbering>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM numbering.renumberings ORDER BY created_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// What applying plan `id` would move now, and its conflicts.
    pub async fn renumbering_dry_run(&self, id: Uuid) -> Result<DryRun> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let due: Option<bool> = sqlx::query_scalar(
            "SELECT cutover_at <= now() FROM numbering.renumberings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let due = due.ok_or(RenumberingError::NotFound)?;
        let per_state: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT n.state::text, count(*) FROM numbering.renumberings r \
             JOIN numbering.numbers n ON {BLOCK} WHERE r.id = $1 GROUP BY 1 ORDER BY 1"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let (conflict_count, conflicts) = conflicts(&mut tx, ConflictSource::Plan(id)).await?;
        tx.commit().await?;
        let total = per_state.iter().map(|(_, n)| n).sum();
        Ok(DryRun {
            counts: per_state.into_iter().collect(),
            total,
            conflicts,
            conflict_count,
            due,
        })
    }

    /// The links of `identifier`, as the old or the new one, oldest first.
    pub async fn identifier_links(&self, identifier: &Identifier) -> Result<Vec<IdentifierLink>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows = sqlx::query_as(
            "SELECT old_identifier, new_identifier, renumbering_id, linked_at, parallel_until \
             FROM numbering.identifier_links WHERE old_identifier = $1 OR new_identifier = $1 \
             ORDER BY linked_at, old_number_id",
        )
        .bind(identifier.key())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Where the block's new identifiers come from.
enum ConflictSource {
    /// Computed from the plan's block.
    Plan(Uuid),
    /// The apply's staged moves (`renumber_moves`).
    Staged,
}

/// How many of the block's new identifiers are in inventory (not
/// retired), and the first [`CONFLICT_SAMPLE`] of them. One probe of the
/// identity index per number (a lateral subquery the planner may not
/// flatten, `OFFSET 0`), whatever it thinks of the block's size: flattened,
/// a block it underestimates became the inner side of a nested loop, one
/// scan of `numbers` per number.
async fn conflicts(
    tx: &mut sqlx::PgConnection,
    source: ConflictSource,
) -> Result<(i64, Vec<Conflict>)> {
    let moves = match source {
        ConflictSource::Plan(_) => format!(
            "SELECT n.identifier AS old_identifier, {NEW_IDENTIFIER} AS new_identifier \
             FROM numbering.renumberings r JOIN numbering.numbers n ON {BLOCK} WHERE r.id = $1"
        ),
        ConflictSource::Staged => {
            "SELECT old_identifier, new_identifier FROM renumber_moves WHERE $1::uuid IS NULL"
                .to_owned()
        }
    };
    let id = match source {
        ConflictSource::Plan(id) => Some(id),
        ConflictSource::Staged => None,
    };
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
        "SELECT count(*) OVER (), m.old_identifier, m.new_identifier, x.state::text \
         FROM ({moves}) m \
         JOIN LATERAL (SELECT x.state FROM numbering.numbers x \
                       WHERE x.identity_key = m.new_identifier AND x.state <> 'RETIRED' \
                       OFFSET 0) x ON true \
         ORDER BY m.old_identifier LIMIT {CONFLICT_SAMPLE}"
    ))
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let count = rows.first().map_or(0, |r| r.0);
    let sample = rows
        .into_iter()
        .map(|(_, old_identifier, new_identifier, new_state)| Conflict {
            old_identifier,
            new_identifier,
            new_state,
        })
        .collect();
    Ok((count, sample))
}

/// The plan as its audit entries describe it.
fn plan_json(r: &Renumbering) -> Value {
    json!({
        "renumbering_id": r.id.to_string(),
        "operator_id": r.operator_id,
        "old_prefix": r.old_prefix,
        "new_prefix": r.new_prefix,
        "cutover_at": r.cutover_at,
        "parallel_until": r.parallel_until,
    })
}
