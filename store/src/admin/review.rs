//! What the monthly review reads beside the listings: each tenant pool's
//! quotas next to its usage, and the scheduled audit-chain verifications
//! still in the outbox.

use chrono::{DateTime, Utc};
use numbering_shared::TenantId;
use serde_json::Value;
use sqlx::{FromRow, Row, postgres::PgRow};

use super::{Result, parsed};
use crate::{Store, audit_jobs::VERIFIED_EVENT};

/// A tenant pool's quota and usage per kind (usage as the admission rule
/// counts it: live reservations plus current leases).
#[derive(Debug, Clone)]
pub struct PoolUtilisation {
    pub tenant_id: TenantId,
    pub display_name: String,
    pub status: String,
    /// `(quota, used)` for MSISDN, SHORT_CODE and ALPHA, in that order.
    pub kinds: [(i64, i64); 3],
}

impl<'r> FromRow<'r, PgRow> for PoolUtilisation {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let pair = |q: &str, u: &str| -> Result<(i64, i64), sqlx::Error> {
            Ok((i64::from(row.try_get::<i32, _>(q)?), row.try_get(u)?))
        };
        Ok(Self {
            tenant_id: parsed(row, "tenant_id")?,
            display_name: row.try_get("display_name")?,
            status: row.try_get("status")?,
            kinds: [
                pair("quota_msisdn", "used_msisdn")?,
                pair("quota_short_code", "used_short_code")?,
                pair("quota_alpha", "used_alpha")?,
            ],
        })
    }
}

/// One scheduled chain verification: when it ran and its
/// `numbering.ops.audit_verified.v1` payload (`result`, `entries_verified`,
/// `head`, `broken`, …).
#[derive(Debug, Clone, FromRow)]
pub struct VerificationRun {
    pub occurred_at: DateTime<Utc>,
    pub payload: sqlx::types::Json<Value>,
}

const UTILISATION: &str = "SELECT p.tenant_id, p.display_name, p.status::text AS status, \
       p.quota_msisdn, p.quota_short_code, p.quota_alpha, \
       u.msisdn AS used_msisdn, u.short_code AS used_short_code, u.alpha AS used_alpha \
     FROM numbering.tenant_pools p CROSS JOIN LATERAL numbering.tenant_usage(p.tenant_id) u \
     ORDER BY p.tenant_id";

impl Store {
    /// Every tenant pool's quotas and usage, by tenant, in one snapshot.
    pub async fn pool_utilisation(&self) -> Result<Vec<PoolUtilisation>> {
        self.read_all(UTILISATION).await
    }

    /// The newest `limit` scheduled verifications, newest first. They are
    /// read from the outbox, so only those within the relay's retention
    /// of published events are there.
    pub async fn recent_verifications(&self, limit: i64) -> Result<Vec<VerificationRun>> {
        let rows = sqlx::query_as(
            "SELECT occurred_at, payload FROM numbering.outbox \
             WHERE event_type = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(VERIFIED_EVENT)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }
}
