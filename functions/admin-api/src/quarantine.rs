//! Open quarantine records, and ending one early with a justification.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath, ApiQuery},
};

use crate::{
    call::{AdminCall, identifier, items, limit, ok},
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
    let j = body.justification.trim();
    if j.chars().count() < 20 || j.len() > 2000 {
        return Err(ApiError::invalid(
            "justification",
            "a written justification of at least 20 characters is required",
        ));
    }
    let n = a.store().override_quarantine(&a.ctx, &id, j).await?;
    Ok(ok(StatusCode::OK, number_json(&n)))
}
