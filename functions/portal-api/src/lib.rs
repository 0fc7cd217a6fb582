//! Tenant REST API under `/v1/portal/numbering`: browse available stock,
//! reserve (a given identifier or "any that matches"), hold, cancel, assign,
//! leases (list, detail, auto-renew, release), the pool view and an
//! identifier's lease history.
//!
//! The tenant always comes from the verified token, never from a body; every
//! store call runs in that tenant's row-level-security scope, so another
//! tenant's reservation or lease is simply not found (404).

pub mod wire;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
use numbering_http_edge::{
    ApiError, ApiState, Principal, auth, criteria, cursor,
    extract::{ApiJson, ApiPath, ApiQuery},
    idempotency,
    openapi::{Op, list_of, path, query},
    ratelimit,
};
use numbering_shared::{Identifier, LeaseId, ReservationId, TenantId};
use numbering_store::{Actor, Ctx};
use serde_json::json;

use wire::*;

pub const PREFIX: &str = "/v1/portal/numbering";

/// The portal routes (mounted at their full paths).
pub fn router(state: ApiState) -> Router {
    let body_limit = state.edge.body_limit;
    let mut router = Router::new();
    for (_, path, method_router) in routes() {
        router = router.route(path, method_router);
    }
    let router = router
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), ratelimit::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_tenant))
        .route_layer(DefaultBodyLimit::max(body_limit))
        // anything else under the prefix: a problem+json 404, not an empty one
        .route("/v1/portal/numbering/{*rest}", axum::routing::any(no_route));
    // 405s, 414s and 431s as problem+json, however this router is mounted
    numbering_http_edge::api_router(router).with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::not_found("route")
}

type Routes = Vec<(
    &'static str,
    &'static str,
    axum::routing::MethodRouter<ApiState>,
)>;

/// Every (method, path, handler) the router serves: the router is built
/// from this list, and a test checks it against [`operations`].
fn routes() -> Routes {
    vec![
        ("get", "/v1/portal/numbering/available", get(browse)),
        ("post", "/v1/portal/numbering/reservations", post(reserve)),
        (
            "get",
            "/v1/portal/numbering/reservations/{id}",
            get(reservation),
        ),
        (
            "delete",
            "/v1/portal/numbering/reservations/{id}",
            delete(cancel),
        ),
        (
            "post",
            "/v1/portal/numbering/reservations/{id}/hold",
            post(hold),
        ),
        ("post", "/v1/portal/numbering/leases", post(assign)),
        ("get", "/v1/portal/numbering/leases", get(leases)),
        ("get", "/v1/portal/numbering/leases/{id}", get(lease)),
        (
            "patch",
            "/v1/portal/numbering/leases/{id}",
            patch(update_lease),
        ),
        (
            "post",
            "/v1/portal/numbering/leases/{id}/release",
            post(release),
        ),
        ("get", "/v1/portal/numbering/pool", get(pool)),
        (
            "get",
            "/v1/portal/numbering/numbers/{identifier}/history",
            get(history),
        ),
    ]
}

