//! The lease-contract lifecycle: suspend, resume and end a contract, and
//! its utilisation per contract and per block.
//!
//! Policy (`numbering_shared::contract`): a SUSPENDED contract's
//! identifiers are not newly reserved (409 `CONTRACT_SUSPENDED`; browsing
//! and "reserve any" skip them), current reservations and leases stay;
//! resume reverses it. Ending (final) retires the AVAILABLE and QUARANTINED
//! identifiers and cancels live reservations (retiring those too) in the
//! same transaction, and flags current leases: not renewed, shown to their
//! tenant (`contract_ended`, `recall_at`), recalled by the sweeper at term
//! end with `number.recalled.v1` / `lease.recalled.v1` (reason
//! `CONTRACT_ENDED`), then retired. Ending is a two-person action
//! (`contract.end`, see `approvals`): 202 with the PENDING approval, applied
//! by [`apply_end`] once a second admin approves. Each change takes an optional
//! `expected_version` (compare-and-swap: 409 `CONFLICT` when the contract
//! moved on); a change its status does not allow is 409 `INVALID_TRANSITION`.

use axum::{
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath},
    openapi::{Op, path},
};
use numbering_store::{
    ContractChange, ContractError, Ctx, Store, admin::Utilisation, approvals::Target,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Routes,
    approvals::{self, Applied},
    call::{AdminCall, ok},
    wire::AdminJson,
};

pub(crate) fn routes() -> Routes {
    vec![
        (
            "post",
            "/v1/admin/numbering/contracts/{id}/suspend",
            post(suspend),
        ),
        (
            "post",
            "/v1/admin/numbering/contracts/{id}/resume",
            post(resume),
        ),
        ("post", "/v1/admin/numbering/contracts/{id}/end", post(end)),
        (
            "get",
            "/v1/admin/numbering/contracts/{id}/utilisation",
            get(utilisation),
        ),
    ]
}

/// The body of suspend and resume.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    expected_version: Option<i64>,
}

/// The body of end.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndBody {
    reason: String,
    expected_version: Option<i64>,
    /// For the second admin (two-person rule, `contract.end`).
    justification: Option<String>,
}

/// A contract id from the path; one that is not a UUID names nothing.
fn contract_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("contract"))
}

fn expected(v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(v) if v < 1 => Err(ApiError::invalid(
            "expected_version",
            "expected_version must be 1 or more",
        )),
        v => Ok(v),
    }
}

/// A contract error as problem+json.
fn problem(e: ContractError) -> ApiError {
    match e {
        ContractError::NotFound => ApiError::not_found("contract"),
        ContractError::Lifecycle(l) => l.into(),
        ContractError::Conflict { .. } | ContractError::InvalidTransition(_) => {
            ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string())
        }
    }
}

fn changed(c: ContractChange) -> Response {
    ok(StatusCode::OK, changed_json(c))
}

fn changed_json(c: ContractChange) -> Value {
    let mut v = c.contract.into_json();
    if let Some(outcome) = c.ended {
        v["outcome"] = json!({
            "retired": outcome.retired,
            "reservations_cancelled": outcome.reservations_cancelled,
            "leases_flagged": outcome.leases_flagged.values().sum::<usize>(),
            "leases_flagged_by_tenant": outcome.leases_flagged,
        });
    }
    v
}

async fn suspend(
    a: AdminCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Response, ApiError> {
    let id = contract_id(&id)?;
    let v = expected(body.expected_version)?;
    let c = a.store().suspend_contract(&a.ctx, id, v).await;
    Ok(changed(c.map_err(problem)?))
}

async fn resume(
    a: AdminCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Response, ApiError> {
    let id = contract_id(&id)?;
    let v = expected(body.expected_version)?;
    let c = a.store().resume_contract(&a.ctx, id, v).await;
    Ok(changed(c.map_err(problem)?))
}

async fn end(
    a: AdminCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EndBody>,
) -> Result<Response, ApiError> {
    let id = contract_id(&id)?;
    let v = expected(body.expected_version)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be 1 to 1000 characters",
        ));
    }
    let request = approvals::Request {
        action: approvals::CONTRACT_END,
        target: Target::Contract(id),
        tenant_id: None,
        payload: json!({ "contract_id": id, "reason": reason, "expected_version": v }),
        justification: body.justification,
    };
    approvals::guard(&a, request).await
}

/// Ends the payload's contract (`contract_id`, `reason`, `expected_version`):
/// what `end` does at once with the two-person rule off, and an approval
/// once a second admin approves.
pub(crate) async fn apply_end(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let id = contract_id(payload["contract_id"].as_str().unwrap_or_default())?;
    let reason = payload["reason"].as_str().unwrap_or_default();
    let v = payload["expected_version"].as_i64();
    let c = store.end_contract(ctx, id, v, reason).await;
    Ok((StatusCode::OK, changed_json(c.map_err(problem)?)))
}

async fn utilisation(
    RequestState(s): RequestState,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = contract_id(&id)?;
    let u = s
        .store
        .contract_utilisation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("contract"))?;
    Ok(ok(StatusCode::OK, utilisation_json(u)))
}

fn utilisation_json(u: Utilisation) -> Value {
    let counts = |c: &numbering_store::admin::StateCounts| {
        json!({
            "total": c.total, "available": c.available, "reserved": c.reserved,
            "leased": c.leased, "quarantined": c.quarantined, "retired": c.retired,
        })
    };
    let blocks: Vec<Value> = u
        .blocks
        .iter()
        .map(|b| {
            let mut v = counts(&b.counts);
            v["prefix"] = json!(b.prefix);
            v["first"] = json!(b.first);
            v["last"] = json!(b.last);
            v
        })
        .collect();
    let mut totals = counts(&u.totals);
    totals["leases_to_recall"] = json!(u.leases_to_recall);
    json!({
        "contract": u.contract.into_json(),
        "block_size": numbering_shared::contract::BLOCK_SIZE,
        "totals": totals,
        "blocks": blocks,
    })
}

