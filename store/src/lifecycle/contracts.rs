//! The lease-contract lifecycle (`numbering_shared::contract`): suspend,
//! resume and end a contract, and what ending does to its identifiers.
//!
//! A status change is one platform transaction: the contract row locked,
//! the pure table asked, the row's compare-and-swap on `version` (and on
//! the caller's expected version, if given), then for an end the
//! identifiers' transitions (the retirement, the cancelled reservations,
//! the flagged leases), the audit entry and the `contract.*` outbox event,
//! committed together or not at all.
//!
//! Ending retires identifiers through the lifecycle table, in bulk
//! ([`super::retirement`]).

use std::collections::BTreeMap;

use numbering_shared::{
    ContractAction, ContractStatus, ReservationId, Transition,
    contract::{InvalidContractTransition, next_status},
};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    Store,
    reservations::{CancelledReservation, lapse},
    retirement::{RETIRE_CHUNK, retire_ended},
    write::{Moved, change, commit_change},
};
use crate::{
    LifecycleError,
    admin::{Contract, reference::contract_columns, snapshot::Snapshot},
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

/// Why a contract's status did not change.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("contract not found")]
    NotFound,
    /// Its version is not the one the caller expected, or a concurrent
    /// writer won.
    #[error("the contract changed concurrently (expected version {expected:?})")]
    Conflict { expected: Option<i64> },
    #[error(transparent)]
    InvalidTransition(#[from] InvalidContractTransition),
    /// An identifier's transition refused or failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

impl ContractError {
    /// The stable code the edges put in problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Conflict { .. } => "CONFLICT",
            Self::InvalidTransition(_) => "INVALID_TRANSITION",
            Self::Lifecycle(e) => e.code(),
        }
    }
}

impl From<sqlx::Error> for ContractError {
    fn from(e: sqlx::Error) -> Self {
        match LifecycleError::from(e) {
            LifecycleError::Conflict => Self::Conflict { expected: None },
            other => Self::Lifecycle(other),
        }
    }
}

/// What ending a contract did to its identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndOutcome {
    /// AVAILABLE and QUARANTINED identifiers retired (with those whose
    /// reservation was cancelled or had lapsed).
    pub retired: usize,
    /// Live reservations cancelled.
    pub reservations_cancelled: usize,
    /// Current leases flagged for recall at their term end, per tenant.
    pub leases_flagged: BTreeMap<String, usize>,
}

impl EndOutcome {
    fn json(&self) -> Value {
        json!({
            "retired": self.retired,
            "reservations_cancelled": self.reservations_cancelled,
            "leases_flagged": self.leases_flagged.values().sum::<usize>(),
            "leases_flagged_by_tenant": self.leases_flagged,
            "recall": "AT_TERM_END",
        })
    }
}

/// A contract after a status change, and for an end what it did.
#[derive(Debug, Clone)]
pub struct ContractChange {
    pub contract: Contract,
    pub ended: Option<EndOutcome>,
}

/// Why the end's changes of identifiers are made (in their audit entries
/// and events).
pub const CONTRACT_ENDED: &str = "CONTRACT_ENDED";

