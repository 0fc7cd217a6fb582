//! Platform-admin reference data and cross-tenant reads: operators, lease
//! contracts, MNO signing keys, tenant pools, inventory search, quarantine
//! and the audit trail.
//!
//! These are administrative listings, not lifecycle transitions, so they are
//! returned as JSON projections built in SQL (`json_build_object`), which the
//! admin API serves as they are. Every write runs in the platform scope and
//! appends an audit entry (`record_admin_action`) in the same transaction.

use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::{
    InvalidInput, LifecycleError, Store,
    query::{Bind, Criteria, bind_all},
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

const OPERATOR_JSON: &str = "json_build_object('id', o.id, 'name', o.name, 'mcc', o.mcc, \
     'mnc_codes', o.mnc_codes, 'msisdn_prefixes', o.msisdn_prefixes, 'active', o.active, 'created_at', o.created_at)";
const CONTRACT_JSON: &str = "json_build_object('id', c.id, 'contract_ref', c.contract_ref, 'operator_id', c.operator_id, \
     'kind', c.kind, 'range_start', c.range_start, 'range_end', c.range_end, 'starts_on', c.starts_on, \
     'ends_on', c.ends_on, 'status', c.status, 'created_at', c.created_at)";
const KEY_JSON: &str = "json_build_object('key_id', k.key_id, 'operator_id', k.operator_id, 'algorithm', k.algorithm, \
     'public_key_pem', k.public_key_pem, 'valid_from', k.valid_from, 'valid_until', k.valid_until, \
     'revoked_at', k.revoked_at, 'revocation_reason', k.revocation_reason, 'created_at', k.created_at)";
const POOL_JSON: &str = "json_build_object('tenant_id', p.tenant_id, 'display_name', p.display_name, 'segment', p.segment, \
     'status', p.status, 'quotas', json_build_object('MSISDN', p.quota_msisdn, 'SHORT_CODE', p.quota_short_code, 'ALPHA', p.quota_alpha), \
     'allowed_kinds', p.allowed_kinds, 'allowed_operators', p.allowed_operators, 'vanity_allowed', p.vanity_allowed, \
     'created_at', p.created_at, 'updated_at', p.updated_at)";
const NUMBER_JSON: &str = "json_build_object('identifier', n.identifier, 'kind', n.kind, 'state', n.state, \
     'tenant_id', n.tenant_id, 'reserved_until', n.reserved_until, 'operator_id', n.operator_id, 'mcc', n.mcc, \
     'mnc', n.mnc, 'vanity', n.vanity, 'version', n.version, 'state_changed_at', n.state_changed_at)";
const QUARANTINE_JSON: &str = "json_build_object('id', q.id, 'identifier', q.identifier, 'kind', q.kind, \
     'previous_tenant_id', q.previous_tenant_id, 'lease_id', q.lease_id, 'reason', q.reason, \
     'started_at', q.started_at, 'ends_at', q.ends_at)";
const AUDIT_JSON: &str = "json_build_object('id', a.id, 'occurred_at', a.occurred_at, 'actor', a.actor, \
     'action', a.action, 'tenant_id', a.tenant_id, 'subject', a.subject, 'before', a.before, 'after', a.after, \
     'request_id', a.request_id)";

/// A new or replaced mobile network operator.
#[derive(Debug, Clone)]
pub struct OperatorInput {
    pub id: String,
    pub name: String,
    pub mcc: String,
    pub mnc_codes: Vec<String>,
    pub msisdn_prefixes: Vec<String>,
    pub active: bool,
}

/// A new lease contract (block range of one operator).
#[derive(Debug, Clone)]
pub struct ContractInput {
    pub contract_ref: String,
    pub operator_id: Option<String>,
    pub kind: String,
    pub range_start: String,
    pub range_end: String,
    pub starts_on: chrono::NaiveDate,
    pub ends_on: Option<chrono::NaiveDate>,
}

/// A new MNO signing key.
#[derive(Debug, Clone)]
pub struct SigningKeyInput {
    pub key_id: String,
    pub operator_id: Option<String>,
    pub algorithm: String,
    pub public_key_pem: String,
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The whole configuration of a tenant's pool (PUT semantics).
#[derive(Debug, Clone)]
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

/// Cross-tenant inventory search.
#[derive(Debug, Clone, Default)]
pub struct NumberSearch {
    pub criteria: Criteria,
    pub state: Option<String>,
    pub tenant_id: Option<String>,
    /// Keyset position: only identity keys after this one.
    pub after: Option<String>,
    pub limit: i64,
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

/// Database refusals that are the caller's input, not the service's failure.
fn input(e: sqlx::Error) -> LifecycleError {
    if let Some(db) = e.as_database_error() {
        let what = db.constraint().unwrap_or("a constraint").to_owned();
        match db.code().as_deref() {
            Some("23505") => return LifecycleError::Conflict,
            Some("23503") => {
                return InvalidInput::UnknownReference { constraint: what }.into();
            }
            Some("23514" | "23502") => {
                return InvalidInput::Violates { constraint: what }.into();
            }
            Some("22P02" | "22007" | "22008" | "22001" | "22003") => {
                return InvalidInput::WrongFormat.into();
            }
            _ => {}
        }
    }
    e.into()
}

async fn platform(store: &Store) -> Result<scope::Tx> {
    Ok(scope::begin(store, Scope::Platform).await?)
}

async fn list(conn: &mut PgConnection, sql: &str) -> Result<Vec<Value>> {
    Ok(sqlx::query_scalar::<_, Value>(sql).fetch_all(conn).await?)
}

impl Store {
    pub async fn operators(&self) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let out = list(
            &mut tx,
            &format!("SELECT {OPERATOR_JSON} FROM numbering.mobile_operators o ORDER BY o.id"),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Creates or replaces an operator.
    pub async fn put_operator(&self, ctx: &Ctx, o: &OperatorInput) -> Result<Value> {
        let mut tx = platform(self).await?;
        let before: Option<Value> = sqlx::query_scalar(&format!(
            "SELECT {OPERATOR_JSON} FROM numbering.mobile_operators o WHERE o.id = $1"
        ))
        .bind(&o.id)
        .fetch_optional(&mut *tx)
        .await?;
        let after: Value = sqlx::query_scalar(&format!(
            "INSERT INTO numbering.mobile_operators AS o (id, name, mcc, mnc_codes, msisdn_prefixes, active) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, mcc = EXCLUDED.mcc, mnc_codes = EXCLUDED.mnc_codes, \
               msisdn_prefixes = EXCLUDED.msisdn_prefixes, active = EXCLUDED.active \
             RETURNING {OPERATOR_JSON}"
        ))
        .bind(&o.id)
        .bind(&o.name)
        .bind(&o.mcc)
        .bind(&o.mnc_codes)
        .bind(&o.msisdn_prefixes)
        .bind(o.active)
        .fetch_one(&mut *tx)
        .await
        .map_err(input)?;
        record_admin_action(
            &mut tx,
            ctx,
            "operator.put",
            &o.id,
            None,
            before.as_ref(),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn contracts(&self) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let out = list(
            &mut tx,
            &format!(
                "SELECT {CONTRACT_JSON} FROM numbering.lease_contracts c ORDER BY c.contract_ref"
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn create_contract(&self, ctx: &Ctx, c: &ContractInput) -> Result<Value> {
        let mut tx = platform(self).await?;
        let after: Value = sqlx::query_scalar(&format!(
            "INSERT INTO numbering.lease_contracts AS c (contract_ref, operator_id, kind, range_start, range_end, starts_on, ends_on) \
             VALUES ($1, $2, $3::numbering.identifier_kind, $4, $5, $6, $7) RETURNING {CONTRACT_JSON}"
        ))
        .bind(&c.contract_ref)
        .bind(&c.operator_id)
        .bind(&c.kind)
        .bind(&c.range_start)
        .bind(&c.range_end)
        .bind(c.starts_on)
        .bind(c.ends_on)
        .fetch_one(&mut *tx)
        .await
        .map_err(input)?;
        record_admin_action(
            &mut tx,
            ctx,
            "contract.created",
            &c.contract_ref,
            None,
            None,
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn signing_keys(&self) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let out = list(
            &mut tx,
            &format!("SELECT {KEY_JSON} FROM numbering.mno_signing_keys k ORDER BY k.created_at, k.key_id"),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Installs a key (rotation = install the new one, then revoke the old).
    pub async fn install_signing_key(&self, ctx: &Ctx, k: &SigningKeyInput) -> Result<Value> {
        let mut tx = platform(self).await?;
        let after: Value = sqlx::query_scalar(&format!(
            "INSERT INTO numbering.mno_signing_keys AS k (key_id, operator_id, algorithm, public_key_pem, valid_until) \
             VALUES ($1, $2, $3::numbering.signing_algorithm, $4, $5) RETURNING {KEY_JSON}"
        ))
        .bind(&k.key_id)
        .bind(&k.operator_id)
        .bind(&k.algorithm)
        .bind(&k.public_key_pem)
        .bind(k.valid_until)
        .fetch_one(&mut *tx)
        .await
        .map_err(input)?;
        record_admin_action(
            &mut tx,
            ctx,
            "signing_key.installed",
            &k.key_id,
            None,
            None,
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn revoke_signing_key(&self, ctx: &Ctx, key_id: &str, reason: &str) -> Result<Value> {
        let mut tx = platform(self).await?;
        let before: Option<Value> = sqlx::query_scalar(&format!(
            "SELECT {KEY_JSON} FROM numbering.mno_signing_keys k WHERE k.key_id = $1 FOR UPDATE"
        ))
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Err(LifecycleError::NotFound("signing key"));
        };
        let after: Value = sqlx::query_scalar(&format!(
            "UPDATE numbering.mno_signing_keys AS k SET revoked_at = coalesce(k.revoked_at, now()), revocation_reason = $2 \
             WHERE k.key_id = $1 RETURNING {KEY_JSON}"
        ))
        .bind(key_id)
        .bind(reason)
        .fetch_one(&mut *tx)
        .await
        .map_err(input)?;
        record_admin_action(
            &mut tx,
            ctx,
            "signing_key.revoked",
            key_id,
            None,
            Some(&before),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn tenant_pool(&self, tenant: &str) -> Result<Option<Value>> {
        let mut tx = platform(self).await?;
        let out: Option<Value> = sqlx::query_scalar(&format!(
            "SELECT {POOL_JSON} FROM numbering.tenant_pools p WHERE p.tenant_id = $1"
        ))
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn tenant_pools(&self) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let out = list(
            &mut tx,
            &format!("SELECT {POOL_JSON} FROM numbering.tenant_pools p ORDER BY p.tenant_id"),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Creates or replaces a tenant's pool.
    pub async fn put_tenant_pool(&self, ctx: &Ctx, tenant: &str, p: &PoolInput) -> Result<Value> {
        let mut tx = platform(self).await?;
        let before: Option<Value> = sqlx::query_scalar(&format!(
            "SELECT {POOL_JSON} FROM numbering.tenant_pools p WHERE p.tenant_id = $1 FOR UPDATE"
        ))
        .bind(tenant)
        .fetch_optional(&mut *tx)
        .await?;
        let after: Value = sqlx::query_scalar(&format!(
            "INSERT INTO numbering.tenant_pools AS p (tenant_id, display_name, segment, status, quota_msisdn, \
               quota_short_code, quota_alpha, allowed_kinds, allowed_operators, vanity_allowed) \
             VALUES ($1, $2, $3, $4::numbering.pool_status, $5, $6, $7, $8::numbering.identifier_kind[], $9, $10) \
             ON CONFLICT (tenant_id) DO UPDATE SET display_name = EXCLUDED.display_name, segment = EXCLUDED.segment, \
               status = EXCLUDED.status, quota_msisdn = EXCLUDED.quota_msisdn, quota_short_code = EXCLUDED.quota_short_code, \
               quota_alpha = EXCLUDED.quota_alpha, allowed_kinds = EXCLUDED.allowed_kinds, \
               allowed_operators = EXCLUDED.allowed_operators, vanity_allowed = EXCLUDED.vanity_allowed, updated_at = now() \
             RETURNING {POOL_JSON}"
        ))
        .bind(tenant)
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
        .map_err(input)?;
        record_admin_action(
            &mut tx,
            ctx,
            "pool.put",
            tenant,
            Some(tenant),
            before.as_ref(),
            Some(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Inventory across tenants, in identity order (keyset pagination).
    pub async fn search_numbers(&self, s: &NumberSearch) -> Result<Vec<(String, Value)>> {
        let mut tx = platform(self).await?;
        let (filter, mut binds) = s.criteria.sql(4);
        binds.insert(0, Bind::Text(s.after.clone().unwrap_or_default()));
        binds.insert(1, Bind::Text(s.state.clone().unwrap_or_default()));
        binds.insert(2, Bind::Text(s.tenant_id.clone().unwrap_or_default()));
        let sql = format!(
            "SELECT n.identity_key, {NUMBER_JSON} FROM numbering.numbers n \
             WHERE n.identity_key > $1 AND ($2 = '' OR n.state::text = $2) AND ($3 = '' OR n.tenant_id = $3) {filter} \
             ORDER BY n.identity_key, n.id LIMIT {}",
            s.limit
        );
        let rows = bind_all(sqlx::query_as::<_, (String, Value)>(&sql), binds)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Open quarantine records, soonest end first.
    pub async fn quarantine_list(&self, limit: i64) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let out = list(
            &mut tx,
            &format!(
                "SELECT {QUARANTINE_JSON} FROM numbering.quarantine_records q WHERE q.ended_at IS NULL \
                 ORDER BY q.ends_at, q.id LIMIT {limit}"
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Audit entries, newest first.
    pub async fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<Value>> {
        let mut tx = platform(self).await?;
        let rows: Vec<Value> = sqlx::query_scalar(&format!(
            "SELECT {AUDIT_JSON} FROM numbering.audit_log a \
             WHERE ($1::text IS NULL OR a.subject = $1) AND ($2::text IS NULL OR a.tenant_id = $2) \
               AND ($3::text IS NULL OR a.action = $3) AND ($4::bigint IS NULL OR a.id < $4) \
             ORDER BY a.id DESC LIMIT $5"
        ))
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

/// The JSON the admin API shows for a number record.
pub fn number_json(n: &crate::NumberRecord) -> Value {
    json!({
        "identifier": n.identifier.as_str(),
        "kind": n.identifier.kind().as_str(),
        "state": n.state.as_str(),
        "tenant_id": n.tenant_id.as_ref().map(|t| t.as_str()),
        "reserved_until": n.reserved_until,
        "operator_id": n.operator_id,
        "mcc": n.mcc,
        "mnc": n.mnc,
        "vanity": n.vanity,
        "version": n.version,
    })
}
