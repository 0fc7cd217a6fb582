//! The scheduled audit jobs' work, callable on demand too: verification
//! whose result becomes an ops event and metrics, and partition maintenance.

use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, BreakKind, VerifyReport};

/// The ops event each verification publishes (stream `NUMBERING_OPS`;
/// schema in `docs/events/`).
pub const VERIFIED_EVENT: &str = "numbering.ops.audit_verified.v1";

/// How many months of audit partitions are kept ahead of the current one.
pub const PARTITION_MONTHS_AHEAD: i32 = 3;

/// Verifies the whole chain, and against `anchor` (the newest signed
/// checkpoint the caller could read and trust; see
/// [`audit::verify_anchored`]), then records the result: one
/// [`VERIFIED_EVENT`] on the outbox (with the broken position, if any) and
/// the gauges `numbering_audit_verify_intact`, `…_entries_verified`,
/// `…_archived_entries`, `…_broken_position` (0: none),
/// `…_last_run_timestamp_seconds`, `…_last_success_timestamp_seconds`
/// (intact runs only) and `…_duration_seconds`.
pub async fn verify_and_publish(
    pool: &PgPool,
    anchor: Option<&audit::Anchor>,
) -> Result<VerifyReport, sqlx::Error> {
    let started = Instant::now();
    let report = audit::verify_anchored(pool, anchor).await?;
    let duration = started.elapsed().as_secs_f64();
    let broken = report.first_break.as_ref().map(|b| {
        let entry_id = match b.kind {
            BreakKind::MissingLink
            | BreakKind::ArchiveMismatch { .. }
            | BreakKind::Truncated { .. }
            | BreakKind::CheckpointMismatch { .. } => None,
            BreakKind::MissingEntry { entry_id }
            | BreakKind::EntryAltered { entry_id }
            | BreakKind::BrokenLink { entry_id }
            | BreakKind::OutOfOrder { entry_id }
            | BreakKind::UnsealedEntry { entry_id } => Some(entry_id),
        };
        json!({
            "position": b.position,
            "kind": b.kind.code(),
            "entry_id": entry_id,
            "detail": b.kind.to_string(),
        })
    });
    let payload = json!({
        "result": if report.is_intact() { "intact" } else { "broken" },
        "entries_verified": report.checked,
        "archived_entries": report.archived,
        "pending": report.pending,
        "head": report.head.as_ref().map(|h| json!({ "seq": h.seq, "hash": h.hash_hex() })),
        "checkpoint": anchor.map(|a| json!({ "seq": a.seq, "hash": hex::encode(a.hash), "time": a.at })),
        "broken": broken,
        "verified_at": Utc::now(),
        "duration_ms": (duration * 1000.0).round() as u64,
    });
    sqlx::query(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
         VALUES ($1, 'NUMBERING_OPS', $2, 'audit_chain', 'audit_chain', $3::json)",
    )
    .bind(Uuid::now_v7())
    .bind(VERIFIED_EVENT)
    .bind(payload.to_string())
    .execute(pool)
    .await?;
    crate::wake_relays_now(pool).await;
    let position = report.first_break.as_ref().map_or(0, |b| b.position);
    metrics::gauge!("numbering_audit_verify_intact").set(if report.is_intact() {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("numbering_audit_verify_entries_verified").set(report.checked as f64);
    metrics::gauge!("numbering_audit_verify_archived_entries").set(report.archived as f64);
    metrics::gauge!("numbering_audit_verify_broken_position").set(position as f64);
    metrics::gauge!("numbering_audit_verify_last_run_timestamp_seconds")
        .set(Utc::now().timestamp() as f64);
    metrics::gauge!("numbering_audit_verify_duration_seconds").set(duration);
    if report.is_intact() {
        // the age of the newest green verify: `time() - this` in the rules
        metrics::gauge!("numbering_audit_verify_last_success_timestamp_seconds")
            .set(Utc::now().timestamp() as f64);
    }
    if let Some(b) = &report.first_break {
        tracing::error!(position = b.position, kind = %b.kind, "the audit chain is broken");
    }
    Ok(report)
}

/// Creates the audit partitions missing for this month and the next
/// [`PARTITION_MONTHS_AHEAD`] (through the definer function the
/// application may call); returns the names it created.
pub async fn maintain_partitions(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    let before = partitions(pool).await?;
    sqlx::query("SELECT numbering.maintain_audit_partitions($1)")
        .bind(PARTITION_MONTHS_AHEAD)
        .execute(pool)
        .await?;
    let created: Vec<String> = partitions(pool)
        .await?
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if !created.is_empty() {
        tracing::info!(?created, "created audit partitions");
    }
    Ok(created)
}

/// The names of `audit_log`'s partitions.
pub async fn partitions(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'numbering.audit_log'::regclass ORDER BY 1",
    )
    .fetch_all(pool)
    .await
}
