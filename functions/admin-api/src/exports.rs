//! The regulator export routes: list, generate (or dry-run), read, and the
//! workflow steps review → submit → acknowledge (or reject). The export
//! machinery (signer and WORM store) comes from `Edge::exports`; without it
//! the routes answer 503 EXPORTS_NOT_CONFIGURED.

use axum::{
    Extension,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post},
};
use numbering_export::{ExportError, Exporter, Outcome, Period, Step};
use numbering_http_edge::{
    ApiError, ApiState, Principal,
    extract::{ApiJson, ApiPath, ApiQuery},
    openapi::{Op, any_object, list_of, path, query},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Routes, ctx, limit, ok};

pub(crate) fn routes() -> Routes {
    vec![
        ("get", "/v1/admin/numbering/exports", get(list)),
        ("post", "/v1/admin/numbering/exports", post(create)),
        ("get", "/v1/admin/numbering/exports/{id}", get(one)),
        (
            "post",
            "/v1/admin/numbering/exports/{id}/review",
            post(review),
        ),
        (
            "post",
            "/v1/admin/numbering/exports/{id}/submit",
            post(submit),
        ),
        (
            "post",
            "/v1/admin/numbering/exports/{id}/acknowledge",
            post(acknowledge),
        ),
        (
            "post",
            "/v1/admin/numbering/exports/{id}/reject",
            post(reject),
        ),
    ]
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let step = |path_: &'static str, operation_id, summary, body: Option<fn() -> Value>| Op {
        method: "post",
        path: path_,
        operation_id,
        summary,
        tag: T,
        params: vec![path("id", "export id")],
        body,
        success: (200, export_schema),
        problems: &[404, 409],
    };
    vec![
        Op {
            method: "get",
            path: "/v1/admin/numbering/exports",
            operation_id: "listExports",
            summary: "Regulator exports, newest period and version first",
            tag: T,
            params: vec![
                query("period", "string", "only this month, YYYY-MM"),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(export_schema())),
            problems: &[400],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/exports",
            operation_id: "createExport",
            summary: "Generate the atra-v1 export of a month (a new version), or dry-run it (manifest only, nothing stored)",
            tag: T,
            params: vec![],
            body: Some(create_schema),
            success: (201, any_object),
            problems: &[400, 502, 503],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/exports/{id}",
            operation_id: "getExport",
            summary: "One regulator export with its manifest",
            tag: T,
            params: vec![path("id", "export id")],
            body: None,
            success: (200, export_schema),
            problems: &[404],
        },
        step(
            "/v1/admin/numbering/exports/{id}/review",
            "reviewExport",
            "Mark a GENERATED export REVIEWED",
            None,
        ),
        step(
            "/v1/admin/numbering/exports/{id}/submit",
            "submitExport",
            "Mark a REVIEWED export SUBMITTED to the regulator",
            None,
        ),
        step(
            "/v1/admin/numbering/exports/{id}/acknowledge",
            "acknowledgeExport",
            "Mark a SUBMITTED export ACKNOWLEDGED by the regulator",
            None,
        ),
        step(
            "/v1/admin/numbering/exports/{id}/reject",
            "rejectExport",
            "Reject an export (GENERATED, REVIEWED or SUBMITTED) with a reason",
            Some(reject_schema),
        ),
    ]
}

fn export_schema() -> Value {
    json!({ "type": "object", "required": ["id", "period", "version", "format", "status"], "properties": {
        "id": { "type": "string", "format": "uuid" },
        "period": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$" },
        "version": { "type": "integer" },
        "format": { "type": "string" },
        "status": { "type": "string", "enum": ["PENDING", "GENERATED", "REVIEWED", "SUBMITTED", "ACKNOWLEDGED", "FAILED", "REJECTED"] },
        "manifest": { "type": ["object", "null"] },
        "storage_uri": { "type": ["string", "null"] }
    }})
}

fn create_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["period"], "properties": {
        "period": { "type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$" },
        "dry_run": { "type": "boolean" }
    }})
}

fn reject_schema() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": {
        "reason": { "type": "string", "minLength": 1, "maxLength": 1000 }
    }})
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    period: String,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    period: Option<String>,
    limit: Option<i64>,
}

fn exporter(s: &ApiState) -> Result<Exporter, ApiError> {
    s.edge
        .exports
        .as_ref()
        .map(|tools| tools.exporter(s.store.pool().clone()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "EXPORTS_NOT_CONFIGURED",
                "the regulator export has no signer and store configured",
            )
        })
}

fn problem(e: ExportError) -> ApiError {
    match e {
        ExportError::BadPeriod(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PERIOD", e.to_string()).field("period")
        }
        ExportError::PeriodNotStarted(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PERIOD", e.to_string()).field("period")
        }
        ExportError::NotFound(_) => ApiError::not_found("export"),
        ExportError::TransitionRefused { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "EXPORT_TRANSITION_NOT_ALLOWED",
            e.to_string(),
        ),
        ExportError::Sign(_) | ExportError::Worm(_) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "EXPORT_BACKEND_FAILED",
            e.to_string(),
        ),
        other => ApiError::internal(&other),
    }
}

fn period(raw: &str) -> Result<Period, ApiError> {
    Period::parse(raw).map_err(|e| problem(e.into()))
}

fn export_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("export"))
}

fn record(r: numbering_export::ExportRecord) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

async fn list(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(q.limit, 100)?;
    let period = q.period.as_deref().map(period).transpose()?;
    let rows = exporter(&s)?.list(period, limit).await.map_err(problem)?;
    Ok(ok(
        StatusCode::OK,
        json!({ "items": rows.into_iter().map(record).collect::<Vec<_>>(), "next_cursor": null }),
    ))
}

async fn create(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let period = period(&body.period)?;
    let exporter = exporter(&s)?;
    match exporter
        .generate(period, &ctx(&p, &headers), body.dry_run)
        .await
        .map_err(problem)?
    {
        Outcome::DryRun(manifest) => Ok(ok(
            StatusCode::OK,
            json!({ "dry_run": true, "manifest": manifest }),
        )),
        Outcome::Generated(row, _) => Ok(ok(StatusCode::CREATED, record(*row))),
    }
}

async fn one(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = export_id(&id)?;
    let row = exporter(&s)?.get(id).await.map_err(problem)?;
    Ok(ok(StatusCode::OK, record(row)))
}

async fn advance(
    s: &ApiState,
    p: &Principal,
    headers: &HeaderMap,
    id: &str,
    step: Step,
) -> Result<Response, ApiError> {
    let id = export_id(id)?;
    let row = exporter(s)?
        .advance(id, step, &ctx(p, headers))
        .await
        .map_err(problem)?;
    Ok(ok(StatusCode::OK, record(row)))
}

async fn review(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    advance(&s, &p, &headers, &id, Step::Review).await
}

async fn submit(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    advance(&s, &p, &headers, &id, Step::Submit).await
}

async fn acknowledge(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    advance(&s, &p, &headers, &id, Step::Acknowledge).await
}

async fn reject(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Response, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be 1 to 1000 characters",
        ));
    }
    advance(
        &s,
        &p,
        &headers,
        &id,
        Step::Reject {
            reason: reason.to_owned(),
        },
    )
    .await
}
