//! Tenant REST API under `/v1/portal/numbering`: browse available stock,
//! reserve (a given identifier or "any that matches"), hold, cancel, assign,
//! leases (list, detail, auto-renew, release), the pool view and an
//! identifier's lease history.
//!
//! The tenant always comes from the verified token, never from a body; every
//! store call runs in that tenant's row-level-security scope, so another
//! tenant's reservation or lease is simply not found (404). A token with an
//! `account_id` claim acts for that account of the tenant only: another
//! account's reservation or lease, or naming another account, is 403
//! `ACCOUNT_NOT_PERMITTED` (see `numbering_http_edge::leasing::account`).

mod call;
pub mod config;
pub mod lambda;
mod leases;
mod pool;
mod reservations;
pub mod wire;

use axum::http::StatusCode;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware::from_fn_with_state,
    routing::{delete, get, patch, post, put},
};
use numbering_http_edge::{
    ApiError, ApiState, Routes, auth, criteria, idempotency, no_route,
    openapi::{Op, list_of, path, query},
    ratelimit, router_of,
};

use leases::{assign, history, lease, leases, release, update_lease};
use numbering_http_edge::accounts::{account_quotas_schema, account_schema};
use pool::{browse, pool, put_account};
use reservations::{cancel, hold, reservation, reservations, reserve};
use wire::*;

pub const PREFIX: &str = "/v1/portal/numbering";

/// The portal routes (mounted at their full paths); switched off
/// (`NUMBERING_PORTAL_ENABLED=false`), every one answers 503
/// `PORTAL_DISABLED`.
pub fn router(state: ApiState) -> Router {
    if !state.edge.portal_enabled {
        return switched_off();
    }
    let body_limit = state.edge.body_limit;
    let router = router_of(routes())
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), ratelimit::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_tenant))
        .route_layer(DefaultBodyLimit::max(body_limit))
        .route("/v1/portal/numbering/{*rest}", axum::routing::any(no_route));
    // 405s, 414s and 431s as problem+json, however this router is mounted
    numbering_http_edge::api_router(router).with_state(state)
}

/// The portal while it is switched off: any method on any path under
/// [`PREFIX`] answers 503 problem+json `PORTAL_DISABLED`, before
/// authentication.
fn switched_off() -> Router {
    async fn disabled() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "PORTAL_DISABLED",
            "the tenant portal is switched off; a platform admin can act for the tenant",
        )
    }
    Router::new()
        .route(PREFIX, axum::routing::any(disabled))
        .route("/v1/portal/numbering/{*rest}", axum::routing::any(disabled))
}

/// Every (method, path, handler) the router serves: the router is built
/// from this list, and a test checks it against [`operations`].
fn routes() -> Routes {
    vec![
        ("get", "/v1/portal/numbering/available", get(browse)),
        ("post", "/v1/portal/numbering/reservations", post(reserve)),
        (
            "get",
            "/v1/portal/numbering/reservations",
            get(reservations),
        ),
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
            "put",
            "/v1/portal/numbering/pool/accounts/{account_id}",
            put(put_account),
        ),
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
            problems: &[503],
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
            // 403: an account not permitted (ACCOUNT_NOT_PERMITTED) or not
            // in the pool; 409 QUOTA_EXCEEDED says its scope
            problems: &[403, 404, 409, 503],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/reservations",
            operation_id: "listReservations",
            summary: "The tenant's reservations, newest first, optionally one account's",
            tag: T,
            params: vec![
                query(
                    "status",
                    "string",
                    "live (default: RESERVED or HELD, not lapsed) or all",
                ),
                query(
                    "account_id",
                    "string",
                    "only this account's (a token bound to an account: its own, and no other: 403 ACCOUNT_NOT_PERMITTED)",
                ),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(reservation_schema())),
            problems: &[403, 503],
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
            problems: &[403, 404, 503],
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
            problems: &[403, 404, 503],
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
            problems: &[403, 404, 503],
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
            problems: &[403, 404, 503],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/leases",
            operation_id: "listLeases",
            summary: "The tenant's leases, newest first",
            tag: T,
            params: vec![
                query("status", "string", "current (default) or all"),
                query(
                    "account_id",
                    "string",
                    "only this account's (a token bound to an account: its own, and no other: 403 ACCOUNT_NOT_PERMITTED)",
                ),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(lease_schema())),
            problems: &[403, 503],
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
            problems: &[403, 404, 503],
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
            problems: &[403, 404, 503],
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
            problems: &[403, 404, 503],
        },
        Op {
            method: "get",
            path: "/v1/portal/numbering/pool",
            operation_id: "getPool",
            summary: "The tenant's pool: quotas and current usage per kind, and per account",
            tag: T,
            params: vec![],
            body: None,
            success: (200, pool_schema),
            problems: &[404, 503],
        },
        Op {
            method: "put",
            path: "/v1/portal/numbering/pool/accounts/{account_id}",
            operation_id: "putAccountQuotas",
            summary: "Create an account in the pool or set its sub-quotas per kind (the tenant's pool admin; a token bound to an account: 403 ACCOUNT_NOT_PERMITTED)",
            tag: T,
            params: vec![path(
                "account_id",
                "the account, 1 to 64 of A-Z a-z 0-9 . _ : -",
            )],
            body: Some(account_quotas_schema),
            success: (200, account_schema),
            problems: &[403, 404, 503],
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
            problems: &[404, 503],
        },
    ]
}
