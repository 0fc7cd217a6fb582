//! JSON over HTTP: `POST /v1/validate-lease` and `POST /v1/lookup`. The
//! Lambda deployment serves them behind API Gateway, which authorises the
//! caller with IAM (it cannot carry gRPC); the host serves them beside
//! `NumberingService`, so with mTLS configured only on the mTLS listener,
//! behind the same caller allowlist ([`crate::mtls::authenticated`]).

use axum::{
    Json, Router,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::tiers::{Unavailable, Validator};

#[derive(Debug, Deserialize)]
pub struct ValidateLeaseRequest {
    pub identifier: String,
    pub tenant_id: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidateLeaseResponse {
    pub allowed: bool,
    pub reason: String,
    pub lease_id: String,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl From<Verdict> for ValidateLeaseResponse {
    fn from(v: Verdict) -> Self {
        Self {
            allowed: v.allowed,
            reason: v.reason.as_str().to_owned(),
            lease_id: v.lease_id.map(|l| l.to_string()).unwrap_or_default(),
            lease_expires_at: v.lease_expires_at,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LookupRequest {
    pub identifier: String,
}

pub fn router(validator: Validator) -> Router {
    Router::new()
        .route("/v1/validate-lease", post(validate_lease))
        .route("/v1/lookup", post(lookup))
        .with_state(validator)
}

pub(crate) fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn unavailable() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "lease validation is unavailable; the message must not be sent",
    )
}

async fn validate_lease(
    State(v): State<Validator>,
    body: Result<Json<ValidateLeaseRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &e.body_text()),
    };
    match v.validate(&req.identifier, &req.tenant_id).await {
        Ok(verdict) => Json(ValidateLeaseResponse::from(verdict)).into_response(),
        Err(Unavailable) => unavailable(),
    }
}

async fn lookup(
    State(v): State<Validator>,
    body: Result<Json<LookupRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &e.body_text()),
    };
    let identifier = match Identifier::parse(&req.identifier) {
        Ok(i) => i,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "INVALID_IDENTIFIER",
                &e.to_string(),
            );
        }
    };
    match v.reader().lookup(&identifier).await {
        Ok(Some(l)) => Json(json!({
            "kind": l.kind, "state": l.state, "operator_id": l.operator_id,
            "operator_name": l.operator_name, "mcc": l.mcc, "mnc": l.mnc,
            "ported": l.ported, "home_operator_id": l.home_operator_id,
            "home_mcc": l.home_mcc, "home_mnc": l.home_mnc, "ported_at": l.ported_at,
        }))
        .into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("{identifier} is not in inventory"),
        ),
        Err(Unavailable) => unavailable(),
    }
}
