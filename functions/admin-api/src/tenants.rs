//! A platform admin acting for a tenant: reserve, assign and release on
//! the tenant's behalf, in the tenant's row-level-security scope but
//! audited as the admin. This is the rollback path of the portal switch
//! (`NUMBERING_PORTAL_ENABLED=false`), and works whether the portal is on
//! or off.

use axum::{http::StatusCode, response::Response, routing::post};
use numbering_http_edge::{
    ApiError,
    extract::{ApiJson, ApiPath},
    leasing::{self, AssignBody, ReserveBody},
    openapi::{Op, path},
};

use crate::{
    Routes,
    call::{AdminCall, ok, tenant_id},
};

pub(crate) fn routes() -> Routes {
    vec![
        (
            "post",
            "/v1/admin/numbering/tenants/{tenant_id}/reservations",
            post(reserve),
        ),
        (
            "post",
            "/v1/admin/numbering/tenants/{tenant_id}/leases",
            post(assign),
        ),
        (
            "post",
            "/v1/admin/numbering/tenants/{tenant_id}/leases/{id}/release",
            post(release),
        ),
    ]
}

async fn reserve(
    a: AdminCall,
    ApiPath(t): ApiPath<String>,
    ApiJson(body): ApiJson<ReserveBody>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let r = leasing::reserve(a.store(), &a.ctx, &t, body).await?;
    Ok(ok(StatusCode::CREATED, leasing::reservation_json(&r)))
}

async fn assign(
    a: AdminCall,
    ApiPath(t): ApiPath<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let l = leasing::assign(&a.state, &a.ctx, &t, body).await?;
    Ok(ok(StatusCode::CREATED, leasing::lease_json(&l)))
}

async fn release(
    a: AdminCall,
    ApiPath((t, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let l = leasing::release(a.store(), &a.ctx, &t, &id).await?;
    Ok(ok(StatusCode::OK, leasing::lease_json(&l)))
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    let tenant = || path("tenant_id", "the tenant acted for");
    vec![
        Op {
            method: "post",
            path: "/v1/admin/numbering/tenants/{tenant_id}/reservations",
            operation_id: "reserveForTenant",
            summary: "Reserve for a tenant (a given identifier, or any matching criteria), audited as the admin",
            tag: T,
            params: vec![tenant()],
            body: Some(leasing::reserve_schema),
            success: (201, leasing::reservation_schema),
            problems: &[404, 409],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/tenants/{tenant_id}/leases",
            operation_id: "assignForTenant",
            summary: "Turn a tenant's live reservation into a lease, audited as the admin",
            tag: T,
            params: vec![tenant()],
            body: Some(leasing::assign_schema),
            success: (201, leasing::lease_schema),
            // 503: the sender-id registry could not be asked (ALPHA)
            problems: &[404, 503],
        },
        Op {
            method: "post",
            path: "/v1/admin/numbering/tenants/{tenant_id}/leases/{id}/release",
            operation_id: "releaseForTenant",
            summary: "Release a tenant's lease (the identifier enters quarantine), audited as the admin",
            tag: T,
            params: vec![tenant(), path("id", "lease id")],
            body: None,
            success: (200, leasing::lease_schema),
            problems: &[404],
        },
    ]
}
