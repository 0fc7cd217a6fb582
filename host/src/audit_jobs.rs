//! The audit trail's scheduled jobs in the host (on-prem; SPEC §8 "Audit"):
//! verification of the whole hash chain, and maintenance — partitions kept
//! three months ahead, then archive-and-detach of partitions past 13 months.
//! Each also runs on demand (`numbering audit verify`, `numbering audit archive`).

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use numbering_export::{
    archive,
    worm::{LocalDirWorm, S3Worm, WormStore},
};
use numbering_shared::policy::parse_duration;
use numbering_store::{Store, audit_jobs};
use tokio::{sync::watch, task::JoinSet};

/// `NUMBERING_AUDIT_VERIFY_INTERVAL` (default 1h) and
/// `NUMBERING_AUDIT_MAINTENANCE_INTERVAL` (default 6h), e.g. `30m`, `1d`;
/// `NUMBERING_AUDIT_ARCHIVE_URI`: the WORM store archived partitions go to,
/// `s3://bucket[/prefix]` (Object Lock, the AWS SDK's environment) or a
/// local directory (`file:///dir` or a path). Unset: nothing is archived.
#[derive(Debug, Clone)]
pub struct AuditJobsConfig {
    pub verify_every: Duration,
    pub maintain_every: Duration,
    pub archive_uri: Option<String>,
}

impl Default for AuditJobsConfig {
    fn default() -> Self {
        Self {
            verify_every: Duration::from_secs(3600),
            maintain_every: Duration::from_secs(6 * 3600),
            archive_uri: None,
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
            archive_uri: get("NUMBERING_AUDIT_ARCHIVE_URI").filter(|u| !u.is_empty()),
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
    jobs.spawn(maintain_loop(
        store.clone(),
        config.maintain_every,
        config.archive_uri,
        stop,
    ));
}

/// The WORM store named by `uri`: `s3://bucket[/prefix]`, `file:///dir` or a path.
pub async fn worm_store(uri: &str) -> Arc<dyn WormStore> {
    if uri.starts_with("s3://") {
        let config = numbering_clients::aws::sdk_config_from_env().await;
        if let Some(s3) = S3Worm::from_uri(S3Worm::client_for(&config), uri) {
            return Arc::new(s3);
        }
    }
    Arc::new(LocalDirWorm::new(
        uri.strip_prefix("file://").unwrap_or(uri),
    ))
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

/// Keeps partitions three months ahead and archives (then detaches) those
/// past 13 months, now and every `every`.
async fn maintain_loop(
    store: Store,
    every: Duration,
    archive_uri: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let worm = match &archive_uri {
        Some(uri) => Some(worm_store(uri).await),
        None => {
            tracing::info!(
                "NUMBERING_AUDIT_ARCHIVE_URI is not set: audit partitions are not archived"
            );
            None
        }
    };
    loop {
        if let Err(e) = audit_jobs::maintain_partitions(store.pool()).await {
            tracing::warn!(error = %e, "audit partition maintenance failed; will retry");
        }
        if let Some(worm) = &worm {
            if let Err(e) = archive::archive_due(store.pool(), worm.as_ref(), false).await {
                tracing::error!(error = %e, "audit archiving failed; will retry");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
