//! Lookup over the tiers: its in-process answers, then the DynamoDB item's
//! routing fields (written by the relay's projection), then the standby and
//! the primary.

use std::time::Instant;

use numbering_shared::Identifier;
use numbering_store::Lookup;
use tracing::Instrument;

use super::{LeaseReader, Unavailable};
use crate::{latency::Tier, local::Cached};

impl LeaseReader {
    /// Routing's view of `identifier` (`None`: not in inventory).
    pub async fn lookup(&self, identifier: &Identifier) -> Result<Option<Lookup>, Unavailable> {
        let started = Instant::now();
        let (tier, found) = self.lookup_from(identifier).await;
        let outcome = match &found {
            Ok(Some(_)) => 0,
            Ok(None) => 1,
            Err(Unavailable) => 2,
        };
        self.inner.lookup_latency.record(tier, outcome, started);
        found
    }

    async fn lookup_from(
        &self,
        identifier: &Identifier,
    ) -> (Tier, Result<Option<Lookup>, Unavailable>) {
        let key = identifier.key();
        if let Some(hit) = self.inner.lookups.get(&key) {
            return (Tier::Local, Ok(hit));
        }
        if let Some(found) = self.lookup_dynamo(&key).await {
            let found = Some(found);
            self.inner.lookups.insert(key, found.clone());
            return (Tier::Dynamodb, Ok(found));
        }
        (Tier::Postgres, self.lookup_postgres(identifier, key).await)
    }

    /// Routing's answer from the lease-cache item, when the item carries it
    /// (the relay's projection writes it; a fill does not). A miss, an item
    /// without routing, an error or the deadline: `None`, Postgres answers.
    async fn lookup_dynamo(&self, key: &str) -> Option<Lookup> {
        // not counted in `numbering_validate_tier_total` (ValidateLease's
        // hit ratio); `numbering_lookup_duration_seconds` names the tier
        let i = &self.inner;
        let dynamo = i.dynamo.as_ref().filter(|_| self.dynamo_usable())?;
        let span = numbering_clients::child_span!("lookup.tier", tier = "dynamodb");
        let get = tokio::time::timeout(i.config.dynamo_deadline, dynamo.get(key));
        match get.instrument(span).await {
            Ok(Ok(Some(Cached {
                routing: Some(routing),
                ..
            }))) => return Some(routing),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "dynamodb tier failed; lookup falls back to postgres");
                self.mark_dynamo_down();
            }
            Err(_) => self.mark_dynamo_down(),
        }
        None
    }

    async fn lookup_postgres(
        &self,
        identifier: &Identifier,
        key: String,
    ) -> Result<Option<Lookup>, Unavailable> {
        if let Some(replica) = &self.inner.replica {
            let deadline = self.inner.config.postgres_deadline;
            if let Some(found) = replica.lookup(identifier, deadline).await {
                self.inner.lookups.insert(key, found.clone());
                return Ok(found);
            }
        }
        let found = tokio::time::timeout(
            self.inner.config.postgres_deadline,
            self.inner.store.lookup(identifier),
        )
        .await
        .map_err(|_| Unavailable)?
        .map_err(|e| {
            tracing::error!(error = %e, "lookup could not read postgres");
            Unavailable
        })?;
        self.inner.lookups.insert(key, found.clone());
        Ok(found)
    }
}
