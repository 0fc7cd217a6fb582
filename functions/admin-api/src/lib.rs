//! Platform-admin REST API under `/v1/admin/numbering`: operators, lease
//! contracts, MNO signing keys, tenant pools, inventory search across
//! tenants, alphanumeric sender-ID registration, suspend / reinstate /
//! recall / retire, quarantine list and override, audit query and chain
//! verification, signed lease imports.

mod exports;
mod imports;
mod wire;

use std::time::Duration;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use numbering_http_edge::{
    ApiError, ApiState, Principal, auth, criteria, cursor,
    extract::{ApiJson, ApiPath, ApiQuery},
    idempotency,
    openapi::{Op, any_object, list_of, path, query},
};
use numbering_shared::{Identifier, NumberState, TenantId};
use numbering_store::{
    Actor, Ctx,
    admin::{AuditQuery, NumberSearch},
    audit,
    sender_ids::RegisterError,
};
use serde_json::json;

use wire::*;

/// The admin routes (mounted at their full paths).
pub fn router(state: ApiState) -> Router {
    let body_limit = state.edge.body_limit;
    let mut router = Router::new();
    for (_, path, method_router) in own_routes() {
        router = router.route(path, method_router);
    }
    // an export commits several transactions and writes WORM objects
    // between them: its key is claimed first (see `idempotency`)
    let mut exports = Router::new();
    for (_, path, method_router) in exports::routes() {
        exports = exports.route(path, method_router);
    }
    let router = router
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .merge(exports.route_layer(from_fn_with_state(state.clone(), idempotency::claim_layer)))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin))
        .route_layer(DefaultBodyLimit::max(body_limit))
        .merge(imports::router(state.clone()))
        // anything else under the prefix: a problem+json 404, not an empty one
        .route("/v1/admin/numbering/{*rest}", axum::routing::any(no_route));
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
    own_routes().into_iter().chain(exports::routes()).collect()
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
}

/// The (method, path) pairs the router serves.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    routes()
        .into_iter()
        .chain(imports::routes())
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
            summary: "Lease contracts (per MNO: block ranges, dates, status)",
            tag: T,
            params: vec![],
            body: None,
            success: (200, || list_of(any_object())),
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
            problems: &[409],
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
            problems: &[404],
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
            problems: &[],
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
        transition(
            "/v1/admin/numbering/numbers/{identifier}/recall",
            "recallNumber",
            "Recall a leased identifier into quarantine",
        ),
        transition(
            "/v1/admin/numbering/numbers/{identifier}/retire",
            "retireNumber",
            "Retire an identifier from inventory",
        ),
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
            problems: &[404, 409],
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
    .chain(imports::operations())
    .collect()
}

fn ctx(p: &Principal, headers: &HeaderMap) -> Ctx {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    Ctx::new(Actor::admin(&p.subject)).with_request_id(request_id)
}

fn identifier(raw: &str) -> Result<Identifier, ApiError> {
    Identifier::parse(raw).map_err(|e| ApiError::invalid_identifier("identifier", e.to_string()))
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::invalid("tenant_id", e.to_string()))
}

fn limit(v: Option<i64>, default: i64) -> Result<i64, ApiError> {
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

fn ok(status: StatusCode, v: impl AdminJson) -> Response {
    (status, axum::Json(v.into_json())).into_response()
}

fn items(v: Vec<impl AdminJson>) -> Response {
    let v: Vec<_> = v.into_iter().map(AdminJson::into_json).collect();
    ok(StatusCode::OK, json!({ "items": v, "next_cursor": null }))
}

async fn operators(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(items(s.store.operators().await?))
}

async fn put_operator(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OperatorBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input(id)?;
    Ok(ok(
        StatusCode::OK,
        s.store.put_operator(&ctx(&p, &headers), &input).await?,
    ))
}

async fn contracts(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(items(s.store.contracts().await?))
}

async fn create_contract(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ContractBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input()?;
    Ok(ok(
        StatusCode::CREATED,
        s.store.create_contract(&ctx(&p, &headers), &input).await?,
    ))
}

async fn signing_keys(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(items(s.store.signing_keys().await?))
}

async fn install_key(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SigningKeyBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input()?;
    Ok(ok(
        StatusCode::CREATED,
        s.store
            .install_signing_key(&ctx(&p, &headers), &input)
            .await?,
    ))
}

async fn revoke_key(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(key_id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Response, ApiError> {
    if body.reason.trim().is_empty() || body.reason.len() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be 1 to 1000 characters",
        ));
    }
    Ok(ok(
        StatusCode::OK,
        s.store
            .revoke_signing_key(&ctx(&p, &headers), &key_id, &body.reason)
            .await?,
    ))
}

async fn pools(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(items(s.store.tenant_pools().await?))
}

async fn pool(
    State(s): State<ApiState>,
    ApiPath(t): ApiPath<String>,
) -> Result<Response, ApiError> {
    let t = TenantId::parse(&t).map_err(|_| ApiError::not_found("pool"))?;
    let v = s
        .store
        .tenant_pool(&t)
        .await?
        .ok_or_else(|| ApiError::not_found("pool"))?;
    Ok(ok(StatusCode::OK, v))
}

async fn put_pool(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(t): ApiPath<String>,
    ApiJson(body): ApiJson<PoolBody>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let input = body.try_into_input(t.as_str())?;
    Ok(ok(
        StatusCode::OK,
        s.store
            .put_tenant_pool(&ctx(&p, &headers), &t, &input)
            .await?,
    ))
}

