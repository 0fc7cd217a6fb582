//! What every portal handler starts from, and the parsing of the ids in
//! its paths.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use numbering_http_edge::{ApiError, ApiState, Caller};
use numbering_shared::{AccountId, LeaseId, ReservationId, TenantId};
use numbering_store::{Actor, Ctx, Store};

/// A tenant's call: the request's state (its store bound to the request's
/// unit of work under an Idempotency-Key, see [`numbering_http_edge::RequestState`]), the
/// tenant from the verified token, and the audit context (the tenant's
/// subject and the request id).
pub(crate) struct TenantCall {
    pub state: ApiState,
    pub tenant: TenantId,
    pub ctx: Ctx,
    /// The account the token binds the caller to (its `account_id`
    /// claim); `None`: the tenant's pool admin, for the whole tenant.
    pub account: Option<AccountId>,
}

impl TenantCall {
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// A caller bound to an account acts on its own account's reservations
    /// only: another's (or a tenant-wide one) is 403
    /// `ACCOUNT_NOT_PERMITTED`. A reservation that is not found is left to
    /// the operation to answer.
    pub async fn may_act_on_reservation(&self, id: ReservationId) -> Result<(), ApiError> {
        let Some(bound) = &self.account else {
            return Ok(());
        };
        match self.store().reservation(&self.tenant, id).await? {
            Some(r) => permitted(bound, r.account_id.as_ref()),
            None => Ok(()),
        }
    }

    /// [`TenantCall::may_act_on_reservation`] for a lease.
    pub async fn may_act_on_lease(&self, id: LeaseId) -> Result<(), ApiError> {
        let Some(bound) = &self.account else {
            return Ok(());
        };
        match self.store().lease(&self.tenant, id).await? {
            Some(l) => permitted(bound, l.account_id.as_ref()),
            None => Ok(()),
        }
    }
}

fn permitted(bound: &AccountId, of: Option<&AccountId>) -> Result<(), ApiError> {
    if of == Some(bound) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            numbering_http_edge::leasing::ACCOUNT_NOT_PERMITTED,
            format!("this token acts for account {bound} only"),
        ))
    }
}

impl FromRequestParts<ApiState> for TenantCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Caller {
            state,
            principal: p,
            request_id,
        } = Caller::from_request_parts(parts, state).await?;
        let tenant = p
            .tenant_id
            .ok_or_else(|| ApiError::forbidden("the token has no tenant_id"))?;
        let ctx = Ctx::new(Actor::tenant(&tenant, &p.subject))
            .with_request_id(request_id)
            .with_trace_id(trace_id(parts));
        Ok(Self {
            state,
            tenant,
            ctx,
            account: p.account_id,
        })
    }
}

/// The request's trace id (see `numbering_clients::traces`).
fn trace_id(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<numbering_clients::traces::TraceId>()
        .map(|t| t.0.clone())
}

pub(crate) fn reservation_id(raw: &str) -> Result<ReservationId, ApiError> {
    ReservationId::parse(raw).map_err(|_| ApiError::not_found("reservation"))
}

pub(crate) use numbering_http_edge::leasing::{identifier, lease_id};

pub(crate) fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// A list answer without further pages.
pub(crate) fn items(items: Vec<serde_json::Value>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::json!({ "items": items, "next_cursor": null }),
    )
}
