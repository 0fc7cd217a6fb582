//! Entry point: a long-running consumer process (JetStream pull consumers
//! need a process that stays up: ECS / a container, not a Lambda).

use numbering_event_consumer::{ConsumerConfig, EventConsumer};
use numbering_store::{PoolConfig, Store, connect, policy_from_env};

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
    let store = Store::new(connect(&config).await?, policy_from_env()?);
    let client = async_nats::connect(nats).await?;
    let consumer_config = ConsumerConfig {
        create_stream: false,
        ..Default::default()
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn(EventConsumer::new(store, client, consumer_config).run(stop));
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(true);
    consumer.await?;
    Ok(())
}
