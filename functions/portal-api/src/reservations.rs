//! A tenant's reservations: reserve (a given identifier, or any that
//! matches criteria, for the tenant or one of its accounts), list, read,
//! hold and cancel.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError,
    extract::{ApiJson, ApiPath, ApiQuery},
    leasing,
};

use crate::{
    call::{TenantCall, items, json_response, reservation_id},
    wire::{ReservationsQuery, ReserveBody, reservation_json},
};

pub(crate) async fn reserve(
    t: TenantCall,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Result<Response, ApiError> {
    let r = leasing::reserve_as(t.store(), &t.ctx, &t.tenant, t.account.as_ref(), body).await?;
    Ok(json_response(StatusCode::CREATED, reservation_json(&r)))
}

pub(crate) async fn reservations(
    t: TenantCall,
    ApiQuery(q): ApiQuery<ReservationsQuery>,
) -> Result<Response, ApiError> {
    let live = match q.status.as_deref() {
        None | Some("live") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::invalid("status", "status must be live or all")),
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let account = leasing::account(t.account.as_ref(), q.account_id.as_deref(), "account_id")?;
    let rs = t
        .store()
        .reservations(&t.tenant, live, account.as_ref(), limit)
        .await?;
    Ok(items(rs.iter().map(reservation_json).collect()))
}

pub(crate) async fn reservation(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = reservation_id(&id)?;
    t.may_act_on_reservation(id).await?;
    let r = t
        .store()
        .reservation(&t.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("reservation"))?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

pub(crate) async fn hold(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = reservation_id(&id)?;
    t.may_act_on_reservation(id).await?;
    let r = t.store().hold(&t.ctx, &t.tenant, id).await?;
    Ok(json_response(StatusCode::OK, reservation_json(&r)))
}

pub(crate) async fn cancel(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = reservation_id(&id)?;
    t.may_act_on_reservation(id).await?;
    Ok(json_response(
        StatusCode::OK,
        reservation_json(&t.store().cancel(&t.ctx, &t.tenant, id).await?),
    ))
}
