//! The lease-cache projection: keeps the DynamoDB lease cache in step with
//! the outbox, for the host's relay and for this crate's standalone one.

use std::time::Duration;

use numbering_shared::Identifier;
use numbering_store::{SnapshotReader, Store};
use numbering_validate_lease::{DynamoTier, LeaseReader, TierConfig};

use crate::{BoxFuture, OutboxEvent, Projection};

/// Keeps the DynamoDB lease cache in step with the outbox: for each
/// lease-state change, the identifier's current snapshot is read from
/// Postgres and written forward (conditional on its version), before the
/// relay publishes `num.cache.invalidate.v1`. Idempotent: a replayed event
/// writes the same or a newer version, never an older one. In the host the
/// reader's in-process tier moves forward too.
pub struct LeaseCacheProjection {
    reader: LeaseReader,
}

impl LeaseCacheProjection {
    pub fn new(reader: LeaseReader) -> Self {
        Self { reader }
    }

    /// For a relay without a hot path of its own: writes `table` through
    /// `client`, items valid for `item_validity` — the readers' setting
    /// (`NUMBERING_DYNAMODB_ITEM_VALIDITY`), since each item carries its
    /// expiry. One read-only connection as the hot path's role, which the
    /// login must be allowed to switch to (checked here, at start-up).
    pub async fn connect(
        store: Store,
        client: aws_sdk_dynamodb::Client,
        table: &str,
        item_validity: Duration,
    ) -> Result<Self, sqlx::Error> {
        let snapshots = SnapshotReader::connect_like(store.pool(), 1).await?;
        let tier = DynamoTier::new(client, table, item_validity);
        let no_local = TierConfig {
            local_capacity: 0,
            ..Default::default()
        };
        Ok(Self::new(LeaseReader::new(
            store,
            snapshots,
            Some(tier),
            no_local,
        )))
    }
}

impl Projection for LeaseCacheProjection {
    fn project<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let Some((identifier, _version)) = event.lease_state_change() else {
                return Ok(());
            };
            let Ok(identifier) = Identifier::parse(identifier) else {
                tracing::warn!(
                    identifier,
                    "outbox event names a malformed identifier; not projected"
                );
                return Ok(());
            };
            let snapshot = self.reader.store().snapshot(&identifier).await?;
            self.reader.project(&identifier, snapshot).await?;
            Ok(())
        })
    }
}
