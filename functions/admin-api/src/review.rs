//! The monthly review's reads that no listing answers: every tenant pool's
//! quotas beside its usage (`GET utilisation`), and the scheduled chain
//! verifications (`GET audit/verifications`; `GET audit/verify` runs one
//! now). The console (`/console/`) shows both.

use axum::{http::StatusCode, response::Response, routing::get};
use numbering_http_edge::{
    ApiError, RequestState, Routes,
    extract::ApiQuery,
    openapi::{Op, list_of, query},
};
use numbering_store::admin::{PoolUtilisation, VerificationRun, timestamp_text};
use serde_json::{Value, json};

use crate::{
    call::{limit, ok},
    wire::LimitQuery,
};

const KINDS: [&str; 3] = ["MSISDN", "SHORT_CODE", "ALPHA"];

pub(crate) fn routes() -> Routes {
    vec![
        ("get", "/v1/admin/numbering/utilisation", get(utilisation)),
        (
            "get",
            "/v1/admin/numbering/audit/verifications",
            get(verifications),
        ),
    ]
}

pub(crate) fn operations() -> Vec<Op> {
    vec![
        Op {
            method: "get",
            path: "/v1/admin/numbering/utilisation",
            operation_id: "poolUtilisation",
            summary: "Every tenant pool's quota and usage per kind (live reservations plus current leases), by tenant",
            tag: "admin",
            params: vec![],
            body: None,
            success: (200, || list_of(utilisation_schema())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/audit/verifications",
            operation_id: "listAuditVerifications",
            summary: "The scheduled audit-chain verifications still in the outbox's retention, newest first (their numbering.ops.audit_verified.v1 payloads)",
            tag: "admin",
            params: vec![query("limit", "integer", "1 to 500 (default 10)")],
            body: None,
            success: (200, || list_of(verification_schema())),
            problems: &[],
        },
    ]
}

async fn utilisation(RequestState(s): RequestState) -> Result<Response, ApiError> {
    let rows = s.store.pool_utilisation().await?;
    let items: Vec<Value> = rows.into_iter().map(utilisation_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

fn utilisation_json(p: PoolUtilisation) -> Value {
    let kinds: serde_json::Map<String, Value> = KINDS
        .iter()
        .zip(p.kinds)
        .map(|(k, (quota, used))| (k.to_string(), json!({ "quota": quota, "used": used })))
        .collect();
    json!({
        "tenant_id": p.tenant_id.as_str(),
        "display_name": p.display_name,
        "status": p.status,
        "kinds": kinds,
    })
}

async fn verifications(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Response, ApiError> {
    let runs = s.store.recent_verifications(limit(q.limit, 10)?).await?;
    let items: Vec<Value> = runs.into_iter().map(verification_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

fn verification_json(r: VerificationRun) -> Value {
    json!({ "occurred_at": timestamp_text(&r.occurred_at), "verification": r.payload.0 })
}

fn utilisation_schema() -> Value {
    let kind = json!({
        "type": "object",
        "required": ["quota", "used"],
        "properties": { "quota": { "type": "integer" }, "used": { "type": "integer" } },
    });
    json!({
        "type": "object",
        "required": ["tenant_id", "display_name", "status", "kinds"],
        "properties": {
            "tenant_id": { "type": "string" },
            "display_name": { "type": "string" },
            "status": { "type": "string" },
            "kinds": {
                "type": "object",
                "required": KINDS,
                "properties": { "MSISDN": kind, "SHORT_CODE": kind, "ALPHA": kind },
            },
        },
    })
}

fn verification_schema() -> Value {
    json!({
        "type": "object",
        "required": ["occurred_at", "verification"],
        "properties": {
            "occurred_at": { "type": "string", "format": "date-time" },
            "verification": {
                "type": "object",
                "description": "the event's payload: result (intact | broken), entries_verified, pending, head, checkpoint, broken, verified_at, duration_ms (docs/events/)",
            },
        },
    })
}
