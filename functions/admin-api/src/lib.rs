//! Platform-admin REST API under `/v1/admin/numbering`: operators, lease
//! contracts, MNO signing keys, tenant pools, inventory search across
//! tenants, alphanumeric sender-ID registration, suspend / reinstate /
//! recall / retire, quarantine list and override, audit query and chain
//! verification, signed lease imports; reserve, assign and release on a
//! tenant's behalf; two-person approvals of the dangerous actions
//! (`approvals`: override, retire, recall, pool tier / big quota changes,
//! signing-key install and revoke, contract end answer 202 until a second
//! admin approves); the lease-contract lifecycle (suspend, resume, end,
//! utilisation).

mod accounts;
mod approvals;
mod audit;
mod call;
pub mod config;
pub mod console;
mod contracts;
mod exports;
mod forecast;
mod imports;
pub mod lambda;
mod numbers;
mod operators;
mod pools;
mod portings;
mod quarantine;
mod readiness;
mod renumberings;
mod review;
mod tenants;
mod wire;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware::from_fn_with_state,
    routing::{get, post, put},
};
use numbering_http_edge::{
    ApiState, Routes, auth, criteria, idempotency, no_route,
    openapi::{Op, any_object, list_of, path, query},
    router_of,
};

use audit::{audit_query, audit_verify};
use call::{ctx, limit, ok};
use numbers::{number, recall, register_sender_ids, reinstate, retire, search, suspend};
use operators::{
    contracts, create_contract, install_key, operators, put_operator, revoke_key, signing_keys,
};
use pools::{pool, pools, put_pool};
use quarantine::{override_quarantine, quarantine};
use wire::*;

/// The admin routes (mounted at their full paths).
pub fn router(state: ApiState) -> Router {
    let body_limit = state.edge.body_limit;
    // an export commits several transactions and writes WORM objects
    // between them: its key is claimed first (see `idempotency`)
    let exports = router_of(exports::routes())
        .route_layer(from_fn_with_state(state.clone(), idempotency::claim_layer));
    let readiness = router_of(readiness::routes());
    let forecast = router_of(forecast::routes());
    let router = router_of(own_routes())
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .merge(exports)
        .merge(readiness)
        .merge(forecast)
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin))
        .route_layer(DefaultBodyLimit::max(body_limit))
        .merge(imports::router(state.clone()))
        .merge(portings::router(state.clone()))
        .route("/v1/admin/numbering/{*rest}", axum::routing::any(no_route))
        // the console page is public; its API calls carry the token
        .merge(console::router());
    // 405s, 414s and 431s as problem+json, however this router is mounted
    numbering_http_edge::api_router(router).with_state(state)
}

/// Every (method, path, handler) the router serves: the router is built
/// from this list, and a test checks it against [`operations`].
fn routes() -> Routes {
    own_routes()
        .into_iter()
        .chain(exports::routes())
        .chain(readiness::routes())
        .chain(forecast::routes())
        .collect()
}

/// The routes but the exports' and the imports'.
fn own_routes() -> Routes {
    vec![
        ("get", "/v1/admin/numbering/operators", get(operators)),
        (
            "put",
            "/v1/admin/numbering/operators/{id}",
            put(put_operator),
        ),
        ("get", "/v1/admin/numbering/contracts", get(contracts)),
        (
            "post",
            "/v1/admin/numbering/contracts",
            post(create_contract),
        ),
        ("get", "/v1/admin/numbering/signing-keys", get(signing_keys)),
        (
            "post",
            "/v1/admin/numbering/signing-keys",
            post(install_key),
        ),
        (
            "post",
            "/v1/admin/numbering/signing-keys/{key_id}/revoke",
            post(revoke_key),
        ),
        ("get", "/v1/admin/numbering/pools", get(pools)),
        ("get", "/v1/admin/numbering/pools/{tenant_id}", get(pool)),
        (
            "put",
            "/v1/admin/numbering/pools/{tenant_id}",
            put(put_pool),
        ),
        ("get", "/v1/admin/numbering/numbers", get(search)),
        (
            "get",
            "/v1/admin/numbering/numbers/{identifier}",
            get(number),
        ),
        (
            "post",
            "/v1/admin/numbering/numbers/{identifier}/suspend",
            post(suspend),
        ),
        (
            "post",
            "/v1/admin/numbering/numbers/{identifier}/reinstate",
            post(reinstate),
        ),
        (
            "post",
            "/v1/admin/numbering/numbers/{identifier}/recall",
            post(recall),
        ),
        (
            "post",
            "/v1/admin/numbering/numbers/{identifier}/retire",
            post(retire),
        ),
        (
            "post",
            "/v1/admin/numbering/sender-ids",
            post(register_sender_ids),
        ),
        ("get", "/v1/admin/numbering/quarantine", get(quarantine)),
        (
            "post",
            "/v1/admin/numbering/quarantine/{identifier}/override",
            post(override_quarantine),
        ),
        ("get", "/v1/admin/numbering/audit", get(audit_query)),
        ("get", "/v1/admin/numbering/audit/verify", get(audit_verify)),
    ]
    .into_iter()
    .chain(module_routes())
    .collect()
}

