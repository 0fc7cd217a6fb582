//! The audit trail: entries by query, and the verification of its hash
//! chain against the newest signed checkpoint.

use std::time::Duration;

use axum::{http::StatusCode, response::Response};
use numbering_http_edge::{ApiError, RequestState, extract::ApiQuery};
use numbering_store::admin::AuditQuery;
use serde_json::json;

use crate::{
    call::{limit, ok},
    wire::{AdminJson, AuditQueryParams},
};

pub(crate) async fn audit_query(
    RequestState(s): RequestState,
    ApiQuery(q): ApiQuery<AuditQueryParams>,
) -> Result<Response, ApiError> {
    let v = s
        .store
        .audit_entries(&AuditQuery {
            subject: q.subject,
            tenant_id: q.tenant_id,
            action: q.action,
            before_id: q.before_id,
            limit: limit(q.limit, 100)?,
        })
        .await?;
    let next = if v.len() as i64 == limit(q.limit, 100)? {
        v.last().map(|e| e.id)
    } else {
        None
    };
    let v: Vec<_> = v.into_iter().map(AdminJson::into_json).collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "items": v, "next_before_id": next }),
    ))
}

/// Seals, verifies the chain against the newest signed checkpoint in the
/// export's write-once store, and checkpoints an intact head (see
/// `numbering_export::checkpoint`).
pub(crate) async fn audit_verify(RequestState(s): RequestState) -> Result<Response, ApiError> {
    use numbering_export::checkpoint::{Checkpointer, verify_and_checkpoint};
    let pool = s.store.pool();
    numbering_store::audit::seal_pending(pool, Duration::from_secs(5))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let checkpointer = s.edge.exports.as_ref().map(Checkpointer::for_exports);
    let done = verify_and_checkpoint(pool, checkpointer.as_ref())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let r = &done.report;
    Ok(ok(
        StatusCode::OK,
        json!({
            "intact": r.is_intact(),
            "checked": r.checked,
            "head": r.head.as_ref().map(|h| json!({ "seq": h.seq, "hash": h.hash_hex() })),
            "first_break": r.first_break.as_ref().map(|b| json!({
                "position": b.position,
                "kind": b.kind.to_string(),
                "code": b.kind.code(),
            })),
            "pending": r.pending,
            "checkpoint": done.checkpoint.as_ref().map(|c| json!({
                "seq": c.seq,
                "hash": hex_string(&c.hash),
                "time": c.time,
            })),
            "checkpoints_refused": done.refused.len() + done.unreadable.len(),
        }),
    ))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
