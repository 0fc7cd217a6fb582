//! Open quarantine records, and ending one early with a justification.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath, ApiQuery},
};

use numbering_store::{Ctx, Store, approvals::Target};
use serde_json::{Value, json};

use crate::{
    approvals::{self, Applied},
    call::{AdminCall, identifier, items, limit},
    wire::{LimitQuery, OverrideBody, number_json},
};

pub(crate) async fn quarantine(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Response, ApiError> {
    Ok(items(s.store.quarantine_list(limit(q.limit, 100)?).await?))
}

pub(crate) async fn override_quarantine(
    a: AdminCall,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<OverrideBody>,
) -> Result<Response, ApiError> {
    let id = identifier(&raw)?;
    let j = justified(&body.justification)?;
    let payload = json!({ "identifier": id.as_str(), "justification": j });
    let target = Target::Number(id);
    approvals::guard(
        &a,
        approvals::Request {
            action: approvals::QUARANTINE_OVERRIDE,
            target,
            tenant_id: None,
            payload,
            justification: Some(j.to_owned()),
        },
    )
    .await
}

/// The override's justification: at least 20 characters, at most 2000.
fn justified(text: &str) -> Result<&str, ApiError> {
    let j = text.trim();
    if j.chars().count() < 20 || j.len() > 2000 {
        return Err(ApiError::invalid(
            "justification",
            "a written justification of at least 20 characters is required",
        ));
    }
    Ok(j)
}

/// Ends the quarantine of the payload's `identifier`, with its `justification`.
pub(crate) async fn apply_override(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let id = identifier(payload["identifier"].as_str().unwrap_or_default())?;
    let j = justified(payload["justification"].as_str().unwrap_or_default())?;
    let n = store.override_quarantine(ctx, &id, j).await?;
    Ok((StatusCode::OK, number_json(&n)))
}
