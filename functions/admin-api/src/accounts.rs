//! Accounts inside a tenant's pool as the platform admin sees and sets
//! them: every account with its sub-quotas and usage, and an account's
//! quotas per kind (the same change as the tenant's pool admin makes on the
//! portal, in the platform scope, audited as the admin).

use axum::{
    http::StatusCode,
    response::Response,
    routing::{get, put},
};
use numbering_http_edge::{
    ApiError, RequestState,
    accounts::{
        AccountQuotasBody, account_id, account_json, account_quotas_schema, account_schema,
    },
    extract::{ApiJson, ApiPath},
    openapi::{Op, list_of, path},
};
use numbering_shared::TenantId;
use numbering_store::Scope;
use serde_json::json;

use crate::{
    Routes,
    call::{AdminCall, ok, tenant_id},
};

pub(crate) fn routes() -> Routes {
    vec![
        (
            "get",
            "/v1/admin/numbering/pools/{tenant_id}/accounts",
            get(accounts),
        ),
        (
            "put",
            "/v1/admin/numbering/pools/{tenant_id}/accounts/{account_id}",
            put(put_account),
        ),
    ]
}

async fn accounts(
    RequestState(s): RequestState,
    ApiPath(t): ApiPath<String>,
) -> Result<Response, ApiError> {
    let t = TenantId::parse(&t).map_err(|_| ApiError::not_found("pool"))?;
    let accounts = s
        .store
        .accounts(Scope::Platform, &t)
        .await?
        .ok_or_else(|| ApiError::not_found("pool"))?;
    let items: Vec<_> = accounts.iter().map(account_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": null }),
    ))
}

async fn put_account(
    a: AdminCall,
    ApiPath((t, account)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AccountQuotasBody>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let account = account_id(&account)?;
    let quotas = body.quotas()?;
    let v = a
        .store()
        .put_account_quotas(&a.ctx, Scope::Platform, &t, &account, quotas)
        .await?;
    Ok(ok(StatusCode::OK, account_json(&v)))
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let tenant = || path("tenant_id", "the tenant whose pool it is");
    vec![
        Op {
            method: "get",
            path: "/v1/admin/numbering/pools/{tenant_id}/accounts",
            operation_id: "listPoolAccounts",
            summary: "A tenant pool's accounts with their sub-quotas and usage per kind",
            tag: T,
            params: vec![tenant()],
            body: None,
            success: (200, || list_of(account_schema())),
            problems: &[404],
        },
        Op {
            method: "put",
            path: "/v1/admin/numbering/pools/{tenant_id}/accounts/{account_id}",
            operation_id: "putPoolAccountQuotas",
            summary: "Create an account in a tenant's pool or set its sub-quotas per kind, audited as the admin",
            tag: T,
            params: vec![
                tenant(),
                path("account_id", "the account, 1 to 64 of A-Z a-z 0-9 . _ : -"),
            ],
            body: Some(account_quotas_schema),
            success: (200, account_schema),
            problems: &[404],
        },
    ]
}
