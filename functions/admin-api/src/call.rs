//! What admin handlers start from, and the parsing and answers they share.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use numbering_http_edge::{ApiError, ApiState, Caller, Principal, access_log};
use numbering_shared::{Identifier, TenantId};
use numbering_store::{Actor, Ctx, Store};
use serde_json::{Value, json};

use crate::wire::{AdminJson, JustificationBody};

/// An admin's change: the request's state (its store bound to the
/// request's unit of work under an Idempotency-Key, see [`numbering_http_edge::RequestState`])
/// and the audit context (the admin's subject and the request id). Reads
/// take [`numbering_http_edge::RequestState`] alone.
pub(crate) struct AdminCall {
    pub state: ApiState,
    pub ctx: Ctx,
    /// The admin's subject (the token's `sub`): who requests or approves
    /// a two-person action.
    pub subject: String,
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
        let subject = c.principal.subject.clone();
        let ctx = Ctx::new(Actor::admin(&subject))
            .with_request_id(c.request_id)
            .with_trace_id(trace_id);
        Ok(Self {
            state: c.state,
            ctx,
            subject,
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

/// The optional JSON body of a route that otherwise takes none (retire,
/// recall): `{"justification": …}`. No body (and no content type) is an
/// empty one; a body is read as [`ApiJson`](numbering_http_edge::extract::ApiJson) reads it.
pub(crate) struct Justified(pub JustificationBody);

impl axum::extract::FromRequest<ApiState> for Justified {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &ApiState) -> Result<Self, ApiError> {
        if req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
        {
            let bytes = axum::body::Bytes::from_request(req, state)
                .await
                .map_err(|e| match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PAYLOAD_TOO_LARGE",
                        "the request body is over the size limit",
                    ),
                    _ => ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", e.body_text()),
                })?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(JustificationBody::default()));
            }
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the request body must be application/json",
            ));
        }
        let numbering_http_edge::extract::ApiJson(body) =
            numbering_http_edge::extract::ApiJson::from_request(req, state).await?;
        Ok(Self(body))
    }
}

/// A JSON value (a body recorded for a two-person approval) read as `T`,
/// with the same problems as the body itself.
pub(crate) fn body_of<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    numbering_http_edge::extract::parse_json(v.to_string().as_bytes())
}
