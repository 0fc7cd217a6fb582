//! What a handler gets from its request: the router's state with the
//! store bound to the request's unit of work ([`RequestState`]), and the
//! verified caller with the request's id ([`Caller`]).

use std::convert::Infallible;

use axum::{extract::FromRequestParts, http::request::Parts};
use numbering_store::Store;

use crate::{ApiError, ApiState, Principal, access_log};

/// The state a handler works with: the router's [`ApiState`], whose store,
/// inside a request under [`crate::idempotency::layer`], is bound to the
/// request's unit of work (see `numbering_store::uow`: each store call is
/// a step of the request's one transaction); outside one, the plain store,
/// a transaction per operation.
pub struct RequestState(pub ApiState);

/// The store bound to the running request's unit of work, as the
/// idempotency layer leaves it in the request's extensions.
#[derive(Clone)]
pub(crate) struct InUnit(pub(crate) Store);

impl FromRequestParts<ApiState> for RequestState {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Infallible> {
        let mut state = state.clone();
        if let Some(InUnit(store)) = parts.extensions.get::<InUnit>() {
            state.store = store.clone();
        }
        Ok(RequestState(state))
    }
}

/// A verified caller's request: its [`RequestState`], the [`Principal`]
/// the authentication layer put on it, and its id (for audit entries and
/// events, see [`access_log::request_id`]).
pub struct Caller {
    pub state: ApiState,
    pub principal: Principal,
    pub request_id: String,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Ok(RequestState(state)) = RequestState::from_request_parts(parts, state).await;
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a route without an authentication layer"))?;
        let request_id = access_log::request_id(&parts.headers);
        Ok(Self {
            state,
            principal,
            request_id,
        })
    }
}
