//! An export after its generation: the `regulator_exports` row as read,
//! the listing, and the admin steps (review, submit, acknowledge, reject),
//! each audited.

use chrono::{DateTime, Utc};
use numbering_store::{Ctx, record_admin_action};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ExportError, Exporter, subject};
use crate::period::Period;

/// A `regulator_exports` row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ExportRecord {
    pub id: Uuid,
    pub period: String,
    pub version: i32,
    pub format: String,
    pub status: String,
    pub manifest: Option<sqlx::types::Json<Value>>,
    pub manifest_sha256: Option<String>,
    pub signer_key_id: Option<String>,
    pub storage_uri: Option<String>,
    pub audit_chain_head: Option<String>,
    pub failure_reason: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub generated_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
}

/// The columns of an [`ExportRecord`], spliced into fixed statements at
/// compile time (`concat!`).
macro_rules! record_columns {
    () => {
        "id, period, version, format, status::text AS status, manifest, manifest_sha256, \
         signer_key_id, storage_uri, audit_chain_head, failure_reason, created_by, created_at, generated_at, \
         reviewed_by, reviewed_at, submitted_at, acknowledged_at, rejected_at, rejection_reason"
    };
}
pub(crate) use record_columns;

/// The admin steps after generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Review,
    Submit,
    Acknowledge,
    Reject { reason: String },
}

impl Step {
    /// The status it leads to and the statuses it may start from (the
    /// database's trigger enforces the same table).
    fn rule(&self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::Review => ("REVIEWED", &["GENERATED"]),
            Self::Submit => ("SUBMITTED", &["REVIEWED"]),
            Self::Acknowledge => ("ACKNOWLEDGED", &["SUBMITTED"]),
            Self::Reject { .. } => ("REJECTED", &["GENERATED", "REVIEWED", "SUBMITTED"]),
        }
    }
}

impl Exporter {
    /// Every export, newest first (optionally of one period).
    pub async fn list(
        &self,
        period: Option<Period>,
        limit: i64,
    ) -> Result<Vec<ExportRecord>, ExportError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            record_columns!(),
            " FROM numbering.regulator_exports \
             WHERE $1::text IS NULL OR period = $1 ORDER BY period DESC, version DESC LIMIT $2",
        ))
        .bind(period.map(|p| p.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn get(&self, id: Uuid) -> Result<ExportRecord, ExportError> {
        sqlx::query_as(concat!(
            "SELECT ",
            record_columns!(),
            " FROM numbering.regulator_exports WHERE id = $1",
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ExportError::NotFound(id.to_string()))
    }

    /// The latest export of `period` that was generated (any status after
    /// GENERATED), for the verifier.
    pub async fn latest_generated(&self, period: Period) -> Result<ExportRecord, ExportError> {
        sqlx::query_as(concat!(
            "SELECT ", record_columns!(), " FROM numbering.regulator_exports \
             WHERE period = $1 AND status NOT IN ('PENDING', 'FAILED') ORDER BY version DESC LIMIT 1",
        ))
        .bind(period.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| ExportError::NotFound(format!("of period {period}")))
    }

    /// Moves an export one step along its workflow, audited.
    pub async fn advance(
        &self,
        id: Uuid,
        step: Step,
        ctx: &Ctx,
    ) -> Result<ExportRecord, ExportError> {
        let (to, from) = step.rule();
        let mut tx = numbering_store::begin_unscoped(&self.pool).await?;
        let current: Option<(String, String, i32)> = sqlx::query_as(
            "SELECT status::text, period, version FROM numbering.regulator_exports WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, period, version)) = current else {
            return Err(ExportError::NotFound(id.to_string()));
        };
        if !from.contains(&status.as_str()) {
            return Err(ExportError::TransitionRefused {
                id,
                from: status,
                to: to.into(),
            });
        }
        let reason = match &step {
            Step::Reject { reason } => Some(reason.as_str()),
            _ => None,
        };
        let record: ExportRecord = sqlx::query_as(concat!(
            "UPDATE numbering.regulator_exports SET status = $2::numbering.export_status, \
                 reviewed_by = CASE WHEN $2 = 'REVIEWED' THEN $3 ELSE reviewed_by END, \
                 reviewed_at = CASE WHEN $2 = 'REVIEWED' THEN now() ELSE reviewed_at END, \
                 submitted_at = CASE WHEN $2 = 'SUBMITTED' THEN now() ELSE submitted_at END, \
                 acknowledged_at = CASE WHEN $2 = 'ACKNOWLEDGED' THEN now() ELSE acknowledged_at END, \
                 rejected_at = CASE WHEN $2 = 'REJECTED' THEN now() ELSE rejected_at END, \
                 rejection_reason = CASE WHEN $2 = 'REJECTED' THEN $4 ELSE rejection_reason END \
             WHERE id = $1 RETURNING ", record_columns!()
        ))
        .bind(id)
        .bind(to)
        .bind(ctx.actor.label())
        .bind(reason)
        .fetch_one(&mut *tx)
        .await?;
        record_admin_action(
            &mut tx,
            ctx,
            &format!("regulator_export.{}", to.to_lowercase()),
            &subject(&period, version),
            None,
            Some(&json!({ "export_id": id, "status": status })),
            Some(&json!({ "export_id": id, "status": to, "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }
}
