//! Set-up shared by the REST benchmarks (`bench-flows`,
//! `bench-lifecycle-mix`): MSISDN stock, tenant pools, and the host's REST
//! routers served on loopback.

use numbering_http_edge::with_fallbacks;
use numbering_store::{PoolConfig, Store};

use crate::{TestDb, app::single_admin_edge};

/// `count` free MSISDNs `+9379<g:07>` (g from 1) of operator roshan
/// (MCC 412, MNC `mnc`).
pub async fn seed_msisdn_stock(db: &TestDb, count: i32, mnc: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT '+9379' || lpad(g::text, 7, '0'), '+9379' || lpad(g::text, 7, '0'), 'MSISDN', 'roshan', '412', $2 \
         FROM generate_series(1, $1::int) g",
    )
    .bind(count)
    .bind(mnc)
    .execute(&db.owner)
    .await?;
    Ok(())
}

/// Tenant pools `<prefix>-0` … `<prefix>-<n - 1>`, each with room for a
/// million MSISDNs.
pub async fn seed_tenant_pools(db: &TestDb, prefix: &str, n: usize) -> anyhow::Result<()> {
    for t in 0..n {
        sqlx::query(
            "INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ($1, $1, 1000000)",
        )
        .bind(format!("{prefix}-{t}"))
        .execute(&db.owner)
        .await?;
    }
    Ok(())
}

/// Serves the host's REST routers on 127.0.0.1 over a pool of
/// `db_connections`; returns the base URL.
pub async fn serve_rest(db: &TestDb, db_connections: u32) -> anyhow::Result<String> {
    let mut config = PoolConfig::new(db.owner_url.clone());
    config.max_connections = db_connections;
    let store = Store::new(numbering_store::connect(&config).await?, Default::default());
    let app = with_fallbacks(numbering::serve::rest_router(store, single_admin_edge()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}
