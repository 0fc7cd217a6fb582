//! `num.cache.invalidate.v1`: core NATS (not a stream), fanned out to every
//! instance in both regions; each drops the entry it names.

use futures_util::StreamExt;
use numbering_shared::Identifier;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::tiers::LeaseReader;

pub const SUBJECT: &str = "num.cache.invalidate.v1";

#[derive(Debug, Serialize, Deserialize)]
pub struct Invalidation {
    pub identifier: String,
    #[serde(default)]
    pub version: Option<i64>,
}

/// Publishes an invalidation for `identifier` (the outbox relay does this
/// after projecting a lease-state change).
pub async fn publish(
    client: &async_nats::Client,
    identifier: &Identifier,
    version: i64,
) -> Result<(), async_nats::Error> {
    let body = serde_json::to_vec(&Invalidation {
        identifier: identifier.as_str().to_owned(),
        version: Some(version),
    })?;
    client.publish(SUBJECT, body.into()).await?;
    client.flush().await?;
    Ok(())
}

/// Subscribes (the client reconnects by itself and re-subscribes) and drops
/// named entries until `stop` fires. Returns once subscribed, serving in the
/// background.
pub async fn subscribe(
    client: async_nats::Client,
    reader: LeaseReader,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, async_nats::Error> {
    let mut sub = client.subscribe(SUBJECT).await?;
    client.flush().await?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { return };
                    match serde_json::from_slice::<Invalidation>(&msg.payload) {
                        Ok(inv) => match Identifier::parse(&inv.identifier) {
                            Ok(id) => reader.invalidate(&id.key()),
                            Err(e) => tracing::warn!(error = %e, "invalidation names a malformed identifier"),
                        },
                        Err(e) => tracing::warn!(error = %e, "malformed invalidation message"),
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }))
}