impl Store {
    /// ACTIVE → SUSPENDED: nothing of it is newly reserved.
    pub async fn suspend_contract(
        &self,
        ctx: &Ctx,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<ContractChange, ContractError> {
        self.change_contract(ctx, id, ContractAction::Suspend, expected_version, None)
            .await
    }

    /// SUSPENDED → ACTIVE.
    pub async fn resume_contract(
        &self,
        ctx: &Ctx,
        id: Uuid,
        expected_version: Option<i64>,
    ) -> Result<ContractChange, ContractError> {
        self.change_contract(ctx, id, ContractAction::Resume, expected_version, None)
            .await
    }

    /// ACTIVE / SUSPENDED → ENDED, for `reason`: retires its AVAILABLE and
    /// QUARANTINED identifiers, cancels its live reservations (and retires
    /// their identifiers), flags its current leases for recall at term end.
    pub async fn end_contract(
        &self,
        ctx: &Ctx,
        id: Uuid,
        expected_version: Option<i64>,
        reason: &str,
    ) -> Result<ContractChange, ContractError> {
        self.change_contract(ctx, id, ContractAction::End, expected_version, Some(reason))
            .await
    }

    async fn change_contract(
        &self,
        ctx: &Ctx,
        id: Uuid,
        action: ContractAction,
        expected: Option<i64>,
        reason: Option<&str>,
    ) -> Result<ContractChange, ContractError> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let before: Contract = sqlx::query_as(concat!(
            "SELECT ",
            contract_columns!(),
            " FROM numbering.lease_contracts WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ContractError::NotFound)?;
        if expected.is_some_and(|v| v != before.version) {
            return Err(ContractError::Conflict { expected });
        }
        let from: ContractStatus = before
            .status
            .parse()
            .map_err(|e| LifecycleError::Corrupt(format!("contract status: {e}")))?;
        let to = next_status(from, action)?;
        let contract: Contract = sqlx::query_as(concat!(
            "UPDATE numbering.lease_contracts SET status = $3::numbering.contract_status, \
                 version = version + 1, \
                 ended_at = CASE WHEN $3 = 'ENDED' THEN now() END, end_reason = $4 \
             WHERE id = $1 AND version = $2 RETURNING ",
            contract_columns!()
        ))
        .bind(id)
        .bind(before.version)
        .bind(to.as_str())
        .bind(reason.map(str::trim))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ContractError::Conflict { expected })?;
        let ended = match action {
            ContractAction::End => Some(self.end_inventory(&mut tx, ctx, id).await?),
            ContractAction::Suspend | ContractAction::Resume => None,
        };
        let mut after = contract.snapshot();
        if let Some(outcome) = &ended {
            after["outcome"] = outcome.json();
        }
        let subject = &contract.spec.contract_ref;
        let before_json = before.snapshot();
        record_admin_action(
            &mut tx,
            ctx,
            action.audit_action(),
            subject,
            None,
            Some(&before_json),
            Some(&after),
        )
        .await?;
        let payload = event_payload(ctx, &contract, action, from, ended.as_ref());
        sqlx::query(
            "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
             VALUES ($1, 'NUMBERING_EVENTS', $2, 'contract', $3, $4::json)",
        )
        .bind(Uuid::now_v7())
        .bind(action.event_type())
        .bind(subject)
        .bind(payload.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ContractChange { contract, ended })
    }

    /// What ending contract `id` does to its identifiers (see
    /// [`Store::end_contract`]), in the ending transaction.
    async fn end_inventory(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        id: Uuid,
    ) -> Result<EndOutcome, LifecycleError> {
        let mut outcome = EndOutcome {
            reservations_cancelled: self.cancel_reservations(tx, ctx, id).await?,
            ..EndOutcome::default()
        };
        loop {
            let n = retire_ended(tx, ctx, Some(id), RETIRE_CHUNK).await?;
            outcome.retired += n;
            if n < RETIRE_CHUNK as usize {
                break;
            }
        }
        let flagged: Vec<(String, i64)> = sqlx::query_as(
            "WITH flagged AS ( \
               UPDATE numbering.leases l SET contract_ended_at = now(), recall_at = l.term_end \
               FROM numbering.numbers n \
               WHERE n.id = l.number_id AND n.contract_id = $1 \
                 AND l.status IN ('ACTIVE', 'SUSPENDED') AND l.recall_at IS NULL \
               RETURNING l.tenant_id) \
             SELECT tenant_id, count(*) FROM flagged GROUP BY tenant_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        outcome.leases_flagged = flagged.into_iter().map(|(t, n)| (t, n as usize)).collect();
        Ok(outcome)
    }

    /// Cancels the live reservations of contract `id`'s identifiers (a
    /// lapsed one is recorded as the expiry it is); returns how many were
    /// cancelled. Their identifiers are then AVAILABLE, for the retirement.
    async fn cancel_reservations(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        id: Uuid,
    ) -> Result<usize, LifecycleError> {
        let live: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT r.id, n.identity_key FROM numbering.reservations r \
             JOIN numbering.numbers n ON n.id = r.number_id \
             WHERE n.contract_id = $1 AND r.status IN ('RESERVED', 'HELD') ORDER BY n.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut cancelled = 0;
        for (reservation, key) in live {
            let t = Transition::Cancel;
            let rid = ReservationId::from_uuid(reservation);
            let (live, n, states) = match self.live_reservation(tx, ctx, rid, t).await {
                Ok(locked) => locked,
                Err(LifecycleError::ReservationExpired(_)) => {
                    lapse(tx, ctx, &key).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let reservation = live.id;
            let details = json!({
                "reservation_id": reservation.to_string(),
                "reason": CONTRACT_ENDED, "contract_id": id,
            });
            let change = change(t, &n, states, n.tenant_id.as_deref(), details);
            let step = CancelledReservation { reservation };
            commit_change(tx, ctx, change, Moved::released(), step).await?;
            cancelled += 1;
        }
        Ok(cancelled)
    }
}

/// The data of a `contract.*` event.
fn event_payload(
    ctx: &Ctx,
    c: &Contract,
    action: ContractAction,
    from: ContractStatus,
    ended: Option<&EndOutcome>,
) -> Value {
    let s = &c.spec;
    let mut data = json!({
        "contract_id": c.id,
        "contract_ref": s.contract_ref,
        "operator_id": s.operator_id,
        "kind": s.kind.as_str(),
        "range_start": s.range.0,
        "range_end": s.range.1,
        "action": action.as_str(),
        "from_status": from.as_str(),
        "to_status": c.status,
        "version": c.version,
        "actor": ctx.actor.label(),
        "request_id": ctx.request_id,
    });
    if let Some(outcome) = ended {
        data["ended_at"] = json!(c.ended_at);
        data["end_reason"] = json!(c.end_reason);
        if let (Some(obj), Value::Object(o)) = (data.as_object_mut(), outcome.json()) {
            obj.extend(o);
        }
    }
    if let Some(t) = &ctx.trace_id {
        data["trace_id"] = json!(t);
    }
    data
}
