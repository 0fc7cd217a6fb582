//! `GET /v1/admin/numbering/readiness?phase=N`: the seed's exit criteria of
//! a phase, evaluated from the live system (by the host, through
//! [`numbering_http_edge::readiness::Readiness`]); the same report as
//! `numbering readiness --phase N --json`.

use axum::{Json, extract::State, http::StatusCode, routing::get};
use numbering_http_edge::{
    ApiError, ApiState, Routes,
    extract::ApiQuery,
    openapi::{Op, query},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn routes() -> Routes {
    vec![("get", "/v1/admin/numbering/readiness", get(readiness))]
}

pub(crate) fn operations() -> Vec<Op> {
    vec![Op {
        method: "get",
        path: "/v1/admin/numbering/readiness",
        operation_id: "readiness",
        summary: "The seed's exit criteria of a rollout phase, measured from the live system",
        tag: "admin",
        params: vec![query("phase", "integer", "the phase: 1, 2 or 3")],
        body: None,
        success: (200, report_schema),
        problems: &[422, 503],
    }]
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhaseQuery {
    phase: Option<String>,
}

async fn readiness(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PhaseQuery>,
) -> Result<Json<Value>, ApiError> {
    let phase = match q.phase.as_deref().map(str::parse::<u8>) {
        Some(Ok(p @ 1..=3)) => p,
        _ => return Err(ApiError::invalid("phase", "phase must be 1, 2 or 3")),
    };
    let source = s.edge.readiness.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "READINESS_NOT_CONFIGURED",
            "this deployment does not evaluate readiness (the host does)",
        )
    })?;
    let report = source.report(phase).await.map_err(|e| {
        tracing::error!(error = %e, "readiness report failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "READINESS_UNAVAILABLE",
            "the readiness report could not be made",
        )
    })?;
    Ok(Json(report))
}

fn report_schema() -> Value {
    let text = json!({ "type": "string" });
    json!({
        "type": "object",
        "required": ["phase", "pass", "criteria"],
        "properties": {
            "phase": { "type": "integer", "minimum": 1, "maximum": 3 },
            "pass": { "type": "boolean", "description": "every criterion is PASS" },
            "criteria": { "type": "array", "items": {
                "type": "object",
                "required": ["name", "target", "measured", "status", "window"],
                "properties": {
                    "name": text, "target": text, "window": text,
                    "measured": { "type": ["string", "null"] },
                    "value": { "type": ["number", "null"] },
                    "status": { "enum": ["PASS", "FAIL", "NOT ENOUGH DATA"] },
                },
            }},
        },
    })
}
