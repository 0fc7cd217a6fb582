//! Cross-tenant reads: the inventory search, open quarantines and the
//! audit trail.

use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, LeaseId, QuarantineReason, TenantId};
use serde_json::Value;
use sqlx::{FromRow, Row, postgres::PgRow};
use uuid::Uuid;

use super::{Result, decode, identifier, parsed, platform};
use crate::{
    NumberRecord, Store,
    query::{Criteria, bind_all},
};

/// Cross-tenant inventory search.
#[derive(Debug, Clone, Default)]
pub struct NumberSearch {
    pub criteria: Criteria,
    pub state: Option<String>,
    pub tenant_id: Option<TenantId>,
    /// Keyset position: only identity keys after this one.
    pub after: Option<String>,
    pub limit: i64,
}

/// One identifier found by [`Store::search_numbers`]: its record as
/// stored (the state is not aged: a lapsed reservation still reads
/// RESERVED), when its state last changed and its keyset position.
#[derive(Debug, Clone)]
pub struct InventoryEntry {
    pub number: NumberRecord,
    pub state_changed_at: DateTime<Utc>,
    /// The identity key: where the next page starts.
    pub position: String,
}

/// An open quarantine.
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    pub id: Uuid,
    pub identifier: Identifier,
    pub previous_tenant_id: TenantId,
    pub lease_id: Option<LeaseId>,
    pub reason: QuarantineReason,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Audit trail query: newest first, ids below `before_id`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub tenant_id: Option<String>,
    pub action: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One audit entry; `before` / `after` are the JSON it was written with.
#[derive(Debug, Clone, FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub tenant_id: Option<String>,
    pub subject: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
}

impl<'r> FromRow<'r, PgRow> for InventoryEntry {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let tenant: Option<String> = row.try_get("tenant_id")?;
        Ok(Self {
            number: NumberRecord {
                identifier: identifier(row)?,
                state: parsed(row, "state")?,
                tenant_id: tenant.map(|t| decode("tenant_id", &t)).transpose()?,
                reserved_until: row.try_get("reserved_until")?,
                operator_id: row.try_get("operator_id")?,
                mcc: row.try_get("mcc")?,
                mnc: row.try_get("mnc")?,
                vanity: row.try_get("vanity")?,
                version: row.try_get("version")?,
            },
            state_changed_at: row.try_get("state_changed_at")?,
            position: row.try_get("identity_key")?,
        })
    }
}

impl<'r> FromRow<'r, PgRow> for QuarantineEntry {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            identifier: identifier(row)?,
            previous_tenant_id: parsed(row, "previous_tenant_id")?,
            lease_id: row
                .try_get::<Option<Uuid>, _>("lease_id")?
                .map(LeaseId::from),
            reason: parsed(row, "reason")?,
            started_at: row.try_get("started_at")?,
            ends_at: row.try_get("ends_at")?,
        })
    }
}

const QUARANTINE: &str = "SELECT id, identifier, kind::text AS kind, previous_tenant_id, lease_id, \
       reason::text AS reason, started_at, ends_at \
     FROM numbering.quarantine_records WHERE ended_at IS NULL ORDER BY ends_at, id LIMIT $1";

const AUDIT: &str = "SELECT id, occurred_at, actor, action, tenant_id, subject, before, after, request_id \
     FROM numbering.audit_log \
     WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR tenant_id = $2) \
       AND ($3::text IS NULL OR action = $3) AND ($4::bigint IS NULL OR id < $4) \
     ORDER BY id DESC LIMIT $5";

impl Store {
    /// Inventory across tenants, in identity order (keyset pagination).
    pub async fn search_numbers(&self, s: &NumberSearch) -> Result<Vec<InventoryEntry>> {
        let mut tx = platform(self).await?;
        // the criteria are the one dynamic part: their conditions and
        // values, with placeholders from $5
        let (filter, binds) = s.criteria.sql(5);
        let sql = format!(
            "SELECT n.identity_key, n.identifier, n.kind::text AS kind, n.state::text AS state, \
               n.tenant_id, n.reserved_until, n.operator_id, n.mcc, n.mnc, n.vanity, n.version, \
               n.state_changed_at \
             FROM numbering.numbers n \
             WHERE n.identity_key > $1 AND ($2::text IS NULL OR n.state::text = $2) \
               AND ($3::text IS NULL OR n.tenant_id = $3) {filter} \
             ORDER BY n.identity_key, n.id LIMIT $4"
        );
        let query = sqlx::query_as(&sql)
            .bind(s.after.as_deref().unwrap_or_default())
            .bind(s.state.as_deref())
            .bind(s.tenant_id.as_ref().map(TenantId::as_str))
            .bind(s.limit);
        let rows = bind_all(query, binds).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Open quarantine records, soonest end first.
    pub async fn quarantine_list(&self, limit: i64) -> Result<Vec<QuarantineEntry>> {
        let mut tx = platform(self).await?;
        let rows = sqlx::query_as(QUARANTINE)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Audit entries, newest first.
    pub async fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut tx = platform(self).await?;
        let rows = sqlx::query_as(AUDIT)
            .bind(&q.subject)
            .bind(&q.tenant_id)
            .bind(&q.action)
            .bind(q.before_id)
            .bind(q.limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}
