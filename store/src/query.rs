//! Tenant reads beyond single rows: browsing available inventory with
//! filters and a keyset cursor, lease lists, the pool view and an
//! identifier's lease history; plus the auto-renew toggle.

use std::sync::LazyLock;

use numbering_shared::{
    AccountId, Identifier, IdentifierKind, LeaseId, Quotas, TenantId, Usage, admission::Rule,
};
use serde_json::json;
use sqlx::{Postgres, postgres::PgArguments, query::QueryAs};

use crate::{
    Lease, LifecycleError, NotAllowed, Store,
    lifecycle::{AccountUsage, account_usages, lock_lease, usage},
    model::{self, LeaseRow, lease_columns},
    record::{self, Ctx},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

/// One rule of pool admission ([`numbering_shared::admission`]) in SQL,
/// over `numbering.numbers` aliased `n` and the pool `p`; the exhaustive
/// match is what keeps this the same list of rules as
/// [`PoolRules::admits`](numbering_shared::admission::PoolRules::admits).
const fn rule_sql(rule: Rule) -> &'static str {
    match rule {
        Rule::PoolActive => "p.status = 'ACTIVE'",
        Rule::Kind => "n.kind = ANY(p.allowed_kinds)",
        Rule::Operator => {
            "(cardinality(p.allowed_operators) = 0 OR n.operator_id IS NULL \
             OR n.operator_id = ANY(p.allowed_operators))"
        }
        Rule::Vanity => "(p.vanity_allowed OR NOT n.vanity)",
    }
}

/// Not of a SUSPENDED or ENDED lease contract: what the database refuses
/// to reserve (trigger `numbers_contract_open`), browsing and "reserve any"
/// never offer.
const CONTRACT_OPEN: &str = "(n.contract_id IS NULL OR EXISTS (SELECT 1 FROM numbering.lease_contracts c \
     WHERE c.id = n.contract_id AND c.status = 'ACTIVE'))";

/// What the current tenant's pool admits among available inventory, every
/// rule of [`Rule::ALL`] (the query must alias `numbering.numbers` as `n`;
/// the pool is `p`).
pub(crate) fn admitted_by_pool() -> &'static str {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let rules: Vec<&str> = Rule::ALL.into_iter().map(rule_sql).collect();
        format!(
            "JOIN numbering.tenant_pools p ON p.tenant_id = numbering.current_tenant() \
             WHERE n.state = 'AVAILABLE' AND {} AND {CONTRACT_OPEN}",
            rules.join(" AND ")
        )
    });
    &SQL
}

/// Filters over available inventory, for browsing and "reserve any".
/// Text filters match the canonical identifier literally (no wildcards).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    pub kind: Option<IdentifierKind>,
    pub operator: Option<String>,
    pub prefix: Option<String>,
    pub contains: Option<String>,
    pub suffix: Option<String>,
    /// Only vanity identifiers.
    pub vanity_only: bool,
}

#[derive(Clone)]
pub(crate) enum Bind {
    Text(String),
}

impl Criteria {
    /// `AND …` conditions with placeholders from `$first`, and their values.
    pub(crate) fn sql(&self, first: usize) -> (String, Vec<Bind>) {
        let mut sql = String::new();
        let mut binds = Vec::new();
        let mut push = |cond: &str, v: String| {
            let n = first + binds.len();
            sql.push_str(&cond.replace("$?", &format!("${n}")));
            binds.push(Bind::Text(v));
        };
        if let Some(k) = self.kind {
            push(
                " AND n.kind = $?::numbering.identifier_kind",
                k.as_str().into(),
            );
        }
        if let Some(op) = &self.operator {
            push(" AND n.operator_id = $?", op.clone());
        }
        if let Some(p) = &self.prefix {
            push(
                " AND n.identity_key LIKE $? ESCAPE '\\'",
                format!("{}%", like(p)),
            );
        }
        if let Some(c) = &self.contains {
            push(
                " AND n.identity_key LIKE $? ESCAPE '\\'",
                format!("%{}%", like(c)),
            );
        }
        if let Some(s) = &self.suffix {
            push(
                " AND n.identity_key LIKE $? ESCAPE '\\'",
                format!("%{}", like(s)),
            );
        }
        if self.vanity_only {
            sql.push_str(" AND n.vanity");
        }
        (sql, binds)
    }
}

/// Escapes LIKE wildcards; identity keys are upper-cased for ALPHA.
fn like(s: &str) -> String {
    s.to_uppercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) fn bind_all<'q, O>(
    mut q: QueryAs<'q, Postgres, O, PgArguments>,
    binds: Vec<Bind>,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
        };
    }
    q
}

/// One available identifier as a tenant browses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub identifier: Identifier,
    pub operator_id: Option<String>,
    pub vanity: bool,
    /// The keyset position of this row (its identity key).
    pub position: String,
}

/// A tenant's pool: its limits and what it uses now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolView {
    pub tenant_id: TenantId,
    pub status: String,
    pub quotas: Quotas,
    pub usage: Usage,
    pub allowed_kinds: Vec<String>,
    pub allowed_operators: Vec<String>,
    pub vanity_allowed: bool,
    /// The pool's accounts, each with its sub-quotas and usage (which the
    /// tenant's usage includes).
    pub accounts: Vec<AccountUsage>,
}

