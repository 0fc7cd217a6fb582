//! Bulk renumbering for an operator's prefix reshuffle: plan (with its dry
//! run), read, dry-run again, apply. See `numbering_store::renumbering`
//! for what an apply does.

use axum::{
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath, ApiQuery},
    openapi::{Op, list_of, path, query},
};
use numbering_shared::renumbering::RenumberingPlan;
use numbering_store::renumbering::{Applied, DryRun, Renumbering, RenumberingError};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Routes, approvals,
    call::{AdminCall, Justified, limit},
    wire::{LimitQuery, justification_schema},
};
use numbering_store::approvals::Target;

const BASE: &str = "/v1/admin/numbering/renumberings";

pub(crate) fn routes() -> Routes {
    vec![
        ("get", BASE, get(list)),
        ("post", BASE, post(plan)),
        ("get", "/v1/admin/numbering/renumberings/{id}", get(one)),
        (
            "post",
            "/v1/admin/numbering/renumberings/{id}/dry-run",
            post(dry_run),
        ),
        (
            "post",
            "/v1/admin/numbering/renumberings/{id}/apply",
            post(apply),
        ),
    ]
}

/// `POST renumberings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    operator_id: String,
    old_prefix: String,
    new_prefix: String,
    cutover_at: String,
    parallel_until: Option<String>,
}

fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(field, format!("{field} must be an RFC 3339 timestamp")))
}

impl PlanBody {
    fn try_into_domain(self) -> Result<RenumberingPlan, ApiError> {
        let cutover = instant("cutover_at", &self.cutover_at)?;
        let until = self
            .parallel_until
            .as_deref()
            .map(|u| instant("parallel_until", u))
            .transpose()?;
        RenumberingPlan::new(
            &self.operator_id,
            &self.old_prefix,
            &self.new_prefix,
            cutover,
            until,
        )
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))
    }
}

fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("renumbering"))
}

fn problem(e: RenumberingError) -> ApiError {
    let code = e.code();
    match e {
        RenumberingError::NotFound => ApiError::not_found("renumbering"),
        RenumberingError::UnknownOperator => ApiError::invalid("operator_id", e.to_string()),
        RenumberingError::NotDue(at) => ApiError::new(StatusCode::CONFLICT, code, e.to_string())
            .with(json!({ "cutover_at": at })),
        RenumberingError::Conflicts { count, ref sample } => {
            let conflicts: Vec<Value> = sample.iter().map(conflict_json).collect();
            let extra = json!({ "conflict_count": count, "conflicts": conflicts });
            ApiError::new(StatusCode::CONFLICT, code, e.to_string()).with(extra)
        }
        RenumberingError::Store(e) => e.into(),
    }
}

fn conflict_json(c: &numbering_store::renumbering::Conflict) -> Value {
    json!({
        "old_identifier": c.old_identifier,
        "new_identifier": c.new_identifier,
        "new_state": c.new_state,
    })
}

fn plan_json(r: &Renumbering) -> Value {
    json!({
        "id": r.id.to_string(),
        "operator_id": r.operator_id,
        "old_prefix": r.old_prefix,
        "new_prefix": r.new_prefix,
        "cutover_at": r.cutover_at,
        "parallel_until": r.parallel_until,
        "status": r.status,
        "requested_by": r.requested_by,
        "created_at": r.created_at,
        "applied_by": r.applied_by,
        "applied_at": r.applied_at,
        "moved": r.moved,
        "counts": r.counts.as_ref().map(|c| c.0.clone()),
    })
}

fn dry_run_json(d: &DryRun) -> Value {
    json!({
        "total": d.total,
        "counts": d.counts,
        "conflict_count": d.conflict_count,
        "conflicts": d.conflicts.iter().map(conflict_json).collect::<Vec<_>>(),
        "due": d.due,
    })
}

fn answer(status: StatusCode, v: Value) -> Response {
    use axum::response::IntoResponse;
    (status, axum::Json(v)).into_response()
}

async fn plan(a: AdminCall, ApiJson(body): ApiJson<PlanBody>) -> Result<Response, ApiError> {
    let plan = body.try_into_domain()?;
    let store = a.store();
    let r = store
        .plan_renumbering(&a.ctx, &plan)
        .await
        .map_err(problem)?;
    let dry = store.renumbering_dry_run(r.id).await.map_err(problem)?;
    let mut v = plan_json(&r);
    v["dry_run"] = dry_run_json(&dry);
    Ok(answer(StatusCode::CREATED, v))
}

