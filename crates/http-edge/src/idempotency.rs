//! `Idempotency-Key` on mutating routes (IETF draft + Stripe semantics):
//! missing → 400; same key and same request → the stored response replayed
//! byte for byte (kept in Postgres, so also after a restart); same key and a
//! different request → 422 `IDEMPOTENCY_KEY_REUSED`; same key while the
//! first request still runs → 409 `IDEMPOTENCY_KEY_IN_USE`. Keys are scoped
//! per tenant (platform admins: per subject) and kept at least 24 h. A
//! response of ours that is a 5xx is not stored, so a retry runs again.
//!
//! [`layer`] runs the request in one transaction with its key and stored
//! response (exactly once: a crash anywhere leaves both or neither; see
//! `numbering_store::idempotency`). It puts the request's unit of work
//! into the request's extensions, and handlers reach the store through
//! [`RequestState`], which binds it to that unit (`numbering_store::uow`:
//! each store call is a step that commits or rolls back on its own, and
//! the stored response commits with the steps that committed). A handler
//! that took the router's plain `State<ApiState>` would write outside the
//! request's transaction: handlers of routes under [`layer`] take
//! [`RequestState`]. [`claim_layer`] claims the key first and completes it
//! afterwards, for long requests that commit several transactions of their
//! own (imports, exports).

use axum::{
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use numbering_store::{
    LifecycleError,
    idempotency::{Claim, Entered, IdempotencyError, StoredResponse},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{ApiError, ApiState, Principal, extract::body_error, request::InUnit};

pub const HEADER: &str = "idempotency-key";

impl From<IdempotencyError> for ApiError {
    fn from(e: IdempotencyError) -> Self {
        match e {
            // as any store operation's database error (a deadlock: 409)
            IdempotencyError::Database(e) => LifecycleError::from(e).into(),
            other => ApiError::internal(&other),
        }
    }
}

/// Middleware for a router whose mutating routes need a key and make
/// their change in one store transaction; runs after authentication (it
/// needs the [`Principal`]).
pub async fn layer(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if !mutating(&req) {
        return next.run(req).await;
    }
    match in_transaction(state, req, next).await {
        Ok(r) | Err(r) => r,
    }
}

/// Middleware like [`layer`] for long requests that commit several
/// transactions of their own: the key is claimed (committed IN_PROGRESS)
/// before the request runs and completed after it.
pub async fn claim_layer(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if !mutating(&req) {
        return next.run(req).await;
    }
    match claimed_first(state, req, next).await {
        Ok(r) | Err(r) => r,
    }
}

fn mutating(req: &Request) -> bool {
    matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// A request under a key: whose key it is and what the request was.
struct Keyed {
    tenant: Option<numbering_shared::TenantId>,
    owner: String,
    key: String,
    fingerprint: String,
    request: Request,
}

async fn keyed(state: &ApiState, req: Request) -> Result<Keyed, Response> {
    let key = req
        .headers()
        .get(HEADER)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "IDEMPOTENCY_KEY_MISSING",
                "this request needs an Idempotency-Key header",
            )
            .field("Idempotency-Key")
            .into_response()
        })?
        .to_str()
        .ok()
        .map(str::to_owned)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "the Idempotency-Key must be 1 to 255 visible characters",
            )
            .into_response()
        })?;
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            ApiError::internal(&"idempotency layer without a principal").into_response()
        })?;
    let (tenant, owner) = match &principal.tenant_id {
        Some(t) if principal.has_role(crate::auth::TENANT_ROLE) => {
            (Some(t.clone()), t.as_str().to_owned())
        }
        _ => (None, format!("platform:{}", principal.subject)),
    };
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.edge.body_limit)
        .await
        .map_err(|_| body_error("", StatusCode::PAYLOAD_TOO_LARGE).into_response())?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update(b"\n");
    h.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
    h.update(b"\n");
    h.update(&bytes);
    Ok(Keyed {
        tenant,
        owner,
        key,
        fingerprint: hex::encode(h.finalize()),
        request: Request::from_parts(parts, Body::from(bytes)),
    })
}