fn change_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": {
        "expected_version": { "type": "integer", "minimum": 1,
            "description": "the contract's version as last read: a change of a contract that moved on since is 409 CONFLICT" }
    }})
}

fn end_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
        "reason": { "type": "string", "minLength": 1, "maxLength": 1000, "description": "why the contract ends (kept on the contract and in the audit trail)" },
        "expected_version": { "type": "integer", "minimum": 1 },
        "justification": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "for the second admin: required while the two-person rule covers contract.end (the default)" }
    }})
}

/// A contract as the list and the changes answer it.
pub(crate) fn contract_view_schema() -> Value {
    json!({ "type": "object", "properties": {
        "id": { "type": "string", "format": "uuid" }, "contract_ref": { "type": "string" },
        "operator_id": { "type": ["string", "null"] }, "kind": { "type": "string" },
        "range_start": { "type": "string" }, "range_end": { "type": "string" },
        "starts_on": { "type": "string", "format": "date" },
        "ends_on": { "type": ["string", "null"], "format": "date", "description": "the contract's agreed end date" },
        "status": { "type": "string", "enum": ["ACTIVE", "SUSPENDED", "ENDED"] },
        "version": { "type": "integer", "description": "compare-and-swap counter of status changes" },
        "ended_at": { "type": ["string", "null"], "format": "date-time", "description": "when it was ended (ENDED only)" },
        "end_reason": { "type": ["string", "null"] },
        "created_at": { "type": "string", "format": "date-time" },
        "outcome": { "type": "object", "description": "end only: identifiers retired, reservations cancelled, leases flagged (in total and per tenant)" }
    }})
}

fn counts_schema() -> Value {
    let n = json!({ "type": "integer", "minimum": 0 });
    json!({ "type": "object", "properties": {
        "total": n, "available": n, "reserved": n, "leased": n, "quarantined": n, "retired": n
    }})
}

fn utilisation_schema() -> Value {
    let mut block = counts_schema();
    block["properties"]["prefix"] = json!({ "type": "string", "description": "what the block's identifiers share: all but their last 4 characters" });
    block["properties"]["first"] = json!({ "type": "string" });
    block["properties"]["last"] = json!({ "type": "string" });
    let mut totals = counts_schema();
    totals["properties"]["leases_to_recall"] = json!({ "type": "integer", "minimum": 0 });
    json!({ "type": "object", "properties": {
        "contract": contract_view_schema(),
        "block_size": { "type": "integer", "const": 10000 },
        "totals": totals,
        "blocks": { "type": "array", "items": block,
            "description": "blocks holding inventory, in identifier order; a block is the (at most 10,000) identifiers of the range sharing all but their last 4 characters" }
    }})
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let id = || vec![path("id", "the contract's id")];
    let op = |method, verb: &'static str, operation_id, summary, body, success: fn() -> Value| Op {
        method,
        path: verb,
        operation_id,
        summary,
        tag: T,
        params: id(),
        body,
        success: (200, success),
        problems: &[404, 409],
    };
    vec![
        op(
            "post",
            "/v1/admin/numbering/contracts/{id}/suspend",
            "suspendContract",
            "Suspend a lease contract (ACTIVE → SUSPENDED; event contract.suspended.v1): its identifiers are no longer newly reserved (409 CONTRACT_SUSPENDED; browsing and reserve-any skip them); current reservations and leases are unaffected. 409 INVALID_TRANSITION from another status, CONFLICT on a stale expected_version",
            Some(change_schema as fn() -> Value),
            contract_view_schema,
        ),
        op(
            "post",
            "/v1/admin/numbering/contracts/{id}/resume",
            "resumeContract",
            "Resume a suspended lease contract (SUSPENDED → ACTIVE; event contract.resumed.v1): its available identifiers can be reserved again",
            Some(change_schema),
            contract_view_schema,
        ),
        op(
            "post",
            "/v1/admin/numbering/contracts/{id}/end",
            "endContract",
            "End a lease contract for good (two-person rule contract.end: 202 with the PENDING approval until a second admin approves; then ACTIVE / SUSPENDED → ENDED, event contract.ended.v1), in one transaction: AVAILABLE and QUARANTINED identifiers are retired (number.retired.v1 each), live reservations cancelled and their identifiers retired; current leases are not revoked but flagged: never auto-renewed, shown to the tenant (contract_ended, recall_at = term end) and recalled by the lifecycle sweeper at term end (number.recalled.v1 / lease.recalled.v1, reason CONTRACT_ENDED), then retired",
            Some(end_schema),
            contract_view_schema,
        ),
        op(
            "get",
            "/v1/admin/numbering/contracts/{id}/utilisation",
            "getContractUtilisation",
            "A lease contract's inventory by state (total, available, reserved = RESERVED + HELD, leased = ASSIGNED + SUSPENDED, quarantined, retired), in total and per block of 10,000 identifiers sharing all but their last 4 characters",
            None,
            utilisation_schema,
        ),
    ]
    .into_iter()
    .map(|mut o| {
        if o.method == "get" {
            o.problems = &[404];
        }
        if o.operation_id == "endContract" {
            o.problems = &[202, 404, 409];
        }
        o
    })
    .collect()
}