async fn list(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Response, ApiError> {
    let rows = s
        .store
        .renumberings(limit(q.limit, 100)?)
        .await
        .map_err(problem)?;
    let items: Vec<Value> = rows.iter().map(plan_json).collect();
    Ok(answer(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

async fn one(
    RequestState(s): RequestState,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = s.store.renumbering(id(&raw)?).await.map_err(problem)?;
    Ok(answer(StatusCode::OK, plan_json(&r)))
}

async fn dry_run(a: AdminCall, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let d = a
        .store()
        .renumbering_dry_run(id(&raw)?)
        .await
        .map_err(problem)?;
    Ok(answer(StatusCode::OK, dry_run_json(&d)))
}

/// Applying is dangerous (a whole block moves): a request under the
/// two-person rule (`renumbering.apply`, justification in an optional
/// body), applied by [`apply_plan`] once a second admin approves.
async fn apply(
    a: AdminCall,
    ApiPath(raw): ApiPath<String>,
    Justified(body): Justified,
) -> Result<Response, ApiError> {
    let id = id(&raw)?;
    // a plan that does not exist is 404 now, not once approved
    a.store().renumbering(id).await.map_err(problem)?;
    let request = approvals::Request {
        action: approvals::RENUMBERING_APPLY,
        target: Target::Renumbering(id),
        tenant_id: None,
        payload: json!({ "renumbering_id": id.to_string() }),
        justification: body.justification,
    };
    approvals::guard(&a, request).await
}

/// Applies the payload's `renumbering_id`: 200 with the plan as applied.
pub(crate) async fn apply_plan(
    store: &numbering_store::Store,
    ctx: &numbering_store::Ctx,
    payload: &Value,
) -> Result<approvals::Applied, ApiError> {
    let id = id(payload["renumbering_id"].as_str().unwrap_or_default())?;
    let applied = store.apply_renumbering(ctx, id).await.map_err(problem)?;
    let mut v = plan_json(applied.renumbering());
    v["applied_now"] = json!(matches!(applied, Applied::Now(_)));
    Ok((StatusCode::OK, v))
}

/// The renumbering links of `id` (as the old or the new identifier), for
/// its record: `GET numbers/{identifier}` shows where it went or came from.
pub(crate) async fn links_json(
    store: &numbering_store::Store,
    id: &numbering_shared::Identifier,
) -> Result<Value, ApiError> {
    let links = store.identifier_links(id).await.map_err(problem)?;
    Ok(links
        .iter()
        .map(|l| {
            json!({
                "old_identifier": l.old_identifier,
                "new_identifier": l.new_identifier,
                "renumbering_id": l.renumbering_id.to_string(),
                "linked_at": l.linked_at,
                "parallel_until": l.parallel_until,
            })
        })
        .collect())
}

fn plan_body_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false,
        "required": ["operator_id", "old_prefix", "new_prefix", "cutover_at"], "properties": {
        "operator_id": { "type": "string", "description": "the operator whose block moves" },
        "old_prefix": { "type": "string", "pattern": "^\\+937[0-9]{0,7}$", "examples": ["+9379"] },
        "new_prefix": { "type": "string", "pattern": "^\\+937[0-9]{0,7}$", "examples": ["+9377"],
                        "description": "as long as old_prefix" },
        "cutover_at": { "type": "string", "format": "date-time",
                        "description": "apply is refused before it (409 RENUMBERING_NOT_DUE)" },
        "parallel_until": { "type": ["string", "null"], "format": "date-time",
                            "description": "until then ValidateLease answers for the old identifiers too; after cutover_at" }
    }})
}

fn plan_schema() -> Value {
    json!({ "type": "object", "required": ["id", "status"], "properties": {
        "id": { "type": "string" }, "operator_id": { "type": "string" },
        "old_prefix": { "type": "string" }, "new_prefix": { "type": "string" },
        "cutover_at": { "type": "string" }, "parallel_until": { "type": ["string", "null"] },
        "status": { "enum": ["PLANNED", "APPLIED"] }, "requested_by": { "type": "string" },
        "applied_by": { "type": ["string", "null"] }, "applied_at": { "type": ["string", "null"] },
        "moved": { "type": ["integer", "null"] },
        "counts": { "type": ["object", "null"], "description": "numbers moved per state" },
        "applied_now": { "type": "boolean", "description": "apply only: false when it had been applied before (nothing changed)" },
        "dry_run": dry_run_schema()
    }})
}

fn dry_run_schema() -> Value {
    json!({ "type": "object", "properties": {
        "total": { "type": "integer" },
        "counts": { "type": "object", "description": "numbers of the block per state" },
        "conflict_count": { "type": "integer" },
        "conflicts": { "type": "array", "description": "the first 100 new identifiers already in inventory",
                       "items": { "type": "object" } },
        "due": { "type": "boolean", "description": "whether the cutover has come" }
    }})
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let id = || vec![path("id", "renumbering id")];
    vec![
        Op {
            method: "get",
            path: BASE,
            operation_id: "listRenumberings",
            summary: "Renumbering plans, newest first",
            tag: T,
            params: vec![query("limit", "integer", "1 to 500 (default 100)")],
            body: None,
            success: (200, || list_of(plan_schema())),
            problems: &[],
        },
        Op {
            method: "post",
            path: BASE,
            operation_id: "planRenumbering",
            summary: "Plan an operator's block move from one prefix to another; answers with its dry run",
            tag: T,
            params: vec![],
            body: Some(plan_body_schema),
            success: (201, plan_schema),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/renumberings/{id}",
            operation_id: "getRenumbering",
            summary: "One renumbering plan",
            tag: T,
            params: id(),
            body: None,
            success: (200, plan_schema),
            problems: &[404],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/renumberings/{id}/dry-run",
            operation_id: "dryRunRenumbering",
            summary: "What applying the plan would move now: counts per state and conflicts",
            tag: T,
            params: id(),
            body: None,
            success: (200, dry_run_schema),
            problems: &[404],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/renumberings/{id}/apply",
            operation_id: "applyRenumbering",
            summary: "Move the whole block in one transaction (all or nothing; an applied plan is answered unchanged); two-person rule (renumbering.apply): 202 until a second admin approves; 409 RENUMBERING_NOT_DUE before the cutover, RENUMBERING_CONFLICT when a new identifier is in inventory",
            tag: T,
            params: id(),
            body: Some(justification_schema),
            success: (200, plan_schema),
            // 202: waits for a second admin (the two-person rule)
            problems: &[202, 404, 409],
        },
    ]
}
