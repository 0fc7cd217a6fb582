//! Entry point: a long-running relay process (it holds a LISTEN session and
//! an advisory lock, so it runs as a container, not a Lambda). Run two or
//! more for availability: one publishes, the others stand by.
//!
//! `DATABASE_URL`, `NATS_URL`, `NUMBERING_DB_ROLE`; with
//! `NUMBERING_LEASE_CACHE_TABLE` it also keeps the DynamoDB lease cache in
//! step (endpoint and credentials from the AWS SDK's standard variables,
//! items valid for `NUMBERING_DYNAMODB_ITEM_VALIDITY`, default 30s, which
//! must match the readers').

use std::{sync::Arc, time::Duration};

use numbering_clients::lease_cache;
use numbering_outbox_relay::{LeaseCacheProjection, Relay, RelayConfig};
use numbering_store::{PoolConfig, Store, connect};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().json().init();
    let url =
        std::env::var("DATABASE_URL").map_err(|_| anyhow::anyhow!("DATABASE_URL is not set"))?;
    let nats = std::env::var("NATS_URL").map_err(|_| anyhow::anyhow!("NATS_URL is not set"))?;
    let mut config = PoolConfig::new(url);
    config.max_connections = 4;
    config.set_role = std::env::var("NUMBERING_DB_ROLE")
        .ok()
        .filter(|r| !r.is_empty());
    let pool = connect(&config).await?;
    let client = async_nats::ConnectOptions::new()
        .name("numbering-outbox-relay")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(nats)
        .await?;
    let mut relay = Relay::new(pool.clone(), client, RelayConfig::default());
    match std::env::var("NUMBERING_LEASE_CACHE_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(table) => {
            let validity = match std::env::var("NUMBERING_DYNAMODB_ITEM_VALIDITY") {
                Ok(v) => numbering_shared::policy::parse_duration(&v)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .ok_or_else(|| {
                        anyhow::anyhow!("NUMBERING_DYNAMODB_ITEM_VALIDITY={v:?} is not a duration")
                    })?,
                Err(_) => Duration::from_secs(30),
            };
            let dynamo = lease_cache::client_from_env(Duration::from_secs(2)).await;
            let store = Store::new(pool, Default::default());
            let projection = LeaseCacheProjection::standalone(
                store,
                lease_cache::LeaseCacheTable::new(dynamo, table.as_str(), validity),
            );
            relay = relay.with_projection_first(Arc::new(projection));
            tracing::info!(table, "keeping the DynamoDB lease cache in step");
        }
        None => tracing::warn!(
            "NUMBERING_LEASE_CACHE_TABLE is not set: no DynamoDB lease cache is kept in step \
             (readers that use one would serve each item until its validity ends)"
        ),
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay.run(stop));
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(true);
    relay.await?;
    Ok(())
}
