use numbering_shared::TenantId;
use sqlx::{Postgres, Transaction};

/// Whose data a transaction may touch. The store sets it transaction-locally
/// and row-level security enforces it underneath the queries.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A tenant: sees unheld inventory and only its own reservations, leases,
    /// pool and idempotency keys.
    Tenant(&'a TenantId),
    /// Platform admins and system jobs: see across tenants.
    Platform,
}

/// Begins a transaction in `scope`.
pub async fn begin<'c>(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    pool.begin_with(begin_statement("BEGIN", scope)).await
}

/// Begins a read-only REPEATABLE READ transaction in `scope`: one snapshot
/// for a long read (the regulator export).
pub async fn begin_snapshot<'c>(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    pool.begin_with(begin_statement(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        scope,
    ))
    .await
}

/// `begin` and the scope in one round trip (a simple-query batch). The
/// tenant id is spliced in as a literal: `TenantId` admits only
/// `[A-Za-z0-9._:-]`, and it is quoted besides.
fn begin_statement(begin: &str, scope: Scope<'_>) -> String {
    match scope {
        Scope::Tenant(t) => format!(
            "{begin}; SELECT set_config('numbering.tenant_id', {}, true), set_config('numbering.scope', 'tenant', true)",
            quote_literal(t.as_str())
        ),
        Scope::Platform => format!(
            "{begin}; SELECT set_config('numbering.tenant_id', '', true), set_config('numbering.scope', 'platform', true)"
        ),
    }
}

/// A SQL string literal (single quotes doubled).
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
