//! The audit trail's scheduled jobs in the host (on-prem; SPEC §8 "Audit"):
//! verification of the whole hash chain, signed checkpoints of its head
//! (write-once store and the `NUMBERING_AUDIT` stream), and maintenance —
//! partitions kept three months ahead, then archive-and-detach of
//! partitions past 13 months. Each also runs on demand (`numbering audit
//! verify`, `numbering audit archive`).

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, message::PublishMessage};
use numbering_export::{
    ExportTools, archive,
    checkpoint::{
        self, AnchoredReport, Checkpoint, CheckpointError, CheckpointLog, Checkpointer, Found,
        Refused, SignedCheckpoint,
    },
    worm::{BoxFuture, LocalDirWorm, S3Worm, WormStore},
};
use numbering_shared::policy::parse_duration;
use numbering_store::{Store, audit_jobs};
use tokio::{sync::watch, task::JoinSet};

/// `NUMBERING_AUDIT_VERIFY_INTERVAL` (default 1h),
/// `NUMBERING_AUDIT_CHECKPOINT_INTERVAL` (default 60s: the longest stretch
/// of newest entries whose deletion could go unnoticed) and
/// `NUMBERING_AUDIT_MAINTENANCE_INTERVAL` (default 6h), e.g. `30m`, `1d`;
/// `NUMBERING_AUDIT_ARCHIVE_URI`: the WORM store archived partitions go to,
/// `s3://bucket[/prefix]` (Object Lock, the AWS SDK's environment) or a
/// local directory (`file:///dir` or a path). Unset: nothing is archived.
#[derive(Debug, Clone)]
pub struct AuditJobsConfig {
    pub verify_every: Duration,
    pub checkpoint_every: Duration,
    pub maintain_every: Duration,
    pub archive_uri: Option<String>,
}

impl Default for AuditJobsConfig {
    fn default() -> Self {
        Self {
            verify_every: Duration::from_secs(3600),
            checkpoint_every: Duration::from_secs(60),
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
            checkpoint_every: every("NUMBERING_AUDIT_CHECKPOINT_INTERVAL", d.checkpoint_every)?,
            maintain_every: every("NUMBERING_AUDIT_MAINTENANCE_INTERVAL", d.maintain_every)?,
            archive_uri: get("NUMBERING_AUDIT_ARCHIVE_URI").filter(|u| !u.is_empty()),
        })
    }
}

/// Spawns the verify, checkpoint and maintenance jobs; they stop when
/// `stop` turns true. Without a checkpointer (no export signer and store)
/// the chain is verified in itself only.
pub fn spawn(
    store: &Store,
    jobs: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
    config: AuditJobsConfig,
    checkpointer: Option<Checkpointer>,
) {
    jobs.spawn(verify_loop(
        store.clone(),
        config.verify_every,
        checkpointer.clone(),
        stop.clone(),
    ));
    if let Some(checkpointer) = checkpointer {
        jobs.spawn(checkpoint_loop(
            store.clone(),
            config.checkpoint_every,
            checkpointer,
            stop.clone(),
        ));
    } else {
        tracing::warn!("no export signer and store: the audit chain's head is not checkpointed");
    }
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

/// The checkpointer of the host: the export signer, writing to the export's
/// write-once store and, with NATS, to the `NUMBERING_AUDIT` stream.
pub fn checkpointer(
    exports: Option<&ExportTools>,
    nats: Option<async_nats::Client>,
) -> Option<Checkpointer> {
    let mut checkpointer = Checkpointer::for_exports(exports?);
    if let Some(client) = nats {
        checkpointer = checkpointer.with_log(Arc::new(JetStreamCheckpoints::new(client)));
    }
    Some(checkpointer)
}

/// Verifies the chain against the newest checkpoint and checkpoints an
/// intact head (see [`checkpoint::verify_and_checkpoint`]); logs the result.
pub async fn verify_once(
    store: &Store,
    checkpointer: Option<&Checkpointer>,
) -> Result<AnchoredReport, CheckpointError> {
    let done = checkpoint::verify_and_checkpoint(store.pool(), checkpointer).await?;
    let r = &done.report;
    match &r.first_break {
        None => tracing::info!(
            verified = r.checked,
            archived = r.archived,
            checkpoint = done.checkpoint.as_ref().map(|c| c.seq),
            "audit chain verified intact"
        ),
        Some(b) => {
            tracing::error!(position = b.position, kind = %b.kind, "audit chain verified broken")
        }
    }
    if let Ok(Some(c)) = &done.written {
        record_checkpoint(c);
    }
    if let Err(e) = &done.written {
        tracing::error!(error = %e, "the audit chain's head was not checkpointed");
    }
    Ok(done)
}

fn record_checkpoint(c: &Checkpoint) {
    metrics::gauge!("numbering_audit_checkpoint_seq").set(c.seq as f64);
    metrics::gauge!("numbering_audit_checkpoint_timestamp_seconds").set(c.time.timestamp() as f64);
}

/// Verifies the chain every `every` (first run after one interval: the
/// sealer needs a moment after start-up), publishing each result.
async fn verify_loop(
    store: Store,
    every: Duration,
    checkpointer: Option<Checkpointer>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = verify_once(&store, checkpointer.as_ref()).await {
            tracing::warn!(error = %e, "audit verification failed to run; will retry");
        }
    }
}

