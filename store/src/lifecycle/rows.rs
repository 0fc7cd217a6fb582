//! The locks and reads the transitions share: the tenant's pool with its
//! usage, the number row (by identity key or id), a lease, and the open
//! quarantine's end. Fixed statements, one round trip each.

use chrono::{DateTime, Utc};
use numbering_shared::{
    AccountId, IdentifierKind, LeaseId, NumberState, Quotas, TenantId, Usage, admission::PoolRules,
};
use sqlx::PgConnection;

use super::Result;
use crate::{
    LifecycleError, NotAllowed,
    model::{self, LeaseRow, LeaseStatus, NumberRow, lease_columns, number_columns},
};

/// What a tenant's pool admits and what the tenant already uses, locked for
/// the transaction so that the tenant's quota checks are serialised.
pub(super) struct Pool {
    pub quotas: Quotas,
    pub usage: Usage,
    pub rules: PoolRules,
}

/// Locks the tenant's pool and reads what the tenant uses, in one round
/// trip (`numbering.lock_pool`: the usage is counted after the lock is
/// granted, so the tenant's quota checks are serialised). Refuses with
/// `NotAllowed` a tenant without a pool, or with a suspended one.
pub(super) async fn lock_pool(tx: &mut PgConnection, tenant: &TenantId) -> Result<Pool> {
    #[derive(sqlx::FromRow)]
    struct Row {
        status: String,
        quota_msisdn: i32,
        quota_short_code: i32,
        quota_alpha: i32,
        allowed_kinds: Vec<String>,
        allowed_operators: Vec<String>,
        vanity_allowed: bool,
        used_msisdn: i64,
        used_short_code: i64,
        used_alpha: i64,
    }
    let row: Option<Row> = sqlx::query_as("SELECT * FROM numbering.lock_pool($1)")
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Err(NotAllowed::NoPool.into());
    };
    let rules = PoolRules {
        active: row.status == "ACTIVE",
        allowed_kinds: row
            .allowed_kinds
            .iter()
            .map(|k| model::parse::<IdentifierKind>("identifier kind", k))
            .collect::<Result<_>>()?,
        allowed_operators: row.allowed_operators,
        vanity_allowed: row.vanity_allowed,
    };
    rules.open().map_err(NotAllowed::from)?;
    Ok(Pool {
        quotas: quotas_from(row.quota_msisdn, row.quota_short_code, row.quota_alpha),
        usage: usage_from_counts(row.used_msisdn, row.used_short_code, row.used_alpha),
        rules,
    })
}

/// One account's quotas and usage (`numbering.account_quota_usage`), read
/// by a reservation after [`lock_pool`] was granted: every reservation of
/// the tenant, whatever its account, queues on the pool's row first, so
/// this count (a fresh statement) is as exact as the tenant's. Refuses with
/// `NotAllowed` an account the pool does not have.
pub(super) async fn account_quota(
    tx: &mut PgConnection,
    tenant: &TenantId,
    account: &AccountId,
) -> Result<(Usage, Quotas)> {
    type Row = (i32, i32, i32, i64, i64, i64);
    let row: Option<Row> = sqlx::query_as("SELECT * FROM numbering.account_quota_usage($1, $2)")
        .bind(tenant.as_str())
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((m, s, a, um, us, ua)) = row else {
        return Err(NotAllowed::UnknownAccount(account.clone()).into());
    };
    Ok((usage_from_counts(um, us, ua), quotas_from(m, s, a)))
}

/// One account of a tenant's pool: its quotas and what it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUsage {
    pub account_id: AccountId,
    pub quotas: Quotas,
    pub usage: Usage,
}

/// Every account of the tenant's pool with its quotas and usage, by
/// account id (`numbering.account_usage`).
pub(crate) async fn account_usages(
    tx: &mut PgConnection,
    tenant: &TenantId,
) -> Result<Vec<AccountUsage>> {
    type Row = (String, i32, i32, i32, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as("SELECT * FROM numbering.account_usage($1)")
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
    rows.into_iter()
        .map(|(id, m, s, a, um, us, ua)| {
            Ok(AccountUsage {
                account_id: model::account(Some(&id))?
                    .ok_or(LifecycleError::NotFound("account"))?,
                quotas: quotas_from(m, s, a),
                usage: usage_from_counts(um, us, ua),
            })
        })
        .collect()
}

/// Quotas from their columns (a negative one, which a CHECK forbids, as 0).
pub(crate) fn quotas_from(msisdn: i32, short_code: i32, alpha: i32) -> Quotas {
    let q = |v: i32| u32::try_from(v).unwrap_or(0);
    Quotas {
        msisdn: q(msisdn),
        short_code: q(short_code),
        alpha: q(alpha),
    }
}

/// Live reservations (not lapsed) plus current leases, per kind
/// (`numbering.tenant_usage`: the leases come from a counter the database
/// keeps, so this costs the same whatever the tenant holds).
pub(crate) async fn usage(tx: &mut PgConnection, tenant: &TenantId) -> Result<Usage> {
    let (msisdn, short_code, alpha): (i64, i64, i64) =
        sqlx::query_as("SELECT * FROM numbering.tenant_usage($1)")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
    Ok(usage_from_counts(msisdn, short_code, alpha))
}

/// `numbering.tenant_usage`'s counts per kind (a count past `u32::MAX`
/// saturates, which every quota refuses).
fn usage_from_counts(msisdn: i64, short_code: i64, alpha: i64) -> Usage {
    let used = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Usage {
        msisdn: used(msisdn),
        short_code: used(short_code),
        alpha: used(alpha),
    }
}

/// Locks the inventory row of identity `key` that the caller sees (the
/// live one before a retired one).
pub(super) async fn lock_number_by_key(
    tx: &mut PgConnection,
    key: &str,
) -> Result<Option<NumberRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        number_columns!(),
        " FROM numbering.numbers n WHERE n.identity_key = $1 \
         ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1 FOR UPDATE"
    ))
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?)
}

/// The state of `key` in inventory whoever holds it (`numbering.inventory_state`).
pub(super) async fn inventory_state(
    tx: &mut PgConnection,
    key: &str,
) -> Result<Option<NumberState>> {
    let state: Option<String> = sqlx::query_scalar("SELECT numbering.inventory_state($1)::text")
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
    state.map(|s| model::parse("number state", &s)).transpose()
}

pub(super) async fn lock_number_by_id(tx: &mut PgConnection, id: i64) -> Result<Option<NumberRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        number_columns!(),
        " FROM numbering.numbers n WHERE n.id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

pub(crate) async fn lock_lease(tx: &mut PgConnection, id: LeaseId) -> Result<Option<LeaseRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        lease_columns!(),
        " FROM numbering.leases l WHERE l.id = $1 FOR UPDATE"
    ))
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?)
}

/// A lease handle must be the identifier's current lease.
pub(super) fn current_lease_matches(l: &LeaseRow, n: &NumberRow) -> Result<()> {
    let current = l.status != LeaseStatus::Ended.as_str()
        && n.tenant_id.as_deref() == Some(l.tenant_id.as_str());
    if current {
        Ok(())
    } else {
        Err(LifecycleError::Conflict)
    }
}

/// When the identifier's open quarantine ends, if it has one.
pub(super) async fn open_quarantine_end(
    tx: &mut PgConnection,
    number_id: i64,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT ends_at FROM numbering.quarantine_records WHERE number_id = $1 AND ended_at IS NULL",
    )
    .bind(number_id)
    .fetch_optional(&mut *tx)
    .await?)
}
