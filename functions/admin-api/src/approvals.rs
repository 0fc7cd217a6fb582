//! The two-person rule: a dangerous admin action takes effect only once a
//! second, different admin approves it; and the approval routes.
//!
//! A guarded route checks and parses its request as always, then hands it
//! to [`guard`]. With the rule on for its action (`NUMBERING_TWO_PERSON_ACTIONS`,
//! default [`ACTIONS`]: every dangerous one) that records a PENDING approval
//! (`numbering_store::approvals`) and answers 202 `{"approval_id", "status":
//! "PENDING", "action", "justification", "requested_by", "expires_at", …}`;
//! nothing else changes. A second admin's `POST approvals/{id}/approve`
//! applies it in one transaction: the approval row is locked and checked,
//! the action runs through [`apply`], the same applier the direct route
//! uses (so the same store function), with its audit entry naming both
//! admins, the justification and the approval id (`after.approval`), and
//! the row becomes APPLIED. With the rule off for the action, [`guard`]
//! applies it at once and its audit entry records `two_person_rule: "off"`.
//!
//! The justification is the request body's `justification` field (the
//! quarantine override's own; for retire and recall an optional body
//! `{"justification": …}`; for a revocation it defaults to the `reason`).
//! It is required only where the rule is on. Who is who: the token's `sub`.
//!
//! Refusals: approving (or rejecting) one's own request: 403
//! `SAME_APPROVER`; withdrawing someone else's: 403 `NOT_REQUESTER`; past
//! its expiry (`NUMBERING_APPROVAL_TTL`, 24 h): 409 `APPROVAL_EXPIRED`;
//! its target changed since the request (the target's version moved): 409
//! `APPROVAL_STALE`; no longer PENDING: 409 `APPROVAL_ALREADY_DECIDED`.
//!
//! ## How to add a two-person action
//!
//! 1. Name it: a `const` below (`area.verb`, e.g. `contract.end`), listed
//!    in [`ACTIONS`] (which makes it part of the default set and a valid
//!    name in `NUMBERING_TWO_PERSON_ACTIONS`).
//! 2. Write its applier beside its route: `async fn(&Store, &Ctx, &Value)
//!    -> Result<Applied, ApiError>`, which reads the payload the route
//!    recorded and calls the action's store function with the given `Ctx`
//!    (whose audit facts the store merges into the action's audit entry);
//!    add its arm to [`apply`].
//! 3. In the route: parse and check the request, then `guard(&a,
//!    Request { action, target, tenant_id, payload, justification })`; the
//!    route's `Op` lists 202 among its `problems` (documented with the
//!    approval's schema) and its body schema a `justification`.
//! 4. A target of a new kind: a variant of
//!    `numbering_store::approvals::Target`, with its version query.
//!
//! The approval routes themselves need nothing per action.

use axum::{http::StatusCode, response::Response, routing::get, routing::post};
use numbering_http_edge::{
    ApiError, ApiState, RequestState, TwoPersonRule,
    extract::{ApiJson, ApiPath, ApiQuery},
    openapi::{Op, list_of, path, pending_approval_schema, query},
};
use numbering_store::{
    Ctx, LifecycleError, Store,
    approvals::{Approval, ApprovalError, ApproveError, NewApproval, Target},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    Routes, call::AdminCall, contracts, numbers, operators, pools, quarantine, renumberings,
};

/// Ending a quarantine early.
pub(crate) const QUARANTINE_OVERRIDE: &str = "quarantine.override";
/// Retiring an identifier from inventory.
pub(crate) const NUMBER_RETIRE: &str = "number.retire";
/// Recalling an identifier from its tenant's lease into quarantine.
pub(crate) const NUMBER_RECALL: &str = "number.recall";
/// A pool change that changes the tier (`segment`) or raises a quota above
/// `NUMBERING_TWO_PERSON_QUOTA_THRESHOLD` (other pool changes are not
/// dangerous and never wait).
pub(crate) const POOL_OVERRIDE: &str = "pool.override";
/// Installing an MNO signing key.
pub(crate) const SIGNING_KEY_INSTALL: &str = "signing_key.install";
/// Revoking an MNO signing key.
pub(crate) const SIGNING_KEY_REVOKE: &str = "signing_key.revoke";
/// Ending a lease contract (its free identifiers retired, its leases
/// recalled at term end).
pub(crate) const CONTRACT_END: &str = "contract.end";

/// Applying a renumbering plan (an operator's whole block moves).
pub(crate) const RENUMBERING_APPLY: &str = "renumbering.apply";

/// Every action the rule can guard: the default of `NUMBERING_TWO_PERSON_ACTIONS`.
pub(crate) const ACTIONS: &[&str] = &[
    QUARANTINE_OVERRIDE,
    NUMBER_RETIRE,
    NUMBER_RECALL,
    POOL_OVERRIDE,
    SIGNING_KEY_INSTALL,
    SIGNING_KEY_REVOKE,
    CONTRACT_END,
    RENUMBERING_APPLY,
];