/// The answer to a request whose key is not ours to run.
fn decided(claim: Claim) -> Response {
    match claim {
        Claim::Claimed => ApiError::internal(&"a claimed key decided nothing").into_response(),
        Claim::Replay(stored) => replay(stored),
        Claim::InFlight => ApiError::new(
            StatusCode::CONFLICT,
            "IDEMPOTENCY_KEY_IN_USE",
            "a request with this Idempotency-Key is still being processed",
        )
        .into_response(),
        Claim::Reused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            "this Idempotency-Key was used for a different request",
        )
        .field("Idempotency-Key")
        .into_response(),
    }
}

async fn in_transaction(state: ApiState, req: Request, next: Next) -> Result<Response, Response> {
    let k = keyed(&state, req).await?;
    let entered = state
        .store
        .enter_idempotency_key(k.tenant.as_ref(), &k.owner, &k.key, &k.fingerprint)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let unit = match entered {
        Entered::Claimed(unit) => unit,
        Entered::Decided(claim) => return Ok(decided(claim)),
    };
    let mut request = k.request;
    request.extensions_mut().insert(InUnit(unit.store()));
    let response = next.run(request).await;
    if response.status().is_server_error() {
        // whatever the request did is rolled back; a retry runs it again
        if let Err(e) = unit.abandon().await {
            tracing::warn!(error = %e, "could not roll back a failed request");
        }
        return Ok(response);
    }
    let (parts, stored) = recorded(response).await?;
    if let Err(e) = unit.complete(&stored).await {
        // nothing of the request was committed: the client may retry
        tracing::warn!(error = %e, "could not commit the request with its stored response");
        return Err(ApiError::from(e).into_response());
    }
    Ok(Response::from_parts(parts, Body::from(stored.body)))
}

async fn claimed_first(state: ApiState, req: Request, next: Next) -> Result<Response, Response> {
    let Keyed {
        tenant,
        owner,
        key,
        fingerprint,
        request,
    } = keyed(&state, req).await?;
    let store = &state.store;
    let claim = store
        .claim_idempotency_key(tenant.as_ref(), &owner, &key, &fingerprint)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    if claim != Claim::Claimed {
        return Ok(decided(claim));
    }
    let response = next.run(request).await;
    if response.status().is_server_error() {
        let _ = store
            .abandon_idempotency_key(tenant.as_ref(), &owner, &key)
            .await;
        return Ok(response);
    }
    let (parts, stored) = match recorded(response).await {
        Ok(r) => r,
        Err(e) => {
            let _ = store
                .abandon_idempotency_key(tenant.as_ref(), &owner, &key)
                .await;
            return Err(e);
        }
    };
    if let Err(e) = store
        .complete_idempotency_key(tenant.as_ref(), &owner, &key, &stored)
        .await
    {
        // the work is done; failing to remember it only costs a 409 window
        tracing::warn!(error = %e, "could not store the idempotent response");
    }
    Ok(Response::from_parts(parts, Body::from(stored.body)))
}

/// A response as it is stored for replays: status, headers (but the
/// length and the date) and the body.
async fn recorded(
    response: Response,
) -> Result<(axum::http::response::Parts, StoredResponse), Response> {
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::internal(&e).into_response())?;
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .filter(|(n, _)| *n != "content-length" && *n != "date")
        .filter_map(|(n, v)| v.to_str().ok().map(|v| json!([n.as_str(), v])))
        .collect();
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        headers: Value::Array(headers),
        body: body.to_vec(),
    };
    Ok((parts, stored))
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut r = (status, stored.body).into_response();
    r.headers_mut().remove(axum::http::header::CONTENT_TYPE);
    if let Value::Array(pairs) = stored.headers {
        for p in pairs {
            if let (Some(n), Some(v)) = (
                p.get(0).and_then(Value::as_str),
                p.get(1).and_then(Value::as_str),
            ) {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::try_from(v)) {
                    r.headers_mut().append(n, v);
                }
            }
        }
    }
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
