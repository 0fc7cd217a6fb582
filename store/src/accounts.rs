//! Accounts inside a tenant's pool and their sub-quotas per kind
//! (`numbering.tenant_accounts`): set by the tenant's pool admin (tenant
//! scope) or a platform admin (platform scope), read with their usage.
//!
//! An account's reservations and leases count in the tenant's usage and in
//! the account's; a reservation for an account must fit under both limits
//! (`Store::reserve_for`). Setting an account's quotas is one transaction:
//! the pool's row lock (the lock every reservation of the tenant takes
//! first, so a change never interleaves with a quota check), the upsert,
//! the audit entry and a `numbering.ops.account_quotas_set.v1` event.

use numbering_shared::{AccountId, Quotas, TenantId};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    InvalidInput, LifecycleError, Reservation, Store,
    lifecycle::{AccountUsage, account_usages},
    model::{ReservationRow, reservation_columns},
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

/// The event type of a change to an account's quotas (stream `NUMBERING_OPS`).
pub const ACCOUNT_QUOTAS_SET_EVENT: &str = "numbering.ops.account_quotas_set.v1";

impl Store {
    /// Creates `account` in `tenant`'s pool or replaces its quotas, in
    /// `scope` (the tenant's own, for its pool admin; the platform's, for a
    /// platform admin). Returns the account with its usage. `NotFound` when
    /// the tenant has no pool; `InvalidInput` for a quota the database
    /// refuses.
    pub async fn put_account_quotas(
        &self,
        ctx: &Ctx,
        scope: Scope<'_>,
        tenant: &TenantId,
        account: &AccountId,
        quotas: Quotas,
    ) -> Result<AccountUsage> {
        let mut tx = scope::begin(self, scope).await?;
        let pool: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM numbering.tenant_pools WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if pool.is_none() {
            return Err(LifecycleError::NotFound("pool"));
        }
        let before: Option<(i32, i32, i32)> = sqlx::query_as(
            "SELECT quota_msisdn, quota_short_code, quota_alpha FROM numbering.tenant_accounts \
             WHERE tenant_id = $1 AND account_id = $2",
        )
        .bind(tenant.as_str())
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let q = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        sqlx::query(
            "INSERT INTO numbering.tenant_accounts AS a \
               (tenant_id, account_id, quota_msisdn, quota_short_code, quota_alpha) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, account_id) DO UPDATE SET quota_msisdn = EXCLUDED.quota_msisdn, \
               quota_short_code = EXCLUDED.quota_short_code, quota_alpha = EXCLUDED.quota_alpha, \
               updated_at = now()",
        )
        .bind(tenant.as_str())
        .bind(account.as_str())
        .bind(q(quotas.msisdn))
        .bind(q(quotas.short_code))
        .bind(q(quotas.alpha))
        .execute(&mut *tx)
        .await
        .map_err(refused)?;
        let before = before.map(|(m, s, a)| quotas_json(m, s, a));
        let after = quotas_json(q(quotas.msisdn), q(quotas.short_code), q(quotas.alpha));
        record_set(&mut tx, ctx, tenant, account, before, after).await?;
        let now = account_usages(&mut tx, tenant)
            .await?
            .into_iter()
            .find(|a| &a.account_id == account)
            .ok_or(LifecycleError::NotFound("account"))?;
        tx.commit().await?;
        Ok(now)
    }

    /// Every account of `tenant`'s pool with its quotas and usage, by
    /// account id, read in `scope`; `None` when the tenant has no pool.
    pub async fn accounts(
        &self,
        scope: Scope<'_>,
        tenant: &TenantId,
    ) -> Result<Option<Vec<AccountUsage>>> {
        let mut tx = scope::begin(self, scope).await?;
        let pool: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM numbering.tenant_pools WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let accounts = match pool {
            Some(_) => Some(account_usages(&mut tx, tenant).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(accounts)
    }

    /// The tenant's reservations, newest first: only live ones (RESERVED or
    /// HELD, not lapsed) unless `live_only` is false; only `account`'s when
    /// one is given.
    pub async fn reservations(
        &self,
        tenant: &TenantId,
        live_only: bool,
        account: Option<&AccountId>,
        limit: i64,
    ) -> Result<Vec<Reservation>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let rows: Vec<ReservationRow> = sqlx::query_as(concat!(
            "SELECT ",
            reservation_columns!(),
            " FROM numbering.reservations r \
             WHERE ($1 = false OR (r.status IN ('RESERVED', 'HELD') AND r.expires_at > now())) \
               AND ($2::text IS NULL OR r.account_id = $2) \
             ORDER BY r.created_at DESC, r.id LIMIT $3"
        ))
        .bind(live_only)
        .bind(account.map(AccountId::as_str))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(ReservationRow::into_domain).collect()
    }
}

fn quotas_json(msisdn: i32, short_code: i32, alpha: i32) -> Value {
    json!({ "quotas": { "MSISDN": msisdn, "SHORT_CODE": short_code, "ALPHA": alpha } })
}

/// The audit entry `account.quotas_set` and its event, on `tx`.
async fn record_set(
    tx: &mut sqlx::PgConnection,
    ctx: &Ctx,
    tenant: &TenantId,
    account: &AccountId,
    before: Option<Value>,
    after: Value,
) -> Result<()> {
    let subject = format!("{}/{}", tenant.as_str(), account.as_str());
    record_admin_action(
        &mut *tx,
        ctx,
        "account.quotas_set",
        &subject,
        Some(tenant.as_str()),
        before.as_ref(),
        Some(&after),
    )
    .await?;
    let mut data = json!({
        "tenant_id": tenant.as_str(),
        "account_id": account.as_str(),
        "quotas": after["quotas"],
        "previous_quotas": before.as_ref().map(|b| b["quotas"].clone()),
        "actor": ctx.actor.label(),
        "request_id": ctx.request_id,
    });
    if let Some(t) = &ctx.trace_id {
        data["trace_id"] = json!(t);
    }
    sqlx::query(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         VALUES ($1, 'NUMBERING_OPS', $2, 'account', $3, $4, $5::json)",
    )
    .bind(Uuid::now_v7())
    .bind(ACCOUNT_QUOTAS_SET_EVENT)
    .bind(&subject)
    .bind(tenant.as_str())
    .bind(data.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A write the database refused for the caller's input (a check), or else
/// what `From<sqlx::Error>` says.
fn refused(e: sqlx::Error) -> LifecycleError {
    if let Some(db) = e.as_database_error() {
        if matches!(db.code().as_deref(), Some("23514" | "23502")) {
            return InvalidInput::Violates {
                constraint: db.constraint().unwrap_or("a constraint").to_owned(),
            }
            .into();
        }
    }
    e.into()
}