/// Checkpoints the chain's head now and every `every`, unless the newest
/// checkpoint already names it; refuses (and says so, loudly) when the
/// chain no longer reaches the newest checkpoint.
async fn checkpoint_loop(
    store: Store,
    every: Duration,
    checkpointer: Checkpointer,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match checkpointer.checkpoint_head(store.pool()).await {
            Ok(Some(c)) => {
                tracing::debug!(seq = c.seq, "audit chain head checkpointed");
                record_checkpoint(&c);
            }
            Ok(None) => {}
            Err(e @ CheckpointError::Inconsistent(_)) => {
                tracing::error!(error = %e, "the audit chain does not reach its newest checkpoint")
            }
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Checkpoints on the `NUMBERING_AUDIT` JetStream stream (subject
/// [`checkpoint::SUBJECT`]); the newest is the stream's last message on it.
pub struct JetStreamCheckpoints {
    js: jetstream::Context,
}

impl JetStreamCheckpoints {
    pub fn new(client: async_nats::Client) -> Self {
        Self {
            js: jetstream::new(client),
        }
    }

    async fn stream(&self) -> Result<jetstream::stream::Stream, CheckpointError> {
        let spec = numbering_outbox_relay::STREAMS
            .iter()
            .find(|s| s.name == "NUMBERING_AUDIT")
            .ok_or_else(|| CheckpointError::Log("no NUMBERING_AUDIT stream spec".into()))?;
        self.js
            .get_or_create_stream(spec.config())
            .await
            .map_err(|e| CheckpointError::Log(format!("stream NUMBERING_AUDIT: {e}")))
    }
}

impl CheckpointLog for JetStreamCheckpoints {
    fn describe(&self) -> String {
        format!(
            "nats: stream NUMBERING_AUDIT, subject {}",
            checkpoint::SUBJECT
        )
    }

    fn append<'a>(
        &'a self,
        c: &'a Checkpoint,
        signed: &'a SignedCheckpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            self.stream().await?;
            let message = PublishMessage::build()
                .message_id(format!(
                    "{}:{}:{}",
                    c.origin,
                    c.seq,
                    c.time.timestamp_micros()
                ))
                .payload(signed.to_bytes().into());
            self.js
                .send_publish(checkpoint::SUBJECT, message)
                .await
                .map_err(|e| CheckpointError::Log(format!("publishing the checkpoint: {e}")))?
                .await
                .map_err(|e| CheckpointError::Log(format!("the checkpoint's ack: {e}")))?;
            Ok(())
        })
    }

    /// Only the last message is read: when it does not open it is refused,
    /// and the write-once store still answers.
    fn newest<'a>(
        &'a self,
        public_key_pem: &'a str,
        origin: &'a str,
        _head_hint: i64,
    ) -> BoxFuture<'a, Result<Found, CheckpointError>> {
        Box::pin(async move {
            use async_nats::jetstream::stream::LastRawMessageErrorKind;
            let stream = self.stream().await?;
            let message = match stream
                .get_last_raw_message_by_subject(checkpoint::SUBJECT)
                .await
            {
                Ok(m) => m,
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(Found::default());
                }
                Err(e) => return Err(CheckpointError::Log(format!("reading the checkpoint: {e}"))),
            };
            let mut found = Found::default();
            match SignedCheckpoint::from_bytes(&message.payload)
                .and_then(|s| s.open(public_key_pem))
            {
                Ok(c) if c.origin == origin => found.checkpoint = Some(c),
                Ok(_) => {}
                Err(e) => found.refused.push(Refused {
                    location: format!("{} #{}", self.describe(), message.sequence),
                    reason: e.to_string(),
                }),
            }
            Ok(found)
        })
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
