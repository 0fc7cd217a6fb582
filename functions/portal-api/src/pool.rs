//! The tenant's pool: the available identifiers it admits (browse, by
//! opaque cursor), its quotas with their current usage, and its accounts'
//! sub-quotas.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError,
    accounts::{AccountQuotasBody, account_id, account_json},
    cursor,
    extract::{ApiJson, ApiPath, ApiQuery},
    leasing,
};
use numbering_store::Scope;
use serde_json::json;

use crate::{
    call::{TenantCall, json_response},
    wire::{BrowseQuery, available_json, pool_json},
};

pub(crate) async fn browse(
    t: TenantCall,
    ApiQuery(q): ApiQuery<BrowseQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let crit = q.criteria("")?;
    let rows = t
        .store()
        .browse(&t.tenant, &crit, after.as_deref(), limit + 1)
        .await?;
    let (rows, next) = cursor::page(&rows, limit, |r| &r.position);
    let items: Vec<_> = rows.iter().map(available_json).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "items": items, "next_cursor": next }),
    ))
}

pub(crate) async fn pool(t: TenantCall) -> Result<Response, ApiError> {
    let v = t
        .store()
        .pool_view(&t.tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("pool"))?;
    Ok(json_response(
        StatusCode::OK,
        pool_json(&v, t.account.as_ref()),
    ))
}

/// Sets one account's sub-quotas: the tenant's pool admin only (a token
/// bound to an account may not: 403 `ACCOUNT_NOT_PERMITTED`).
pub(crate) async fn put_account(
    t: TenantCall,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<AccountQuotasBody>,
) -> Result<Response, ApiError> {
    if let Some(bound) = &t.account {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            leasing::ACCOUNT_NOT_PERMITTED,
            format!(
                "this token acts for account {bound} only; the tenant's pool admin sets account quotas"
            ),
        ));
    }
    let account = account_id(&raw)?;
    let quotas = body.quotas()?;
    let a = t
        .store()
        .put_account_quotas(
            &t.ctx,
            Scope::Tenant(&t.tenant),
            &t.tenant,
            &account,
            quotas,
        )
        .await?;
    Ok(json_response(StatusCode::OK, account_json(&a)))
}
