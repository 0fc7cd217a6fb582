use numbering_shared::TenantId;
use sqlx::{PgConnection, Postgres, Transaction};

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

/// Sets the scope of the current transaction (`set_config(..., true)`).
pub async fn set(conn: &mut PgConnection, scope: Scope<'_>) -> Result<(), sqlx::Error> {
    match scope {
        Scope::Tenant(t) => {
            sqlx::query(
                "SELECT set_config('numbering.tenant_id', $1, true), set_config('numbering.scope', 'tenant', true)",
            )
            .bind(t.as_str())
            .execute(conn)
            .await?;
        }
        Scope::Platform => {
            sqlx::query(
                "SELECT set_config('numbering.tenant_id', '', true), set_config('numbering.scope', 'platform', true)",
            )
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Begins a transaction in `scope`.
pub async fn begin<'c>(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    set(&mut tx, scope).await?;
    Ok(tx)
}
