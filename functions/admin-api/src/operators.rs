//! Mobile network operators, their lease contracts and their signing keys.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath},
};

use crate::{
    call::{AdminCall, items, ok},
    wire::{ContractBody, OperatorBody, RevokeBody, SigningKeyBody},
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
    ApiJson(body): ApiJson<SigningKeyBody>,
) -> Result<Response, ApiError> {
    let input = body.try_into_input()?;
    let key = a.store().install_signing_key(&a.ctx, &input).await?;
    Ok(ok(StatusCode::CREATED, key))
}

pub(crate) async fn revoke_key(
    a: AdminCall,
    ApiPath(key_id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Response, ApiError> {
    if body.reason.trim().is_empty() || body.reason.len() > 1000 {
        return Err(ApiError::invalid(
            "reason",
            "reason must be 1 to 1000 characters",
        ));
    }
    let store = a.store();
    let key = store.revoke_signing_key(&a.ctx, &key_id, &body.reason);
    Ok(ok(StatusCode::OK, key.await?))
}
