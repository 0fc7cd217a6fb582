//! Tenant pools: list, read, create or replace.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath},
};
use numbering_shared::TenantId;

use crate::{
    call::{AdminCall, items, ok, tenant_id},
    wire::PoolBody,
};

pub(crate) async fn pools(RequestState(s): RequestState) -> Result<Response, ApiError> {
    Ok(items(s.store.tenant_pools().await?))
}

pub(crate) async fn pool(
    RequestState(s): RequestState,
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

pub(crate) async fn put_pool(
    a: AdminCall,
    ApiPath(t): ApiPath<String>,
    ApiJson(body): ApiJson<PoolBody>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let input = body.try_into_input(t.as_str())?;
    let v = a.store().put_tenant_pool(&a.ctx, &t, &input);
    Ok(ok(StatusCode::OK, v.await?))
}
