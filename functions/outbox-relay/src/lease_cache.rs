//! The lease-cache projection: keeps the DynamoDB lease cache in step with
//! the outbox, for the host's relay and for this crate's standalone one.

use std::sync::Arc;

use numbering_clients::lease_cache::{LeaseCacheTable, ProjectForward};
use numbering_shared::Identifier;
use numbering_store::Store;

use crate::{BoxFuture, OutboxEvent, Projection};

/// Keeps the DynamoDB lease cache in step with the outbox: for each
/// lease-state change, the snapshot of the identifier (and of each old
/// identifier a renumbering links to it, see
/// [`OutboxEvent::lease_state_changes`]) is read from
/// Postgres and written forward (conditional on its version), before the
/// relay publishes `num.cache.invalidate.v1`. Idempotent: a replayed event
/// writes the same or a newer version, never an older one. In the host the
/// target is the hot path's reader, so its in-process tier moves forward
/// too.
pub struct LeaseCacheProjection {
    store: Store,
    target: Arc<dyn ProjectForward>,
}

impl LeaseCacheProjection {
    /// Projects snapshots read through `store` into `target`.
    pub fn new(store: Store, target: Arc<dyn ProjectForward>) -> Self {
        Self { store, target }
    }

    /// For a relay without a hot path of its own: writes `table` directly,
    /// whose items must be valid for the readers' setting
    /// (`NUMBERING_DYNAMODB_ITEM_VALIDITY`), since each item carries its
    /// expiry.
    pub fn standalone(store: Store, table: LeaseCacheTable) -> Self {
        Self::new(store, Arc::new(table))
    }
}

impl Projection for LeaseCacheProjection {
    fn project<'a>(&'a self, event: &'a OutboxEvent) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            for (identifier, _version) in event.lease_state_changes() {
                let Ok(identifier) = Identifier::parse(identifier) else {
                    tracing::warn!(
                        identifier,
                        "outbox event names a malformed identifier; not projected"
                    );
                    continue;
                };
                let snapshot = self.store.snapshot(&identifier).await?;
                self.target.project_forward(&identifier, snapshot).await?;
            }
            Ok(())
        })
    }
}
