//! What admin handlers start from, and the parsing and answers they share.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use numbering_http_edge::{ApiError, ApiState, Caller, Principal, access_log};
use numbering_shared::{Identifier, TenantId};
use numbering_store::{Actor, Ctx, Store};
use serde_json::json;

use crate::wire::AdminJson;

/// An admin's change: the request's state (its store bound to the
/// request's unit of work under an Idempotency-Key, see [`numbering_http_edge::RequestState`])
/// and the audit context (the admin's subject and the request id). Reads
/// take [`numbering_http_edge::RequestState`] alone.
pub(crate) struct AdminCall {
    pub state: ApiState,
    pub ctx: Ctx,
}

impl AdminCall {
    pub fn store(&self) -> &Store {
        &self.state.store
    }
}

impl FromRequestParts<ApiState> for AdminCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let c = Caller::from_request_parts(parts, state).await?;
        let trace_id = parts
            .extensions
            .get::<numbering_clients::traces::TraceId>()
            .map(|t| t.0.clone());
        let ctx = Ctx::new(Actor::admin(&c.principal.subject))
            .with_request_id(c.request_id)
            .with_trace_id(trace_id);
        Ok(Self {
            state: c.state,
            ctx,
        })
    }
}

/// The audit context of `p`'s request (for the handlers that take the
/// router's state: exports and imports, which commit on their own).
pub(crate) fn ctx(p: &Principal, headers: &HeaderMap) -> Ctx {
    Ctx::new(Actor::admin(&p.subject)).with_request_id(access_log::request_id(headers))
}

pub(crate) fn identifier(raw: &str) -> Result<Identifier, ApiError> {
    Identifier::parse(raw).map_err(|e| ApiError::invalid_identifier("identifier", e.to_string()))
}

pub(crate) fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::invalid("tenant_id", e.to_string()))
}

pub(crate) fn limit(v: Option<i64>, default: i64) -> Result<i64, ApiError> {
    let l = v.unwrap_or(default);
    if (1..=500).contains(&l) {
        Ok(l)
    } else {
        Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 500",
        ))
    }
}

pub(crate) fn ok(status: StatusCode, v: impl AdminJson) -> Response {
    (status, axum::Json(v.into_json())).into_response()
}

/// A list answer without further pages.
pub(crate) fn items(v: Vec<impl AdminJson>) -> Response {
    let v: Vec<_> = v.into_iter().map(AdminJson::into_json).collect();
    ok(StatusCode::OK, json!({ "items": v, "next_cursor": null }))
}
