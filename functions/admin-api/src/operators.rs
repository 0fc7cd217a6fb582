//! Mobile network operators, their lease contracts and their signing keys.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath},
};

use numbering_store::{Ctx, Store, approvals::Target};
use serde_json::{Value, json};

use crate::{
    approvals::{self, Applied},
    call::{AdminCall, body_of, items, ok},
    wire::{AdminJson, ContractBody, OperatorBody, RevokeBody, SigningKeyBody},
};

pub(crate) async fn operators(RequestState(s): RequestState) -> Result<Response, ApiError> {
    Ok(items(s.store.operators().await?))
}

pub(crate) async fn put_operator(
    a: AdminCall,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OperatorBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input(id)?;
    let v = a.store().put_operator(&a.ctx, &input).await?;
    Ok(ok(StatusCode::OK, v))
}

pub(crate) async fn contracts(RequestState(s): RequestState) -> Result<Response, ApiError> {
    Ok(items(s.store.contracts().await?))
}

pub(crate) async fn create_contract(
    a: AdminCall,
    ApiJson(body): ApiJson<ContractBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input()?;
    Ok(ok(
        StatusCode::CREATED,
        a.store().create_contract(&a.ctx, &input).await?,
    ))
}

pub(crate) async fn signing_keys(RequestState(s): RequestState) -> Result<Response, ApiError> {
    Ok(items(s.store.signing_keys().await?))
}

pub(crate) async fn install_key(
    a: AdminCall,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let body: SigningKeyBody = body_of(&raw)?;
    let justification = body.justification.clone();
    let input = body.try_into_input()?;
    let request = approvals::Request {
        action: approvals::SIGNING_KEY_INSTALL,
        target: Target::SigningKey(input.key_id),
        tenant_id: None,
        payload: raw,
        justification,
    };
    approvals::guard(&a, request).await
}

/// Installs the payload's key (the install's body).
pub(crate) async fn apply_install_key(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let input = body_of::<SigningKeyBody>(payload)?.try_into_input()?;
    let key = store.install_signing_key(ctx, &input).await?;
    Ok((StatusCode::CREATED, key.into_json()))
}

pub(crate) async fn revoke_key(
    a: AdminCall,
    ApiPath(key_id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Response, ApiError> {
    let reason = revocation_reason(&body.reason)?;
    let payload = json!({ "key_id": key_id, "reason": reason });
    let request = approvals::Request {
        action: approvals::SIGNING_KEY_REVOKE,
        target: Target::SigningKey(key_id),
        tenant_id: None,
        payload,
        justification: body.justification.or(Some(body.reason)),
    };
    approvals::guard(&a, request).await
}

fn revocation_reason(reason: &str) -> Result<&str, ApiError> {
    if reason.trim().is_empty() || reason.len() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be 1 to 1000 characters",
        ));
    }
    Ok(reason)
}

/// Revokes the payload's `key_id` for its `reason`.
pub(crate) async fn apply_revoke_key(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let key_id = payload["key_id"].as_str().unwrap_or_default();
    let reason = revocation_reason(payload["reason"].as_str().unwrap_or_default())?;
    let key = store.revoke_signing_key(ctx, key_id, reason).await?;
    Ok((StatusCode::OK, key.into_json()))
}