/// The routes of the resource modules that keep their own table.
fn module_routes() -> Routes {
    [
        tenants::routes(),
        contracts::routes(),
        accounts::routes(),
        approvals::routes(),
        review::routes(),
        renumberings::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The (method, path) pairs the router serves.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    routes()
        .into_iter()
        .chain(imports::routes())
        .chain(portings::routes())
        .map(|(m, p, _)| (m, p))
        .collect()
}

/// The operations of [`router`], for the OpenAPI document.
pub fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let id = |d| vec![path("identifier", d)];
    let transition = |verb: &'static str, op_id: &'static str, summary: &'static str| Op {
        method: "post",
        path: verb,
        operation_id: op_id,
        summary,
        tag: T,
        params: id("the identifier"),
        body: None,
        success: (200, number_schema),
        problems: &[404, 409],
    };
    vec![
        Op {
            method: "get",
            path: "/v1/admin/numbering/operators",
            operation_id: "listOperators",
            summary: "Mobile network operators",
            tag: T,
            params: vec![],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[],
        },
        Op {
            method: "put",
            path: "/v1/admin/numbering/operators/{id}",
            operation_id: "putOperator",
            summary: "Create or replace an operator",
            tag: T,
            params: vec![path("id", "operator id")],
            body: Some(operator_schema),
            success: (200, any_object),
            problems: &[409],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/contracts",
            operation_id: "listContracts",
            summary: "Lease contracts (per MNO: block ranges, dates, status ACTIVE / SUSPENDED / ENDED, version, ends_on, ended_at)",
            tag: T,
            params: vec![],
            body: None,
            success: (200, || list_of(contracts::contract_view_schema())),
            problems: &[],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/contracts",
            operation_id: "createContract",
            summary: "Record a lease contract",
            tag: T,
            params: vec![],
            body: Some(contract_schema),
            success: (201, any_object),
            problems: &[409],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/signing-keys",
            operation_id: "listSigningKeys",
            summary: "MNO signing keys",
            tag: T,
            params: vec![],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/signing-keys",
            operation_id: "installSigningKey",
            summary: "Install a signing key (rotate: install the new one, revoke the old)",
            tag: T,
            params: vec![],
            body: Some(signing_key_schema),
            success: (201, any_object),
            // 202: waits for a second admin (the two-person rule)
            problems: &[202, 409],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/signing-keys/{key_id}/revoke",
            operation_id: "revokeSigningKey",
            summary: "Revoke a signing key",
            tag: T,
            params: vec![path("key_id", "key id")],
            body: Some(revoke_schema),
            success: (200, any_object),
            problems: &[202, 404],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/pools",
            operation_id: "listPools",
            summary: "Every tenant pool",
            tag: T,
            params: vec![],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/pools/{tenant_id}",
            operation_id: "getTenantPool",
            summary: "One tenant's pool",
            tag: T,
            params: vec![path("tenant_id", "tenant id")],
            body: None,
            success: (200, any_object),
            problems: &[404],
        },
        Op {
            method: "put",
            path: "/v1/admin/numbering/pools/{tenant_id}",
            operation_id: "putTenantPool",
            summary: "Create or replace a tenant's pool (quotas, allowlists, vanity flag, status)",
            tag: T,
            params: vec![path("tenant_id", "tenant id")],
            body: Some(pool_schema),
            success: (200, any_object),
            // 202: a tier change or a quota raised above the threshold
            // waits for a second admin (the two-person rule)
            problems: &[202],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/numbers",
            operation_id: "searchNumbers",
            summary: "Inventory search across tenants",
            tag: T,
            params: criteria::params([
                query("state", "string", "lifecycle state"),
                query("tenant_id", "string", "holder"),
                query("limit", "integer", "1 to 500 (default 100)"),
                query("cursor", "string", "next_cursor of the previous page"),
            ]),
            body: None,
            success: (200, || list_of(number_schema())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/numbers/{identifier}",
            operation_id: "getNumber",
            summary: "One identifier's inventory record",
            tag: T,
            params: id("the identifier"),
            body: None,
            success: (200, number_schema),
            problems: &[404],
        },
        transition(
            "/v1/admin/numbering/numbers/{identifier}/suspend",
            "suspendNumber",
            "Suspend the current lease",
        ),
        transition(
            "/v1/admin/numbering/numbers/{identifier}/reinstate",
            "reinstateNumber",
            "Reinstate a suspended lease",
        ),
        Op {
            body: Some(justification_schema),
            problems: &[202, 404, 409],
            ..transition(
                "/v1/admin/numbering/numbers/{identifier}/recall",
                "recallNumber",
                "Recall a leased identifier into quarantine (two-person rule: 202)",
            )
        },
        Op {
            body: Some(justification_schema),
            problems: &[202, 404, 409],
            ..transition(
                "/v1/admin/numbering/numbers/{identifier}/retire",
                "retireNumber",
                "Retire an identifier from inventory (two-person rule: 202)",
            )
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/sender-ids",
            operation_id: "registerSenderIds",
            summary: "Register alphanumeric sender IDs (one, or a list, all or none) as AVAILABLE inventory; 409 ALREADY_IN_INVENTORY names those already held",
            tag: T,
            params: vec![],
            body: Some(sender_ids_schema),
            success: (201, || list_of(number_schema())),
            problems: &[409],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/quarantine",
            operation_id: "listQuarantine",
            summary: "Open quarantine records, soonest end first",
            tag: T,
            params: vec![query("limit", "integer", "1 to 500 (default 100)")],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/quarantine/{identifier}/override",
            operation_id: "overrideQuarantine",
            summary: "End a quarantine early, with a written justification kept in the audit trail",
            tag: T,
            params: id("the identifier"),
            body: Some(override_schema),
            success: (200, number_schema),
            problems: &[202, 404, 409],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/audit",
            operation_id: "queryAudit",
            summary: "Audit entries, newest first",
            tag: T,
            params: vec![
                query("subject", "string", "identifier or other subject"),
                query("tenant_id", "string", "tenant"),
                query("action", "string", "e.g. number.quarantine_overridden"),
                query(
                    "before_id",
                    "integer",
                    "only entries older than this id (pagination)",
                ),
                query("limit", "integer", "1 to 500 (default 100)"),
            ],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/audit/verify",
            operation_id: "verifyAudit",
            summary: "Seal pending entries, recompute the audit hash chain and compare its head with the newest signed checkpoint (a truncation is intact: false, with the position); an intact head is checkpointed",
            tag: T,
            params: vec![],
            body: None,
            success: (200, any_object),
            problems: &[],
        },
    ]
    .into_iter()
    .chain(exports::operations())
    .chain(readiness::operations())
    .chain(imports::operations())
    .chain(tenants::operations())
    .chain(contracts::operations())
    .chain(accounts::operations())
    .chain(approvals::operations())
    .chain(portings::operations())
    .chain(forecast::operations())
    .chain(review::operations())
    .chain(renumberings::operations())
    .collect()
}
