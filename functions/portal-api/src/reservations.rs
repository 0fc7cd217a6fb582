//! A tenant's reservations: reserve (a given identifier, or any that
//! matches criteria), read, hold and cancel.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError,
    extract::{ApiJson, ApiPath},
    leasing,
};

use crate::{
    call::{TenantCall, json_response, reservation_id},
    wire::{ReserveBody, reservation_json},
};

pub(crate) async fn reserve(
    t: TenantCall,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Result<Response, ApiError> {
    let r = leasing::reserve(t.store(), &t.ctx, &t.tenant, body).await?;
    Ok(json_response(StatusCode::CREATED, reservation_json(&r)))
}

pub(crate) async fn reservation(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let r = t
        .store()
        .reservation(&t.tenant, reservation_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("reservation"))?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

pub(crate) async fn hold(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = reservation_id(&id)?;
    let r = t.store().hold(&t.ctx, &t.tenant, id).await?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

pub(crate) async fn cancel(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = reservation_id(&id)?;
    Ok(json_response(
        StatusCode::OK,
        reservation_json(&t.store().cancel(&t.ctx, &t.tenant, id).await?),
    ))
}