async fn search(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(q.limit, 100)?;
    let state = q
        .state
        .as_deref()
        .map(|st| {
            st.parse::<NumberState>()
                .map(|s| s.as_str().to_owned())
                .map_err(|_| ApiError::invalid("state", "state is not a lifecycle state"))
        })
        .transpose()?;
    let tenant = q.tenant_id.as_deref().map(tenant_id).transpose()?;
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = s
        .store
        .search_numbers(&NumberSearch {
            criteria: q.criteria("")?,
            state,
            tenant_id: tenant,
            after,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next = if more {
        rows.last().map(|r| cursor::encode(&r.position))
    } else {
        None
    };
    let v: Vec<_> = rows.iter().cloned().map(AdminJson::into_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": v, "next_cursor": next }),
    ))
}

async fn number(
    State(s): State<ApiState>,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    let n = s
        .store
        .number(&identifier(&raw)?)
        .await?
        .ok_or_else(|| ApiError::not_found("identifier"))?;
    Ok(ok(StatusCode::OK, number_json(&n)))
}

macro_rules! transition_handler {
    ($name:ident, $method:ident) => {
        async fn $name(
            State(s): State<ApiState>,
            Extension(p): Extension<Principal>,
            headers: HeaderMap,
            ApiPath(raw): ApiPath<String>,
        ) -> Result<Response, ApiError> {
            let id = identifier(&raw)?;
            let n = s.store.$method(&ctx(&p, &headers), &id).await?;
            Ok(ok(StatusCode::OK, number_json(&n)))
        }
    };
}
transition_handler!(suspend, suspend);
transition_handler!(reinstate, reinstate);
transition_handler!(recall, recall);
transition_handler!(retire, retire);

async fn register_sender_ids(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SenderIdsBody>,
) -> Result<Response, ApiError> {
    let ids = body.try_into_identifiers()?;
    let records = s
        .store
        .register_sender_ids(&ctx(&p, &headers), &ids)
        .await
        .map_err(|e| match e {
            RegisterError::AlreadyInInventory(taken) => ApiError::new(
                StatusCode::CONFLICT,
                "ALREADY_IN_INVENTORY",
                format!(
                    "already in inventory: {}; nothing was registered",
                    taken.join(", ")
                ),
            )
            .with(json!({ "identifiers": taken })),
            RegisterError::Invalid(detail) => ApiError::invalid("sender_ids", detail),
            RegisterError::Store(e) => e.into(),
        })?;
    let items: Vec<_> = records.iter().map(number_json).collect();
    Ok(ok(
        StatusCode::CREATED,
        json!({ "items": items, "next_cursor": null }),
    ))
}

async fn quarantine(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Response, ApiError> {
    Ok(items(s.store.quarantine_list(limit(q.limit, 100)?).await?))
}

async fn override_quarantine(
    State(s): State<ApiState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<OverrideBody>,
) -> Result<Response, ApiError> {
    let id = identifier(&raw)?;
    let j = body.justification.trim();
    if j.chars().count() < 20 || j.len() > 2000 {
        return Err(ApiError::invalid(
            "justification",
            "a written justification of at least 20 characters is required",
        ));
    }
    let n = s
        .store
        .override_quarantine(&ctx(&p, &headers), &id, j)
        .await?;
    Ok(ok(StatusCode::OK, number_json(&n)))
}

async fn audit_query(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<AuditQueryParams>,
) -> Result<Response, ApiError> {
    let v = s
        .store
        .audit_entries(&AuditQuery {
            subject: q.subject,
            tenant_id: q.tenant_id,
            action: q.action,
            before_id: q.before_id,
            limit: limit(q.limit, 100)?,
        })
        .await?;
    let next = if v.len() as i64 == limit(q.limit, 100)? {
        v.last().map(|e| e.id)
    } else {
        None
    };
    let v: Vec<_> = v.into_iter().map(AdminJson::into_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": v, "next_before_id": next }),
    ))
}

/// Seals, verifies the chain against the newest signed checkpoint in the
/// export's write-once store, and checkpoints an intact head (see
/// `numbering_export::checkpoint`).
async fn audit_verify(State(s): State<ApiState>) -> Result<Response, ApiError> {
    use numbering_export::checkpoint::{Checkpointer, verify_and_checkpoint};
    let pool = s.store.pool();
    audit::seal_pending(pool, Duration::from_secs(5))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let checkpointer = s.edge.exports.as_ref().map(Checkpointer::for_exports);
    let done = verify_and_checkpoint(pool, checkpointer.as_ref())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let r = &done.report;
    Ok(ok(
        StatusCode::OK,
        json!({
            "intact": r.is_intact(),
            "checked": r.checked,
            "head": r.head.as_ref().map(|h| json!({ "seq": h.seq, "hash": h.hash_hex() })),
            "first_break": r.first_break.as_ref().map(|b| json!({
                "position": b.position,
                "kind": b.kind.to_string(),
                "code": b.kind.code(),
            })),
            "pending": r.pending,
            "checkpoint": done.checkpoint.as_ref().map(|c| json!({
                "seq": c.seq,
                "hash": hex_string(&c.hash),
                "time": c.time,
            })),
            "checkpoints_refused": done.refused.len() + done.unreadable.len(),
        }),
    ))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
