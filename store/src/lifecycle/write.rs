//! How a transition writes its change: one statement, one round trip.
//!
//! The statement is a chain of CTEs built with a [`QueryBuilder`], which
//! numbers every placeholder as it is pushed: `moved` (the compare-and-swap
//! of the number row), `audit` and `event` (the audit entry and the outbox
//! events, [`record::push_entry`]), then the transition's own row, a
//! [`Step`] that pushes its SQL and its values together. Everything after
//! the swap is `… FROM moved`, so when the swap misses nothing at all is
//! written and the result is `Conflict`.

use chrono::{DateTime, Duration, Utc};
use numbering_shared::{NumberState, TenantId, Transition};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder, postgres::PgRow, query_builder::Separated};

use super::Result;
use crate::{
    LifecycleError,
    model::NumberRow,
    record::{self, Change, Ctx},
};

/// What the number row becomes in a change (besides its state).
pub(super) struct Moved<'a> {
    /// The holder after the change.
    pub tenant: Option<&'a str>,
    /// The reservation's expiry, for RESERVED and HELD.
    pub reserved_until: Option<DateTime<Utc>>,
}

impl<'a> Moved<'a> {
    /// No holder, no reservation: released, quarantined, available.
    pub fn released() -> Self {
        Self::held_by(None, None)
    }

    /// Held by `tenant`, reserved until `reserved_until` if it is a
    /// reservation.
    pub fn held_by(tenant: Option<&'a str>, reserved_until: Option<DateTime<Utc>>) -> Self {
        Self {
            tenant,
            reserved_until,
        }
    }
}

/// The transition's own row, written in the change's statement after the
/// number's compare-and-swap.
pub(super) trait Step {
    /// The row the statement returns.
    type Row: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin;

    /// Pushes the step's CTEs, one of them named `step` whose `RETURNING`
    /// row is the result, each `… FROM moved`, binding its own values.
    fn push(self, q: &mut QueryBuilder<'_, Postgres>);
}

/// No row of its own: the result is the number's new version.
pub(super) struct NoStep;

impl Step for NoStep {
    type Row = (i64,);

    fn push(self, q: &mut QueryBuilder<'_, Postgres>) {
        q.push("step AS (SELECT version FROM moved)");
    }
}

/// The identifier and tenant a new reservation or lease row copies from
/// the number it holds.
pub(super) struct Holding {
    number_id: i64,
    identifier: String,
    kind: String,
    tenant: String,
}

impl Holding {
    pub fn of(n: &NumberRow, tenant: &TenantId) -> Self {
        Self {
            number_id: n.id,
            identifier: n.identifier.clone(),
            kind: n.kind.clone(),
            tenant: tenant.as_str().to_owned(),
        }
    }

    /// Pushes the values of the columns `number_id, identifier, kind,
    /// tenant_id`, in that order.
    pub fn push_values(self, values: &mut Separated<'_, '_, Postgres, &str>) {
        values
            .push_bind(self.number_id)
            .push_bind(self.identifier)
            .push_bind(self.kind)
            .push_unseparated("::numbering.identifier_kind")
            .push_bind(self.tenant);
    }
}

/// The change of `number` by `transition` from `from` to `to`, concerning
/// `tenant_id`, with `details` in its audit entry and events.
pub(super) fn change<'a>(
    transition: Transition,
    number: &'a NumberRow,
    (from, to): (NumberState, NumberState),
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

/// Writes `change` in one statement: the compare-and-swap of the number row
/// (it matches only if nobody changed the row since `change.number` was
/// read) to `moved`, the audit entry, the outbox events and `step`'s row,
/// which is the result.
pub(super) async fn commit_change<'a, S: Step>(
    tx: &mut PgConnection,
    ctx: &'a Ctx,
    change: Change<'a>,
    moved: Moved<'a>,
    step: S,
) -> Result<S::Row> {
    let n = change.number;
    let mut q = QueryBuilder::new("WITH moved AS (UPDATE numbering.numbers SET state = ");
    q.push_bind(change.to.as_str())
        .push("::numbering.number_state, tenant_id = ")
        .push_bind(moved.tenant)
        .push(", reserved_until = ")
        .push_bind(moved.reserved_until)
        .push(", version = version + 1, state_changed_at = now() WHERE id = ")
        .push_bind(n.id)
        .push(" AND version = ")
        .push_bind(n.version)
        .push(" RETURNING version), ");
    record::push_entry(&mut q, ctx, &change, Some("moved"));
    q.push(", ");
    step.push(&mut q);
    q.push(" SELECT * FROM step");
    q.build_query_as::<S::Row>()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(LifecycleError::Conflict)
}

/// `from + d`, to the millisecond, as the database would compute it.
pub(super) fn after(from: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>> {
    from.checked_add_signed(Duration::milliseconds(d.num_milliseconds()))
        .ok_or_else(|| LifecycleError::Corrupt(format!("{from} + {d} is out of range")))
}

/// `d` in seconds, for `make_interval(secs => …)`.
pub(super) fn seconds(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}
