//! The lease-cache projection: keeps the DynamoDB lease cache in step with
//! the outbox, for the host's relay and for this crate's standalone one.

use std::sync::Arc;

use numbering_clients::lease_cache::{Cached, LeaseCacheTable, ProjectForward};
use numbering_shared::Identifier;
use numbering_store::Store;

use crate::{BoxFuture, OutboxEvent, Projection};

/// The relay's read of unpublished outbox rows, oldest first, each with
/// the old identifiers a renumbering links to its identifier (see
/// [`OutboxEvent::linked`]).
pub(crate) const PENDING: &str = "\
    SELECT o.id, o.event_id, o.stream, o.event_type, o.aggregate_type, o.aggregate_id, o.tenant_id, \
           o.payload, o.occurred_at, \
           ARRAY(SELECT k.old_identifier FROM numbering.identifier_links k \
                 WHERE o.aggregate_type = 'number' AND k.new_identifier = o.aggregate_id \
                   AND coalesce(k.parallel_until, k.linked_at) >= o.occurred_at \
                 ORDER BY k.old_identifier) AS linked \
    FROM numbering.outbox o WHERE o.published_at IS NULL ORDER BY o.id LIMIT $1";

impl OutboxEvent {
    /// [`Self::lease_state_change`], and the same for each identifier
    /// [`linked`](Self::linked) to it: every identifier whose ValidateLease
    /// answer this event changes.
    pub fn lease_state_changes(&self) -> Vec<(&str, i64)> {
        let Some((identifier, version)) = self.lease_state_change() else {
            return Vec::new();
        };
        std::iter::once(identifier)
            .chain(self.linked.iter().map(String::as_str))
            .map(|i| (i, version))
            .collect()
    }
}

/// Keeps the DynamoDB lease cache in step with the outbox: for each
/// lease-state change (`number.ported.v1` included), the identifier's
/// current snapshot (and that of each old identifier a renumbering links to
/// it, see [`OutboxEvent::lease_state_changes`]) and then routing's view of
/// it (`Lookup`: serving operator, portability fields) are read from
/// Postgres and written forward as one item (conditional on the snapshot's
/// version), before the
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
                // snapshot first: the routing read after it is at least as
                // new as the version the item is written under
                let snapshot = self.store.snapshot(&identifier).await?;
                let routing = match snapshot {
                    Some(_) => self.store.lookup(&identifier).await?,
                    None => None,
                };
                let value = Cached::from_snapshot(snapshot).with_routing(routing);
                self.target.project_forward(&identifier, value).await?;
            }
            Ok(())
        })
    }
}
