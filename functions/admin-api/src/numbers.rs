//! The inventory across tenants: search, one identifier's record, the
//! platform transitions (suspend, reinstate, recall, retire) and the
//! registration of alphanumeric sender IDs.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState, cursor,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use numbering_shared::NumberState;
use numbering_store::{
    Ctx, Store, admin::NumberSearch, approvals::Target, sender_ids::RegisterError,
};
use serde_json::{Value, json};

use crate::{
    approvals::{self, Applied},
    call::{AdminCall, Justified, identifier, limit, ok, tenant_id},
    wire::{AdminJson, SearchQuery, SenderIdsBody, number_json},
};

pub(crate) async fn search(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(q.limit, 100)?;
    let state = q
        .state
        .as_deref()
        .map(|st| {
            st.parse::<NumberState>()
                .map(|s| s.as_str().to_owned())
                .map_err(|_| ApiError::invalid("state", "state is not a lifecycle state"))
        })
        .transpose()?;
    let tenant = q.tenant_id.as_deref().map(tenant_id).transpose()?;
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let rows = s
        .store
        .search_numbers(&NumberSearch {
            criteria: q.criteria("")?,
            state,
            tenant_id: tenant,
            after,
            limit: limit + 1,
        })
        .await?;
    let (rows, next) = cursor::page(&rows, limit, |r| &r.position);
    let v: Vec<_> = rows.iter().cloned().map(AdminJson::into_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": v, "next_cursor": next }),
    ))
}

pub(crate) async fn number(
    RequestState(s): RequestState,
    ApiPath(raw): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = identifier(&raw)?;
    let n = s
        .store
        .number(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("identifier"))?;
    let mut v = number_json(&n);
    v["links"] = crate::renumberings::links_json(&s.store, &id).await?;
    Ok(ok(StatusCode::OK, v))
}

macro_rules! transition_handler {
    ($name:ident) => {
        pub(crate) async fn $name(
            a: AdminCall,
            ApiPath(raw): ApiPath<String>,
        ) -> Result<Response, ApiError> {
            let id = identifier(&raw)?;
            let n = a.store().$name(&a.ctx, &id).await?;
            Ok(ok(StatusCode::OK, number_json(&n)))
        }
    };
}
transition_handler!(suspend);
transition_handler!(reinstate);

/// Retire and recall are dangerous: a request under the two-person rule
/// (justification in an optional body), applied by [`apply_retire`] /
/// [`apply_recall`].
macro_rules! guarded_handler {
    ($name:ident, $action:expr) => {
        pub(crate) async fn $name(
            a: AdminCall,
            ApiPath(raw): ApiPath<String>,
            Justified(body): Justified,
        ) -> Result<Response, ApiError> {
            let id = identifier(&raw)?;
            let payload = json!({ "identifier": id.as_str() });
            let request = approvals::Request {
                action: $action,
                target: Target::Number(id),
                tenant_id: None,
                payload,
                justification: body.justification,
            };
            approvals::guard(&a, request).await
        }
    };
}
guarded_handler!(recall, approvals::NUMBER_RECALL);
guarded_handler!(retire, approvals::NUMBER_RETIRE);

/// Recalls the payload's `identifier`.
pub(crate) async fn apply_recall(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let id = identifier(payload["identifier"].as_str().unwrap_or_default())?;
    Ok((StatusCode::OK, number_json(&store.recall(ctx, &id).await?)))
}

/// Retires the payload's `identifier`.
pub(crate) async fn apply_retire(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let id = identifier(payload["identifier"].as_str().unwrap_or_default())?;
    Ok((StatusCode::OK, number_json(&store.retire(ctx, &id).await?)))
}

pub(crate) async fn register_sender_ids(
    a: AdminCall,
    ApiJson(body): ApiJson<SenderIdsBody>,
) -> Result<Response, ApiError> {
    let ids = body.try_into_identifiers()?;
    let records = a
        .store()
        .register_sender_ids(&a.ctx, &ids)
        .await
        .map_err(register_problem)?;
    let items: Vec<_> = records.iter().map(number_json).collect();
    Ok(ok(
        StatusCode::CREATED,
        json!({ "items": items, "next_cursor": null }),
    ))
}

fn register_problem(e: RegisterError) -> ApiError {
    match e {
        RegisterError::AlreadyInInventory(taken) => ApiError::new(
            StatusCode::CONFLICT,
            "ALREADY_IN_INVENTORY",
            format!(
                "already in inventory: {}; nothing was registered",
                taken.join(", ")
            ),
        )
        .with(json!({ "identifiers": taken })),
        RegisterError::Invalid(detail) => ApiError::invalid("sender_ids", detail),
        RegisterError::Store(e) => e.into(),
    }
}