/// An applied action's answer: the status and body its direct route gives.
pub(crate) type Applied = (StatusCode, Value);

/// Applies `action` as recorded in `payload`, with `ctx`: what the direct
/// route does once it has parsed its request, and what an approval does.
async fn apply(
    action: &str,
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    match action {
        QUARANTINE_OVERRIDE => quarantine::apply_override(store, ctx, payload).await,
        NUMBER_RETIRE => numbers::apply_retire(store, ctx, payload).await,
        NUMBER_RECALL => numbers::apply_recall(store, ctx, payload).await,
        POOL_OVERRIDE => pools::apply_put_pool(store, ctx, payload).await,
        SIGNING_KEY_INSTALL => operators::apply_install_key(store, ctx, payload).await,
        SIGNING_KEY_REVOKE => operators::apply_revoke_key(store, ctx, payload).await,
        CONTRACT_END => contracts::apply_end(store, ctx, payload).await,
        RENUMBERING_APPLY => renumberings::apply_plan(store, ctx, payload).await,
        other => Err(ApiError::internal(&format!(
            "no applier for the action {other:?}"
        ))),
    }
}

/// The rule as configured; unconfigured: every dangerous action, a
/// threshold of 1000 and 24 h.
pub(crate) fn rule(state: &ApiState) -> TwoPersonRule {
    match &state.edge.two_person {
        Some(rule) => (**rule).clone(),
        None => TwoPersonRule {
            actions: ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
            quota_threshold: 1000,
            ttl: std::time::Duration::from_secs(24 * 3600),
        },
    }
}

/// A dangerous action one admin asks for.
pub(crate) struct Request {
    pub action: &'static str,
    pub target: Target,
    pub tenant_id: Option<String>,
    /// What [`apply`] reads back.
    pub payload: Value,
    pub justification: Option<String>,
}

/// `r` applied now (the rule is off for it: its audit entry says so), or
/// recorded for a second admin's approval: 202 with the approval.
pub(crate) async fn guard(a: &AdminCall, r: Request) -> Result<Response, ApiError> {
    let rule = rule(&a.state);
    if !rule.actions.contains(r.action) {
        let ctx = a
            .ctx
            .clone()
            .with_audit_facts(json!({ "two_person_rule": "off" }));
        let (status, body) = apply(r.action, a.store(), &ctx, &r.payload).await?;
        return Ok(crate::call::ok(status, body));
    }
    let justification = r.justification.as_deref().unwrap_or("").trim();
    if justification.is_empty() || justification.chars().count() > 2000 {
        return Err(ApiError::invalid(
            "justification",
            format!(
                "{} needs a second admin's approval: a justification of 1 to 2000 characters is required",
                r.action
            ),
        ));
    }
    let ttl = chrono::Duration::from_std(rule.ttl).unwrap_or(chrono::Duration::days(1));
    let new = NewApproval {
        action: r.action,
        target: &r.target,
        tenant_id: r.tenant_id.as_deref(),
        payload: r.payload,
        justification,
        requested_by: &a.subject,
        ttl,
    };
    let approval = a
        .store()
        .request_approval(&a.ctx, &new)
        .await
        .map_err(problem)?;
    Ok(crate::call::ok(StatusCode::ACCEPTED, view(&approval)))
}