/// The (method, path) pairs the router serves.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// The operations of [`router`], for the OpenAPI document.
pub fn operations() -> Vec<Op> {
    const T: &str = "portal";
    vec![
        Op {
            method: "get",
            path: "/v1/portal/numbering/available",
            operation_id: "browseAvailable",
            summary: "Available identifiers the pool admits, filtered, by opaque cursor",
            tag: T,
            params: criteria::params([
                query("limit", "integer", "page size, 1 to 200 (default 50)"),
                query("cursor", "string", "next_cursor of the previous page"),
            ]),
            body: None,
            success: (200, || list_of(available_schema())),
            problems: &[],
        },
        Op {
            method: "post",
            path: "/v1/portal/numbering/reservations",
            operation_id: "reserve",
            summary: "Reserve a given identifier, or any available one matching criteria",
            tag: T,
            params: vec![],
            body: Some(reserve_schema),
            success: (201, reservation_schema),
            problems: &[404, 409],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/reservations/{id}",
            operation_id: "getReservation",
            summary: "One of the tenant's reservations",
            tag: T,
            params: vec![path("id", "reservation id")],
            body: None,
            success: (200, reservation_schema),
            problems: &[404],
        },
        Op {
            method: "delete",
            path: "/v1/portal/numbering/reservations/{id}",
            operation_id: "cancelReservation",
            summary: "Cancel a live reservation",
            tag: T,
            params: vec![path("id", "reservation id")],
            body: None,
            success: (200, reservation_schema),
            problems: &[404],
        },
        Op {
            method: "post",
            path: "/v1/portal/numbering/reservations/{id}/hold",
            operation_id: "holdReservation",
            summary: "Extend a reservation to the hold TTL",
            tag: T,
            params: vec![path("id", "reservation id")],
            body: None,
            success: (200, reservation_schema),
            problems: &[404],
        },
        Op {
            method: "post",
            path: "/v1/portal/numbering/leases",
            operation_id: "assign",
            summary: "Turn a live reservation into a lease",
            tag: T,
            params: vec![],
            body: Some(assign_schema),
            success: (201, lease_schema),
            problems: &[404],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/leases",
            operation_id: "listLeases",
            summary: "The tenant's leases, newest first",
            tag: T,
            params: vec![
                query("status", "string", "current (default) or all"),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(lease_schema())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/leases/{id}",
            operation_id: "getLease",
            summary: "One of the tenant's leases",
            tag: T,
            params: vec![path("id", "lease id")],
            body: None,
            success: (200, lease_schema),
            problems: &[404],
        },
        Op {
            method: "patch",
            path: "/v1/portal/numbering/leases/{id}",
            operation_id: "updateLease",
            summary: "Turn auto-renew on or off",
            tag: T,
            params: vec![path("id", "lease id")],
            body: Some(update_lease_schema),
            success: (200, lease_schema),
            problems: &[404],
        },
        Op {
            method: "post",
            path: "/v1/portal/numbering/leases/{id}/release",
            operation_id: "releaseLease",
            summary: "Release a lease; the identifier enters quarantine",
            tag: T,
            params: vec![path("id", "lease id")],
            body: None,
            success: (200, lease_schema),
            problems: &[404],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/pool",
            operation_id: "getPool",
            summary: "The tenant's pool: quotas and current usage per kind",
            tag: T,
            params: vec![],
            body: None,
            success: (200, pool_schema),
            problems: &[404],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/numbers/{identifier}/history",
            operation_id: "leaseHistory",
            summary: "The leases this tenant has held on an identifier",
            tag: T,
            params: vec![path("identifier", "the identifier, e.g. +93791234567")],
            body: None,
            success: (200, || list_of(lease_schema())),
            problems: &[404],
        },
    ]
}

fn tenant(p: &Principal) -> Result<&TenantId, ApiError> {
    p.tenant_id
        .as_ref()
        .ok_or_else(|| ApiError::forbidden("the token has no tenant_id"))
}

fn ctx(p: &Principal, headers: &HeaderMap) -> Result<Ctx, ApiError> {
    let t = tenant(p)?;
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    Ok(Ctx::new(Actor::tenant(t, &p.subject)).with_request_id(request_id))
}

fn reservation_id(raw: &str) -> Result<ReservationId, ApiError> {
    ReservationId::parse(raw).map_err(|_| ApiError::not_found("reservation"))
}

fn lease_id(raw: &str) -> Result<LeaseId, ApiError> {
    LeaseId::parse(raw).map_err(|_| ApiError::not_found("lease"))
}

fn identifier(field: &str, raw: &str) -> Result<Identifier, ApiError> {
    Identifier::parse(raw).map_err(|e| ApiError::invalid_identifier(field, e.to_string()))
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn browse(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<BrowseQuery>,
) -> Result<Response, ApiError> {
    let t = tenant(&p)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let crit = q.criteria("")?;
    let rows = s
        .store
        .browse(t, &crit, after.as_deref(), limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = if more {
        rows.last().map(|r| cursor::encode(&r.position))
    } else {
        None
    };
    let items: Vec<_> = rows.iter().map(available_json).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": next }),
    ))
}

async fn reserve(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Result<Response, ApiError> {
    let t = tenant(&p)?;
    let ctx = ctx(&p, &headers)?;
    let r = match (body.identifier, body.criteria) {
        (Some(raw), None) => {
            s.store
                .reserve(&ctx, t, &identifier("identifier", &raw)?)
                .await?
        }
        (None, Some(c)) => {
            s.store
                .reserve_any(&ctx, t, &c.criteria("criteria.")?)
                .await?
        }
        _ => {
            return Err(ApiError::invalid(
                "identifier",
                "give exactly one of identifier or criteria",
            ));
        }
    };
    Ok(json_response(StatusCode::CREATED, reservation_json(&r)))
}

async fn reservation(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = s
        .store
        .reservation(tenant(&p)?, reservation_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("reservation"))?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

async fn hold(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = s
        .store
        .hold(&ctx(&p, &headers)?, tenant(&p)?, reservation_id(&id)?)
        .await?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

async fn cancel(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = s
        .store
        .cancel(&ctx(&p, &headers)?, tenant(&p)?, reservation_id(&id)?)
        .await?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

async fn assign(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Response, ApiError> {
    let id = ReservationId::parse(&body.reservation_id).map_err(|_| {
        ApiError::invalid("reservation_id", "reservation_id is not a reservation id")
    })?;
    // an ALPHA sender id needs the registry's yes first (SPEC §2)
    let l = numbering_clients::assign_verified(
        &s.store,
        s.edge.registry.as_ref(),
        &ctx(&p, &headers)?,
        tenant(&p)?,
        id,
        body.auto_renew.unwrap_or(true),
    )
    .await
    .map_err(|e| match e {
        numbering_clients::AssignError::NotVerified { alpha_id } => ApiError::new(
            StatusCode::FORBIDDEN,
            "SENDER_ID_NOT_VERIFIED",
            format!("the sender-id registry has not verified {alpha_id} for this tenant"),
        ),
        numbering_clients::AssignError::RegistryUnavailable(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SENDER_ID_REGISTRY_UNAVAILABLE",
            "the sender-id registry could not be asked; an ALPHA sender id cannot be assigned now, retry later",
        ),
        numbering_clients::AssignError::Lifecycle(e) => ApiError::from(e),
    })?;
    Ok(json_response(StatusCode::CREATED, lease_json(&l)))
}

async fn leases(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<LeasesQuery>,
) -> Result<Response, ApiError> {
    let current = match q.status.as_deref() {
        None | Some("current") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("status", "status must be current or all")),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let ls = s.store.leases(tenant(&p)?, current, limit).await?;
    let items: Vec<_> = ls.iter().map(lease_json).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

async fn lease(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let l = s
        .store
        .lease(tenant(&p)?, lease_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("lease"))?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

async fn update_lease(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateLeaseBody>,
) -> Result<Response, ApiError> {
    let id = lease_id(&id)?;
    let l = s
        .store
        .set_auto_renew(&ctx(&p, &headers)?, tenant(&p)?, id, body.auto_renew)
        .await?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

async fn release(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let l = s
        .store
        .release(&ctx(&p, &headers)?, tenant(&p)?, lease_id(&id)?)
        .await?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

async fn pool(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
) -> Result<Response, ApiError> {
    let v = s
        .store
        .pool_view(tenant(&p)?)
        .await?
        .ok_or_else(|| ApiError::not_found("pool"))?;
    Ok(json_response(StatusCode::OK, pool_json(&v)))
}

async fn history(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = identifier("identifier", &raw)?;
    let ls = s.store.lease_history(tenant(&p)?, &id).await?;
    if ls.is_empty() {
        return Err(ApiError::not_found("lease history of this identifier"));
    }
    let items: Vec<_> = ls.iter().map(lease_json).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}
