//! Housekeeping: rows that matter only for a while are deleted once they no
//! longer do, in bounded batches, so that the tables they live in stay the
//! size of their window instead of growing with all traffic ever served.

use crate::{
    LifecycleError, Store,
    scope::{self, Scope},
};

impl Store {
    /// Deletes up to `limit` Idempotency-Key records past their expiry
    /// (they are kept at least 24 h; once expired, the key is free again
    /// anyway). Returns how many it deleted.
    pub async fn prune_idempotency_keys(&self, limit: i64) -> Result<u64, LifecycleError> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let deleted = sqlx::query(
            "DELETE FROM numbering.idempotency_keys k USING ( \
                 SELECT scope, key FROM numbering.idempotency_keys \
                 WHERE expires_at <= now() ORDER BY expires_at LIMIT $1) old \
             WHERE k.scope = old.scope AND k.key = old.key",
        )
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes up to `limit` records of inbound events processed more than
    /// `keep` ago: long past any redelivery, so a duplicate that old is no
    /// longer expected. Returns how many it deleted.
    pub async fn prune_processed_events(
        &self,
        keep: chrono::Duration,
        limit: i64,
    ) -> Result<u64, LifecycleError> {
        let deleted = sqlx::query(
            "DELETE FROM numbering.processed_events e USING ( \
                 SELECT event_id FROM numbering.processed_events \
                 WHERE processed_at < now() - make_interval(secs => $1) \
                 ORDER BY processed_at LIMIT $2) old \
             WHERE e.event_id = old.event_id",
        )
        .bind(keep.num_seconds() as f64)
        .bind(limit)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(deleted)
    }
}
