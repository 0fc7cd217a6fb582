//! Tenant pools as the platform admin sees and sets them: display name,
//! segment, status, per-kind quotas, allowlists of kinds and operators and
//! the vanity flag.

use chrono::{DateTime, Utc};
use numbering_shared::TenantId;
use sqlx::{FromRow, Row, postgres::PgRow};

use super::{AdminError, Audited, Result, commit_audited, locked, parsed, platform};
use crate::{Store, record::Ctx};

/// The whole configuration of a tenant's pool (PUT semantics).
#[derive(Debug, Clone, FromRow)]
pub struct PoolInput {
    pub display_name: String,
    pub segment: Option<String>,
    pub status: String,
    pub quota_msisdn: i32,
    pub quota_short_code: i32,
    pub quota_alpha: i32,
    pub allowed_kinds: Vec<String>,
    pub allowed_operators: Vec<String>,
    pub vanity_allowed: bool,
}

/// A tenant's pool as stored.
#[derive(Debug, Clone)]
pub struct TenantPool {
    pub tenant_id: TenantId,
    pub spec: PoolInput,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for TenantPool {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tenant_id: parsed(row, "tenant_id")?,
            spec: PoolInput::from_row(row)?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The columns of a [`TenantPool`] (a literal, for `concat!`).
macro_rules! pool_columns {
    () => {
        "tenant_id, display_name, segment, status::text AS status, quota_msisdn, \
         quota_short_code, quota_alpha, allowed_kinds::text[] AS allowed_kinds, \
         allowed_operators, vanity_allowed, created_at, updated_at"
    };
}

const POOLS: &str = concat!(
    "SELECT ",
    pool_columns!(),
    " FROM numbering.tenant_pools ORDER BY tenant_id"
);
const POOL: &str = concat!(
    "SELECT ",
    pool_columns!(),
    " FROM numbering.tenant_pools WHERE tenant_id = $1"
);
const POOL_LOCKED: &str = concat!(
    "SELECT ",
    pool_columns!(),
    " FROM numbering.tenant_pools WHERE tenant_id = $1 FOR UPDATE"
);
const PUT_POOL: &str = concat!(
    "INSERT INTO numbering.tenant_pools (tenant_id, display_name, segment, status, quota_msisdn, \
       quota_short_code, quota_alpha, allowed_kinds, allowed_operators, vanity_allowed) \
     VALUES ($1, $2, $3, $4::numbering.pool_status, $5, $6, $7, $8::numbering.identifier_kind[], $9, $10) \
     ON CONFLICT (tenant_id) DO UPDATE SET display_name = EXCLUDED.display_name, \
       segment = EXCLUDED.segment, status = EXCLUDED.status, quota_msisdn = EXCLUDED.quota_msisdn, \
       quota_short_code = EXCLUDED.quota_short_code, quota_alpha = EXCLUDED.quota_alpha, \
       allowed_kinds = EXCLUDED.allowed_kinds, allowed_operators = EXCLUDED.allowed_operators, \
       vanity_allowed = EXCLUDED.vanity_allowed, updated_at = now() \
     RETURNING ",
    pool_columns!()
);

impl Store {
    /// One tenant's pool, if it has one.
    pub async fn tenant_pool(&self, tenant: &TenantId) -> Result<Option<TenantPool>> {
        self.read_one(POOL, tenant.as_str()).await
    }

    /// Every tenant pool, by tenant.
    pub async fn tenant_pools(&self) -> Result<Vec<TenantPool>> {
        self.read_all(POOLS).await
    }

    /// Creates or replaces a tenant's pool.
    pub async fn put_tenant_pool(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        p: &PoolInput,
    ) -> Result<TenantPool> {
        let mut tx = platform(self).await?;
        let before: Option<TenantPool> = locked(&mut tx, POOL_LOCKED, tenant.as_str()).await?;
        let after: TenantPool = sqlx::query_as(PUT_POOL)
            .bind(tenant.as_str())
            .bind(&p.display_name)
            .bind(&p.segment)
            .bind(&p.status)
            .bind(p.quota_msisdn)
            .bind(p.quota_short_code)
            .bind(p.quota_alpha)
            .bind(&p.allowed_kinds)
            .bind(&p.allowed_operators)
            .bind(p.vanity_allowed)
            .fetch_one(&mut *tx)
            .await
            .map_err(AdminError::refused)?;
        let audited = Audited {
            action: "pool.put",
            subject: tenant.as_str(),
            tenant_id: Some(tenant.as_str()),
            before: before.as_ref(),
            after: &after,
        };
        commit_audited(tx, ctx, audited).await?;
        Ok(after)
    }
}
