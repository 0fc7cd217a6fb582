//! Generating a regulator export; [`workflow`] walks it on from there.
//!
//! A run reserves the next version of the period as a PENDING
//! `regulator_exports` row, writes the `atra-v1` files from one database
//! snapshot into a temporary directory (hashing as it writes), signs the
//! manifest, stores the files, manifest and signature once in WORM storage
//! under `<period>/v<version>/`, and then — in one transaction — marks the
//! row GENERATED, audits it and puts `numbering.regulator.export.generated.v1`
//! on the outbox. A failure marks the row FAILED with its reason. A dry run
//! does the same reading and hashing but writes nothing durable.

use std::{path::PathBuf, sync::Arc};

use chrono::{DateTime, Utc};
use numbering_store::{Ctx, lock::SessionLock, record_admin_action};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

mod workflow;

use workflow::record_columns;
pub use workflow::{ExportRecord, Step};

use crate::{
    atra::{self, FORMAT},
    manifest::{ChainHeadRef, Manifest, ManifestFile},
    period::{BadPeriod, Period},
    signer::{SignError, SignatureRecord, Signer},
    worm::{Body, WormError, WormStore, retention_years},
};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const SIGNATURE_FILE: &str = "manifest.sig.json";
pub const GENERATED_EVENT: &str = "numbering.regulator.export.generated.v1";