impl Store {
    /// Available identifiers the tenant's pool admits, matching `criteria`,
    /// in identity order after `after` (a previous page's last position).
    /// Keyset pagination: rows changing concurrently never shift a page.
    pub async fn browse(
        &self,
        tenant: &TenantId,
        criteria: &Criteria,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Available>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let (filter, mut binds) = criteria.sql(2);
        binds.insert(0, Bind::Text(after.unwrap_or("").to_owned()));
        let sql = format!(
            "SELECT n.identifier, n.kind::text, n.operator_id, n.vanity, n.identity_key \
             FROM numbering.numbers n {} AND n.identity_key > $1 {filter} \
             ORDER BY n.identity_key LIMIT {limit}",
            admitted_by_pool()
        );
        type Row = (String, String, Option<String>, bool, String);
        let rows: Vec<Row> = bind_all(sqlx::query_as::<_, Row>(&sql), binds)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|(identifier, kind, operator_id, vanity, position)| {
                Ok(Available {
                    identifier: model::identifier(&kind, &identifier)?,
                    operator_id,
                    vanity,
                    position,
                })
            })
            .collect()
    }

    /// The tenant's leases, newest first, optionally only current ones.
    pub async fn leases(
        &self,
        tenant: &TenantId,
        current_only: bool,
        limit: i64,
    ) -> Result<Vec<Lease>> {
        self.leases_of(tenant, current_only, None, limit).await
    }

    /// [`Store::leases`], only `account`'s when one is given.
    pub async fn leases_of(
        &self,
        tenant: &TenantId,
        current_only: bool,
        account: Option<&AccountId>,
        limit: i64,
    ) -> Result<Vec<Lease>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let rows: Vec<LeaseRow> = sqlx::query_as(concat!(
            "SELECT ",
            lease_columns!(),
            " FROM numbering.leases l \
             WHERE ($1 = false OR l.status IN ('ACTIVE', 'SUSPENDED')) \
               AND ($3::text IS NULL OR l.account_id = $3) \
             ORDER BY l.started_at DESC, l.id LIMIT $2"
        ))
        .bind(current_only)
        .bind(limit)
        .bind(account.map(AccountId::as_str))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(LeaseRow::into_domain).collect()
    }

    /// Every lease the tenant has held on `identifier`, newest first.
    pub async fn lease_history(
        &self,
        tenant: &TenantId,
        identifier: &Identifier,
    ) -> Result<Vec<Lease>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        // leases keep their own copy of the identifier, so the history stays
        // readable whoever holds the number now (RLS shows only this tenant's);
        // a renumbered identifier's leases moved to its new number, under
        // the new identifier: its history is theirs
        let rows: Vec<LeaseRow> = sqlx::query_as(concat!(
            "SELECT ",
            lease_columns!(),
            " FROM numbering.leases l \
             WHERE upper(l.identifier) = $1 \
                OR l.number_id IN (SELECT k.new_number_id FROM numbering.identifier_links k \
                                   WHERE k.old_identifier = $1) \
             ORDER BY l.started_at DESC, l.id"
        ))
        .bind(identifier.key())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(LeaseRow::into_domain).collect()
    }

    /// Turns auto-renew of one of the tenant's current leases on or off.
    pub async fn set_auto_renew(
        &self,
        ctx: &Ctx,
        tenant: &TenantId,
        id: LeaseId,
        auto_renew: bool,
    ) -> Result<Lease> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let Some(before) = lock_lease(&mut tx, id).await? else {
            return Err(LifecycleError::NotFound("lease"));
        };
        if before.status == "ENDED" {
            return Err(NotAllowed::LeaseEnded.into());
        }
        let was = before.auto_renew;
        let l: LeaseRow = sqlx::query_as(concat!(
            "UPDATE numbering.leases AS l SET auto_renew = $2 WHERE l.id = $1 RETURNING ",
            lease_columns!()
        ))
        .bind(id.as_uuid())
        .bind(auto_renew)
        .fetch_one(&mut *tx)
        .await?;
        if was != auto_renew {
            record::record_admin_action(
                &mut tx,
                ctx,
                "lease.auto_renew_changed",
                &l.identifier,
                Some(tenant.as_str()),
                Some(&json!({ "lease_id": id.to_string(), "auto_renew": was })),
                Some(&json!({ "lease_id": id.to_string(), "auto_renew": auto_renew })),
            )
            .await?;
        }
        tx.commit().await?;
        l.into_domain()
    }

    /// The tenant's pool with its current usage; `None` without a pool.
    pub async fn pool_view(&self, tenant: &TenantId) -> Result<Option<PoolView>> {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        type Row = (String, i32, i32, i32, Vec<String>, Vec<String>, bool);
        let row: Option<Row> = sqlx::query_as(
            "SELECT status::text, quota_msisdn, quota_short_code, quota_alpha, allowed_kinds::text[], \
                    allowed_operators, vanity_allowed \
             FROM numbering.tenant_pools WHERE tenant_id = $1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, m, s, a, allowed_kinds, allowed_operators, vanity_allowed)) = row else {
            return Ok(None);
        };
        let usage = usage(&mut tx, tenant).await?;
        let accounts = account_usages(&mut tx, tenant).await?;
        tx.commit().await?;
        let q = |v: i32| u32::try_from(v).unwrap_or(0);
        Ok(Some(PoolView {
            tenant_id: tenant.clone(),
            status,
            quotas: Quotas {
                msisdn: q(m),
                short_code: q(s),
                alpha: q(a),
            },
            usage,
            allowed_kinds,
            allowed_operators,
            vanity_allowed,
            accounts,
        }))
    }
}
