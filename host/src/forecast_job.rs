//! The scarcity forecast's periodic pass (seed Phase 4.3): forecasts every
//! block and writes `numbering.ops.scarcity_forecast.v1` for each block
//! that entered the 60-day window since the last pass (see
//! `numbering_store::forecast`), now and every `NUMBERING_FORECAST_INTERVAL`
//! (default a day). One host runs a pass at a time (an advisory lock; the
//! others skip theirs), and only on the read-write primary (the gate).

use std::time::Duration;

use numbering_store::{Store, lock::SessionLock};
use tokio::sync::watch;

/// The default period.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Session advisory lock of the pass ("numfcjob").
pub const JOB_LOCK: i64 = 0x6e75_6d66_636a_6f62;

/// Runs a pass now and every `every` (default [`DEFAULT_EVERY`]) until
/// `stop` turns true.
pub async fn run(store: Store, every: Option<Duration>, mut stop: watch::Receiver<bool>) {
    let every = every.unwrap_or(DEFAULT_EVERY);
    loop {
        match once(&store).await {
            Ok(Some(entered)) if !entered.is_empty() => {
                tracing::info!(blocks = entered.len(), "blocks entered the scarcity window");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scarcity forecast failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One pass, unless another host is running one (`None`): the contract
/// ids of the blocks that entered the window.
pub async fn once(store: &Store) -> anyhow::Result<Option<Vec<uuid::Uuid>>> {
    let Some(lock) = SessionLock::try_acquire(store.pool(), JOB_LOCK).await? else {
        return Ok(None);
    };
    let result = store.scarcity_flag_pass().await;
    lock.release().await;
    Ok(Some(result?))
}