/// Advisory-lock key of the monthly scheduled run ("numbering-export").
const SCHEDULE_LOCK: i64 = 0x6e75_6d62_6578_706f;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    BadPeriod(#[from] BadPeriod),
    #[error("period {0} has not started yet")]
    PeriodNotStarted(String),
    #[error("regulator export {0} not found")]
    NotFound(String),
    #[error("regulator export {id} is {from}; it cannot become {to}")]
    TransitionRefused { id: Uuid, from: String, to: String },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Worm(#[from] WormError),
    #[error(transparent)]
    Write(#[from] atra::WriteError),
    #[error("temporary files: {0}")]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a run produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Stored and recorded (status GENERATED).
    Generated(Box<ExportRecord>, Manifest),
    /// A dry run: the manifest as it would be (unsigned, no version).
    DryRun(Manifest),
}

/// The signer and WORM store an export needs besides the database — what
/// the host configures once and hands to the admin API and the scheduler.
#[derive(Clone)]
pub struct ExportTools {
    pub signer: Arc<dyn Signer>,
    pub store: Arc<dyn WormStore>,
}

impl ExportTools {
    pub fn exporter(&self, pool: PgPool) -> Exporter {
        Exporter::new(pool, self.signer.clone(), self.store.clone())
    }
}

/// The export machinery: database, signer and WORM store.
#[derive(Clone)]
pub struct Exporter {
    pool: PgPool,
    signer: Arc<dyn Signer>,
    store: Arc<dyn WormStore>,
    retention_years: u32,
    work_dir: PathBuf,
}

impl Exporter {
    /// Seven years' retention; temporary files under the system temp dir.
    pub fn new(pool: PgPool, signer: Arc<dyn Signer>, store: Arc<dyn WormStore>) -> Self {
        Self {
            pool,
            signer,
            store,
            retention_years: 7,
            work_dir: std::env::temp_dir(),
        }
    }

    /// Where the temporary CSV files are written before they are stored.
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = dir.into();
        self
    }

    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    pub fn store(&self) -> &Arc<dyn WormStore> {
        &self.store
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Generates the export of `period` (or, with `dry_run`, only its
    /// manifest).
    pub async fn generate(
        &self,
        period: Period,
        ctx: &Ctx,
        dry_run: bool,
    ) -> Result<Outcome, ExportError> {
        let generated_at = Utc::now();
        if period.start() > generated_at {
            return Err(ExportError::PeriodNotStarted(period.to_string()));
        }
        if dry_run {
            let work = WorkDir::create(&self.work_dir)?;
            let manifest = self.build(period, None, generated_at, &work).await?;
            return Ok(Outcome::DryRun(manifest));
        }
        // Every entry committed so far gets its link, so the head covers the period.
        numbering_store::audit::seal_pending(&self.pool, std::time::Duration::from_secs(30))
            .await?;
        let (id, version) = self.reserve_version(period, ctx).await?;
        match self.produce(id, period, version, generated_at, ctx).await {
            Ok(done) => Ok(done),
            Err(error) => {
                self.fail(id, ctx, &error).await;
                Err(error)
            }
        }
    }

    /// The monthly run missed while no instance was up, made on start: the
    /// previous month, once it is due (01:00 UTC on the 1st), if it has no
    /// export yet and the service was live during it (the audit trail has
    /// an entry from before its end: a fresh installation does not export
    /// months it never saw). Otherwise as [`Self::scheduled`].
    pub async fn catch_up(&self, now: DateTime<Utc>) -> Result<Option<ExportRecord>, ExportError> {
        let period = Period::previous(now);
        if now < period.end() + chrono::Duration::hours(1) {
            return Ok(None); // not due yet: the schedule makes it on time
        }
        let mut tx =
            numbering_store::begin_snapshot(&self.pool, numbering_store::Scope::Platform).await?;
        let live: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM numbering.audit_log WHERE occurred_at < $1)",
        )
        .bind(period.end())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if !live {
            return Ok(None);
        }
        self.scheduled(now).await
    }

    /// The monthly run: exports the previous month unless it already has
    /// an export (one not FAILED). Replicas serialise on an advisory lock;
    /// the loser skips. Returns the new export, if one was made.
    pub async fn scheduled(&self, now: DateTime<Utc>) -> Result<Option<ExportRecord>, ExportError> {
        let period = Period::previous(now);
        let Some(lock) = SessionLock::try_acquire(&self.pool, SCHEDULE_LOCK).await? else {
            return Ok(None);
        };
        let result = async {
            // A run that died without a result (its process crashed) would
            // otherwise look like an export of the period forever.
            let abandoned = sqlx::query(
                "UPDATE numbering.regulator_exports SET status = 'FAILED', \
                     failure_reason = 'abandoned: no result within an hour' \
                 WHERE period = $1 AND status = 'PENDING' AND created_at < now() - interval '1 hour'",
            )
            .bind(period.to_string())
            .execute(&self.pool)
            .await?;
            if abandoned.rows_affected() > 0 {
                tracing::warn!(%period, "marked an abandoned regulator export run FAILED");
            }
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM numbering.regulator_exports WHERE period = $1 AND status <> 'FAILED')",
            )
            .bind(period.to_string())
            .fetch_one(&self.pool)
            .await?;
            if exists {
                return Ok(None);
            }
            let ctx = Ctx::new(numbering_store::Actor::system("export-scheduler"));
            match self.generate(period, &ctx, false).await? {
                Outcome::Generated(record, _) => Ok(Some(*record)),
                Outcome::DryRun(_) => Ok(None),
            }
        }
        .await;
        lock.release().await;
        result
    }

    async fn reserve_version(&self, period: Period, ctx: &Ctx) -> Result<(Uuid, i32), ExportError> {
        let id = Uuid::now_v7();
        let mut attempt = 0;
        loop {
            let inserted = sqlx::query_scalar::<_, i32>(
                "INSERT INTO numbering.regulator_exports (id, period, version, format, created_by) \
                 SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4 \
                 FROM numbering.regulator_exports WHERE period = $2 RETURNING version",
            )
            .bind(id)
            .bind(period.to_string())
            .bind(FORMAT)
            .bind(ctx.actor.label())
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(version) => return Ok((id, version)),
                // Two runs of one period raced for the same version: take the next.
                Err(e)
                    if attempt < 5
                        && numbering_store::is_constraint_violation(
                            &e,
                            "regulator_exports_period_version_unique",
                        ) =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn produce(
        &self,
        id: Uuid,
        period: Period,
        version: i32,
        generated_at: DateTime<Utc>,
        ctx: &Ctx,
    ) -> Result<Outcome, ExportError> {
        let work = WorkDir::create(&self.work_dir)?;
        let manifest = self
            .build(period, Some(version), generated_at, &work)
            .await?;
        let manifest_bytes = manifest.to_bytes();
        let signature = self.signer.sign(&manifest_bytes).await?;
        let run = Run {
            id,
            period,
            version,
            generated_at,
        };
        let storage_uri = self
            .store_objects(&run, &work, &manifest, &manifest_bytes, &signature)
            .await?;
        let record = self
            .record_generated(
                &run,
                ctx,
                &manifest,
                &manifest_bytes,
                &signature,
                &storage_uri,
            )
            .await?;
        numbering_store::wake_relays_now(&self.pool).await;
        tracing::info!(%period, version, %storage_uri, "regulator export generated");
        Ok(Outcome::Generated(Box::new(record), manifest))
    }

    /// Stores the files, the manifest and its signature once under
    /// `<period>/v<version>/`; returns where.
    async fn store_objects(
        &self,
        run: &Run,
        work: &WorkDir,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        signature: &SignatureRecord,
    ) -> Result<String, ExportError> {
        let signature_bytes = serde_json::to_vec_pretty(signature).unwrap_or_default();
        let prefix = format!("{}/v{}", run.period, run.version);
        let until = retention_years(self.retention_years);
        for file in &manifest.files {
            self.store
                .put(
                    &format!("{prefix}/{}", file.name),
                    Body::File(work.path.join(&file.name)),
                    until,
                )
                .await?;
        }
        self.store
            .put(
                &format!("{prefix}/{MANIFEST_FILE}"),
                manifest_bytes.to_vec().into(),
                until,
            )
            .await?;
        self.store
            .put(
                &format!("{prefix}/{SIGNATURE_FILE}"),
                signature_bytes.into(),
                until,
            )
            .await?;
        Ok(format!("{}/{prefix}", self.store.describe()))
    }

    /// Marks the run GENERATED, audits it and puts
    /// `numbering.regulator.export.generated.v1` on the outbox, in one
    /// transaction.
    async fn record_generated(
        &self,
        run: &Run,
        ctx: &Ctx,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        signature: &SignatureRecord,
        storage_uri: &str,
    ) -> Result<ExportRecord, ExportError> {
        let Run {
            id,
            period,
            version,
            generated_at,
        } = *run;
        let manifest_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(manifest_bytes));
        let manifest_text = String::from_utf8_lossy(manifest_bytes).into_owned();
        let row_counts: Value = manifest
            .files
            .iter()
            .map(|f| (f.name.clone(), json!(f.rows)))
            .collect::<serde_json::Map<_, _>>()
            .into();

        let mut tx = numbering_store::begin_unscoped(&self.pool).await?;
        let record: ExportRecord = sqlx::query_as(concat!(
            "UPDATE numbering.regulator_exports SET status = 'GENERATED', manifest = $2::json, \
                 manifest_sha256 = $3, signature = $4, signer_key_id = $5, storage_uri = $6, \
                 audit_chain_head = $7, generated_at = $8, row_counts = $9::json \
             WHERE id = $1 RETURNING ",
            record_columns!()
        ))
        .bind(id)
        .bind(&manifest_text)
        .bind(&manifest_sha256)
        .bind(&signature.signature)
        .bind(&signature.key_id)
        .bind(storage_uri)
        .bind(manifest.audit_chain_head.as_ref().map(|h| h.hash.clone()))
        .bind(generated_at)
        .bind(row_counts.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let facts = json!({
            "export_id": id,
            "period": period.to_string(),
            "version": version,
            "format": FORMAT,
            "status": "GENERATED",
            "manifest_sha256": manifest_sha256,
            "signer_key_id": signature.key_id,
            "storage_uri": storage_uri,
            "row_counts": row_counts,
            "audit_chain_head": manifest.audit_chain_head,
            "actor": ctx.actor.label(),
            "request_id": ctx.request_id,
        });
        record_admin_action(
            &mut tx,
            ctx,
            "regulator_export.generated",
            &subject(period, version),
            None,
            None,
            Some(&facts),
        )
        .await?;
        sqlx::query(
            "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
             VALUES ($1, 'NUMBERING_REGULATOR', $2, 'regulator_export', $3, $4::json)",
        )
        .bind(Uuid::now_v7())
        .bind(GENERATED_EVENT)
        .bind(id.to_string())
        .bind(facts.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Reads one snapshot into `work` and describes it.
    async fn build(
        &self,
        period: Period,
        version: Option<i32>,
        generated_at: DateTime<Utc>,
        work: &WorkDir,
    ) -> Result<Manifest, ExportError> {
        let as_of = period.end().min(generated_at);
        let signer = self.signer.identity().await?;
        let mut tx =
            numbering_store::begin_snapshot(&self.pool, numbering_store::Scope::Platform).await?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM numbering.audit_chain ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        // links are appended in seq order, so the last one sealed before the
        // period's end is the head the chain had then
        let head_at_end: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, hash FROM numbering.audit_chain WHERE sealed_at < $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(as_of)
        .fetch_optional(&mut *tx)
        .await?;
        let files = atra::write_files(&mut tx, &work.path, period.start(), as_of).await?;
        tx.commit().await?;
        Ok(Manifest {
            format: FORMAT.into(),
            period: period.to_string(),
            period_start: period.start(),
            period_end: period.end(),
            as_of,
            version,
            generated_at,
            files: files
                .iter()
                .map(|f| ManifestFile {
                    name: f.name.into(),
                    rows: f.rows,
                    bytes: f.bytes,
                    sha256: f.sha256.clone(),
                })
                .collect(),
            audit_chain_head: head.map(|(seq, hash)| ChainHeadRef {
                seq,
                hash: hex::encode(hash),
            }),
            audit_chain_head_at_period_end: head_at_end.map(|(seq, hash)| ChainHeadRef {
                seq,
                hash: hex::encode(hash),
            }),
            signer,
        })
    }

    /// Marks a run FAILED with its reason (best effort: the error that got
    /// us here is what the caller sees).
    async fn fail(&self, id: Uuid, ctx: &Ctx, error: &ExportError) {
        let reason = error.to_string();
        tracing::error!(export_id = %id, error = %reason, "regulator export failed");
        let result = async {
            let mut tx = numbering_store::begin_unscoped(&self.pool).await?;
            let row: Option<(String, i32)> = sqlx::query_as(
                "UPDATE numbering.regulator_exports SET status = 'FAILED', failure_reason = $2 \
                 WHERE id = $1 AND status = 'PENDING' RETURNING period, version",
            )
            .bind(id)
            .bind(&reason)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((period, version)) = row {
                record_admin_action(
                    &mut tx,
                    ctx,
                    "regulator_export.failed",
                    &subject(&period, version),
                    None,
                    None,
                    Some(&json!({ "export_id": id, "reason": reason })),
                )
                .await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::error!(export_id = %id, error = %e, "could not mark the regulator export FAILED");
        }
    }
}

/// One run's identity: its row, period, version and time.
#[derive(Clone, Copy)]
struct Run {
    id: Uuid,
    period: Period,
    version: i32,
    generated_at: DateTime<Utc>,
}

/// The audit subject of an export version.
pub(crate) fn subject(period: impl std::fmt::Display, version: i32) -> String {
    format!("regulator_export:{period}:v{version}")
}

/// A private temporary directory, removed when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(parent: &std::path::Path) -> std::io::Result<Self> {
        let path = parent.join(format!("numbering-export-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
