//! A tenant's leases: assign (a reservation becomes a lease), list, read,
//! auto-renew, release, and the leases held on one identifier.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError,
    extract::{ApiJson, ApiPath, ApiQuery},
    leasing,
};

use crate::{
    call::{TenantCall, identifier, items, json_response, lease_id},
    wire::{AssignBody, LeasesQuery, UpdateLeaseBody, lease_json},
};

pub(crate) async fn assign(
    t: TenantCall,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Response, ApiError> {
    if let Ok(id) = numbering_shared::ReservationId::parse(&body.reservation_id) {
        t.may_act_on_reservation(id).await?;
    }
    let l = leasing::assign(&t.state, &t.ctx, &t.tenant, body).await?;
    Ok(json_response(StatusCode::CREATED, lease_json(&l)))
}

pub(crate) async fn leases(
    t: TenantCall,
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
    let account = leasing::account(t.account.as_ref(), q.account_id.as_deref(), "account_id")?;
    let ls = t
        .store()
        .leases_of(&t.tenant, current, account.as_ref(), limit)
        .await?;
    Ok(items(ls.iter().map(lease_json).collect()))
}

pub(crate) async fn lease(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = lease_id(&id)?;
    t.may_act_on_lease(id).await?;
    let l = t
        .store()
        .lease(&t.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("lease"))?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

pub(crate) async fn update_lease(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateLeaseBody>,
) -> Result<Response, ApiError> {
    let id = lease_id(&id)?;
    t.may_act_on_lease(id).await?;
    let l = t
        .store()
        .set_auto_renew(&t.ctx, &t.tenant, id, body.auto_renew)
        .await?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

pub(crate) async fn release(
    t: TenantCall,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    if let Ok(lease) = lease_id(&id) {
        t.may_act_on_lease(lease).await?;
    }
    let l = leasing::release(t.store(), &t.ctx, &t.tenant, &id).await?;
    Ok(json_response(StatusCode::OK, lease_json(&l)))
}

pub(crate) async fn history(
    t: TenantCall,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = identifier("identifier", &raw)?;
    let ls = t.store().lease_history(&t.tenant, &id).await?;
    if ls.is_empty() {
        return Err(ApiError::not_found("lease history of this identifier"));
    }
    Ok(items(ls.iter().map(lease_json).collect()))
}
