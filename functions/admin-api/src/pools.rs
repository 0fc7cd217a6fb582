//! Tenant pools: list, read, create or replace.

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{
    ApiError, RequestState,
    extract::{ApiJson, ApiPath},
};
use numbering_shared::TenantId;
use numbering_store::{Ctx, Store, admin::PoolInput, approvals::Target};
use serde_json::{Value, json};

use crate::{
    approvals::{self, Applied},
    call::{AdminCall, body_of, items, ok, tenant_id},
    wire::{AdminJson, PoolBody},
};

pub(crate) async fn pools(RequestState(s): RequestState) -> Result<Response, ApiError> {
    Ok(items(s.store.tenant_pools().await?))
}

pub(crate) async fn pool(
    RequestState(s): RequestState,
    ApiPath(t): ApiPath<String>,
) -> Result<Response, ApiError> {
    let t = TenantId::parse(&t).map_err(|_| ApiError::not_found("pool"))?;
    let v = s
        .store
        .tenant_pool(&t)
        .await?
        .ok_or_else(|| ApiError::not_found("pool"))?;
    Ok(ok(StatusCode::OK, v))
}

/// A change that moves the tier (`segment`) or raises a quota above the
/// rule's threshold is dangerous (two admins, see `approvals`); any other
/// applies at once.
pub(crate) async fn put_pool(
    a: AdminCall,
    ApiPath(t): ApiPath<String>,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let t = tenant_id(&t)?;
    let body: PoolBody = body_of(&raw)?;
    let justification = body.justification.clone();
    let input = body.try_into_input(t.as_str())?;
    let payload = json!({ "tenant_id": t.as_str(), "body": raw });
    let threshold = approvals::rule(&a.state).quota_threshold;
    let before = a.store().tenant_pool(&t).await?;
    if !dangerous(before.as_ref().map(|p| &p.spec), &input, threshold) {
        let (status, v) = apply_put_pool(a.store(), &a.ctx, &payload).await?;
        return Ok(ok(status, v));
    }
    let request = approvals::Request {
        action: approvals::POOL_OVERRIDE,
        target: Target::Pool(t.clone()),
        tenant_id: Some(t.as_str().to_owned()),
        payload,
        justification,
    };
    approvals::guard(&a, request).await
}

/// Whether changing a pool from `before` (`None`: new) to `after` changes
/// its tier or raises a quota above `threshold`.
fn dangerous(before: Option<&PoolInput>, after: &PoolInput, threshold: i32) -> bool {
    let quotas = |p: &PoolInput| [p.quota_msisdn, p.quota_short_code, p.quota_alpha];
    let old = before.map_or([0; 3], quotas);
    let raised_above = quotas(after)
        .iter()
        .zip(old)
        .any(|(new, old)| *new > threshold && *new > old);
    let tier_changed = before.is_some_and(|b| b.segment != after.segment);
    raised_above || tier_changed
}

/// Creates or replaces the payload's pool (`tenant_id`, `body`).
pub(crate) async fn apply_put_pool(
    store: &Store,
    ctx: &Ctx,
    payload: &Value,
) -> Result<Applied, ApiError> {
    let t = tenant_id(payload["tenant_id"].as_str().unwrap_or_default())?;
    let body: PoolBody = body_of(&payload["body"])?;
    let input = body.try_into_input(t.as_str())?;
    let pool = store.put_tenant_pool(ctx, &t, &input).await?;
    Ok((StatusCode::OK, pool.into_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(quota: i32, segment: Option<&str>) -> PoolInput {
        PoolInput {
            display_name: "acme".into(),
            segment: segment.map(str::to_owned),
            status: "ACTIVE".into(),
            quota_msisdn: quota,
            quota_short_code: 0,
            quota_alpha: 0,
            allowed_kinds: vec![],
            allowed_operators: vec![],
            vanity_allowed: false,
        }
    }

    #[test]
    fn a_pool_change_is_dangerous_when_it_raises_a_quota_above_the_threshold_or_moves_the_tier() {
        let small = pool(10, Some("smb"));
        assert!(!dangerous(None, &small, 100), "a small new pool");
        assert!(
            dangerous(None, &pool(101, Some("smb")), 100),
            "a big new pool"
        );
        assert!(
            dangerous(Some(&small), &pool(500, Some("smb")), 100),
            "raised above"
        );
        assert!(
            !dangerous(Some(&pool(500, Some("smb"))), &pool(400, Some("smb")), 100),
            "lowered"
        );
        assert!(
            !dangerous(Some(&small), &pool(100, Some("smb")), 100),
            "up to it"
        );
        assert!(
            dangerous(Some(&small), &pool(10, Some("enterprise")), 100),
            "tier changed"
        );
    }
}
