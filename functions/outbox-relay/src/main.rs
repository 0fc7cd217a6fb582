//! Entry point: a long-running relay process (it holds a LISTEN session and
//! an advisory lock, so it runs as a container, not a Lambda). Run two or
//! more for availability: one publishes, the others stand by.

use numbering_outbox_relay::{Relay, RelayConfig};
use numbering_store::{PoolConfig, connect};

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
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(Relay::new(pool, client, RelayConfig::default()).run(stop));
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(true);
    relay.await?;
    Ok(())
}
