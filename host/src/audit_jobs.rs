//! The audit trail's scheduled jobs in the host (on-prem; SPEC §8 "Audit"):
//! verification of the whole hash chain, and maintenance — partitions kept
//! three months ahead, then archive-and-detach of partitions past 13 months.
//! Each also runs on demand (`numbering audit verify`, `numbering audit archive`).

use std::time::Duration;

use anyhow::{Context, Result};
use numbering_shared::policy::parse_duration;
use numbering_store::{Store, audit_jobs};
use tokio::{sync::watch, task::JoinSet};

/// `NUMBERING_AUDIT_VERIFY_INTERVAL` (default 1h) and
/// `NUMBERING_AUDIT_MAINTENANCE_INTERVAL` (default 6h), e.g. `30m`, `1d`.
#[derive(Debug, Clone)]
pub struct AuditJobsConfig {
    pub verify_every: Duration,
    pub maintain_every: Duration,
}

impl Default for AuditJobsConfig {
    fn default() -> Self {
        Self {
            verify_every: Duration::from_secs(3600),
            maintain_every: Duration::from_secs(6 * 3600),
        }
    }
}

impl AuditJobsConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        let every = |key: &str, default: Duration| -> Result<Duration> {
            match get(key) {
                None => Ok(default),
                Some(v) => parse_duration(&v)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .filter(|d| !d.is_zero())
                    .with_context(|| format!("{key}={v:?} is not a positive duration like 30m")),
            }
        };
        let d = Self::default();
        Ok(Self {
            verify_every: every("NUMBERING_AUDIT_VERIFY_INTERVAL", d.verify_every)?,
            maintain_every: every("NUMBERING_AUDIT_MAINTENANCE_INTERVAL", d.maintain_every)?,
        })
    }
}

/// Spawns the verify and maintenance jobs; they stop when `stop` turns true.
pub fn spawn(
    store: &Store,
    jobs: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
    config: AuditJobsConfig,
) {
    jobs.spawn(verify_loop(
        store.clone(),
        config.verify_every,
        stop.clone(),
    ));
    jobs.spawn(maintain_loop(store.clone(), config.maintain_every, stop));
}

/// Verifies the chain every `every` (first run after one interval: the
/// sealer needs a moment after start-up), publishing each result.
async fn verify_loop(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match audit_jobs::verify_and_publish(store.pool()).await {
            Ok(r) => tracing::info!(
                intact = r.is_intact(),
                verified = r.checked,
                archived = r.archived,
                "audit chain verified"
            ),
            Err(e) => tracing::warn!(error = %e, "audit verification failed to run; will retry"),
        }
    }
}

/// Keeps partitions three months ahead, now and every `every`.
async fn maintain_loop(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = audit_jobs::maintain_partitions(store.pool()).await {
            tracing::warn!(error = %e, "audit partition maintenance failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
