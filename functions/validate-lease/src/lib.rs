//! The per-message hot path: "may tenant T send from identifier X right now?"
//!
//! Fail-closed: when the answer cannot be established the caller gets
//! [`Unavailable`], never `allowed = true`. Today the answer comes from
//! Postgres; the in-process and DynamoDB cache tiers and the gRPC surface
//! arrive with the hot-path issue.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, TenantId, Verdict, validation};
use numbering_store::Store;
use serde::{Deserialize, Serialize};

/// The answer could not be established; the message must not go.
#[derive(Debug, thiserror::Error)]
#[error("lease validation is unavailable")]
pub struct Unavailable;

#[derive(Clone)]
pub struct Validator {
    store: Store,
}

impl Validator {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Validates raw caller input: an identifier or tenant that does not
    /// parse is simply not registered.
    pub async fn validate(
        &self,
        identifier: &str,
        tenant_id: &str,
    ) -> Result<Verdict, Unavailable> {
        let (Ok(identifier), Ok(tenant)) =
            (Identifier::parse(identifier), TenantId::parse(tenant_id))
        else {
            return Ok(Verdict::not_registered());
        };
        match self.store.snapshot(&identifier).await {
            Ok(snapshot) => Ok(validation::validate(snapshot.as_ref(), &tenant, Utc::now())),
            Err(e) => {
                tracing::error!(error = %e, "validate-lease could not read the system of record");
                Err(Unavailable)
            }
        }
    }
}

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

/// `POST /v1/validate-lease` (JSON), for the Lambda deployment where API
/// Gateway cannot carry gRPC.
pub fn router(validator: Validator) -> Router {
    Router::new()
        .route("/v1/validate-lease", post(validate_lease))
        .with_state(validator)
}

async fn validate_lease(
    State(v): State<Validator>,
    Json(req): Json<ValidateLeaseRequest>,
) -> Response {
    match v.validate(&req.identifier, &req.tenant_id).await {
        Ok(verdict) => Json(ValidateLeaseResponse::from(verdict)).into_response(),
        Err(Unavailable) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/problem+json")],
            r#"{"type":"about:blank","title":"Service Unavailable","status":503,"code":"UNAVAILABLE","detail":"lease validation is unavailable; the message must not be sent"}"#,
        )
            .into_response(),
    }
}
