//! Events and lifecycle automation in the host: the outbox relay, the
//! inbound event consumers and the lifecycle sweeper, as background jobs of
//! `numbering serve` (the same libraries the functions run).

use std::{sync::Arc, time::Duration};

use numbering_clients::Billing;
use numbering_event_consumer::{ConsumerConfig, EventConsumer};
use numbering_lifecycle_sweeper::{Sweeper, SweeperConfig};
use numbering_outbox_relay::{Projection, Relay, RelayConfig};
use numbering_store::Store;
use tokio::{sync::watch, task::JoinSet};

/// What the background jobs need.
#[derive(Clone)]
pub struct Events {
    pub nats: async_nats::Client,
    pub billing: Arc<dyn Billing>,
    pub consumers: ConsumerConfig,
}

impl Events {
    /// Connects to `nats_url` (reconnecting forever); `billing` is the
    /// sweeper's billing client ([`numbering_lifecycle_sweeper::config::BillingConfig`]).
    pub async fn connect(
        nats_url: &str,
        billing: Arc<dyn Billing>,
        inbound_stream: Option<&str>,
    ) -> anyhow::Result<Self> {
        let nats = async_nats::ConnectOptions::new()
            .name("numbering-service")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connect(nats_url)
            .await?;
        let consumers = match inbound_stream {
            Some(stream) => ConsumerConfig {
                stream: stream.to_owned(),
                create_stream: false,
                ..Default::default()
            },
            None => ConsumerConfig::default(),
        };
        Ok(Self {
            nats,
            billing,
            consumers,
        })
    }

    /// Spawns the relay, the consumers and the sweeper; they stop when
    /// `stop` turns true.
    pub fn spawn(
        self,
        store: &Store,
        jobs: &mut JoinSet<()>,
        stop: watch::Receiver<bool>,
        cache: Option<Arc<dyn Projection>>,
    ) {
        let relay_config = RelayConfig {
            region: numbering_clients::region::current(),
            ..Default::default()
        };
        let mut relay = Relay::new(store.pool().clone(), self.nats.clone(), relay_config);
        if let Some(cache) = cache {
            relay = relay.with_projection_first(cache);
        }
        jobs.spawn(relay.run(stop.clone()));
        let consumer = EventConsumer::new(store.clone(), self.nats, self.consumers);
        jobs.spawn(consumer.run(stop.clone()));
        let sweeper = Sweeper::new(store.clone(), self.billing, SweeperConfig::default());
        jobs.spawn(numbering_lifecycle_sweeper::run(
            sweeper,
            Duration::from_secs(60),
            Duration::from_secs(1),
            stop,
        ));
    }
}