pub(crate) fn routes() -> Routes {
    vec![
        ("get", "/v1/admin/numbering/approvals", get(list)),
        ("get", "/v1/admin/numbering/approvals/{id}", get(one)),
        (
            "post",
            "/v1/admin/numbering/approvals/{id}/approve",
            post(approve),
        ),
        (
            "post",
            "/v1/admin/numbering/approvals/{id}/reject",
            post(reject),
        ),
        (
            "post",
            "/v1/admin/numbering/approvals/{id}/withdraw",
            post(withdraw),
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

const STATUSES: [&str; 5] = ["PENDING", "APPLIED", "REJECTED", "WITHDRAWN", "EXPIRED"];

async fn list(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let status = q.status.as_deref().map(str::to_ascii_uppercase);
    if let Some(st) = &status
        && !STATUSES.contains(&st.as_str())
    {
        return Err(ApiError::invalid(
            "status",
            "status must be PENDING, APPLIED, REJECTED, WITHDRAWN or EXPIRED",
        ));
    }
    let limit = crate::call::limit(q.limit, 100)?;
    let rows = s
        .store
        .approvals(status.as_deref(), limit)
        .await
        .map_err(problem)?;
    let items: Vec<Value> = rows.iter().map(view).collect();
    Ok(crate::call::ok(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

async fn one(
    RequestState(s): RequestState,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let a = s
        .store
        .approval(approval_id(&id)?)
        .await
        .map_err(problem)?
        .ok_or_else(|| ApiError::not_found("approval"))?;
    Ok(crate::call::ok(StatusCode::OK, view(&a)))
}

/// Approves and applies: 200 with the approval (APPLIED) and, as
/// `result`, what the action's own route answers.
async fn approve(a: AdminCall, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let id = approval_id(&id)?;
    let store = a.store().clone();
    let applied = store
        .approve(
            &a.ctx,
            id,
            &a.subject,
            async |ctx: &Ctx, approval: &Approval| {
                apply(&approval.action, &store, ctx, &approval.payload).await
            },
        )
        .await;
    match applied {
        Ok((approval, (_, result))) => {
            let mut v = view(&approval);
            v["result"] = result;
            Ok(crate::call::ok(StatusCode::OK, v))
        }
        Err(ApproveError::Approval(e)) => Err(problem(e)),
        Err(ApproveError::Action(e)) => Err(e),
    }
}

async fn reject(
    a: AdminCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Response, ApiError> {
    let id = approval_id(&id)?;
    let done = a
        .store()
        .reject_approval(&a.ctx, id, &a.subject, &body.reason)
        .await
        .map_err(problem)?;
    Ok(crate::call::ok(StatusCode::OK, view(&done)))
}

async fn withdraw(a: AdminCall, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let id = approval_id(&id)?;
    let done = a
        .store()
        .withdraw_approval(&a.ctx, id, &a.subject)
        .await
        .map_err(problem)?;
    Ok(crate::call::ok(StatusCode::OK, view(&done)))
}

fn approval_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::not_found("approval"))
}

/// An approval as the API answers it.
fn view(a: &Approval) -> Value {
    let mut v = a.to_json();
    v["payload"] = a.payload.clone();
    v
}

/// An approval step's refusal as problem+json.
fn problem(e: ApprovalError) -> ApiError {
    let status = match &e {
        ApprovalError::NotFound => return ApiError::not_found("approval"),
        ApprovalError::TargetNotFound => return ApiError::not_found("identifier"),
        ApprovalError::SameApprover | ApprovalError::NotRequester => StatusCode::FORBIDDEN,
        ApprovalError::Expired(_) | ApprovalError::Stale | ApprovalError::AlreadyDecided(_) => {
            StatusCode::CONFLICT
        }
        ApprovalError::Invalid { field, detail } => return ApiError::invalid(field, *detail),
        ApprovalError::OutsideUnitOfWork => return ApiError::internal(&e),
        ApprovalError::Database(_) => {
            let ApprovalError::Database(db) = e else {
                unreachable!()
            };
            return LifecycleError::from(db).into();
        }
    };
    let extra = match &e {
        ApprovalError::Expired(at) => Some(json!({ "expires_at": at })),
        ApprovalError::AlreadyDecided(status) => Some(json!({ "approval_status": status })),
        _ => None,
    };
    let err = ApiError::new(status, e.code(), e.to_string());
    match extra {
        Some(x) => err.with(x),
        None => err,
    }
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let id = || vec![path("id", "approval id")];
    let step = |verb: &'static str, op_id, summary, problems: &'static [u16]| Op {
        method: "post",
        path: verb,
        operation_id: op_id,
        summary,
        tag: T,
        params: id(),
        body: None,
        success: (200, pending_approval_schema),
        problems,
    };
    vec![
        Op {
            method: "get",
            path: "/v1/admin/numbering/approvals",
            operation_id: "listApprovals",
            summary: "Two-person approvals, newest first (a PENDING one past its expiry is EXPIRED)",
            tag: T,
            params: vec![
                query(
                    "status",
                    "string",
                    "PENDING, APPLIED, REJECTED, WITHDRAWN or EXPIRED",
                ),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(pending_approval_schema())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/approvals/{id}",
            operation_id: "getApproval",
            summary: "One two-person approval",
            tag: T,
            params: id(),
            body: None,
            success: (200, pending_approval_schema),
            problems: &[404],
        },
        step(
            "/v1/admin/numbering/approvals/{id}/approve",
            "approveApproval",
            "Approve another admin's request and apply it (with `result`, the action's own answer); 403 SAME_APPROVER, 409 APPROVAL_EXPIRED, APPROVAL_STALE or APPROVAL_ALREADY_DECIDED",
            &[403, 404, 409],
        ),
        Op {
            body: Some(|| {
                json!({ "type": "object", "additionalProperties": false, "required": ["reason"],
                    "properties": { "reason": { "type": "string", "minLength": 1, "maxLength": 1000 } } })
            }),
            ..step(
                "/v1/admin/numbering/approvals/{id}/reject",
                "rejectApproval",
                "Reject another admin's request, with a reason",
                &[403, 404, 409],
            )
        },
        step(
            "/v1/admin/numbering/approvals/{id}/withdraw",
            "withdrawApproval",
            "Withdraw one's own pending request (403 NOT_REQUESTER for anyone else's)",
            &[403, 404, 409],
        ),
    ]
}
