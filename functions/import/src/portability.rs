//! Number portability (issue 20): ATRA's registry of ported MSISDNs, as
//! signed `atra-port-v1` files today and as events later, both through one
//! port, [`PortingSink`].
//!
//! [`PortImporter::import`] takes the exact file bytes and its detached
//! `.sig` and, like a lease import,
//!
//! 1. refuses a file over the size limit;
//! 2. returns the earlier batch if this file (by SHA-256) was applied;
//! 3. checks the `.sig` against an installed, current ATRA key (an
//!    operator's key does not sign portability files) and verifies it over
//!    the exact bytes;
//! 4. parses the CSV ([`crate::port_file`]);
//! 5. hands the rows to the sink, which applies them all in one transaction
//!    or, when any row is refused (by the file or by the database: not in
//!    inventory, unknown operator, a port older than the current one),
//!    none.
//!
//! A refused file or batch applies nothing; it leaves one audit entry
//! `porting_import.refused` with the code and every refused line.

use std::{future::Future, pin::Pin, sync::Arc};

use numbering_store::{
    Ctx, Store,
    imports::{ImportKey, RowRejection},
    portings::{NewPortings, Ported, PortingSource, PortingsError},
};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{
    DetachedSignature, FileError, ImportError, Importer, Limits, PublicKey, blocking, port_file,
};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where verified portings go: the file importer calls it, and so will a
/// consumer of a portability event feed.
///
/// Contract: MUST apply every row of `batch` or none; MUST answer
/// [`Ported::Existing`], changing nothing, for a source (file SHA-256,
/// event id) applied before; MUST answer [`PortingsError::Refused`] with
/// every refused row, in line order, when any row cannot be applied (not a
/// current MSISDN, no active operator with the row's MCC/MNC, a port date
/// older than the number's current one). A row whose operator is the
/// number's home operator ports it back (clears the port).
pub trait PortingSink: Send + Sync {
    fn apply_portings<'a>(
        &'a self,
        ctx: &'a Ctx,
        batch: NewPortings<'a>,
    ) -> BoxFuture<'a, Result<Ported, PortingsError>>;
}

/// The system of record: one transaction per batch, each row with its
/// audit entry and `number.ported.v1`.
impl PortingSink for Store {
    fn apply_portings<'a>(
        &'a self,
        ctx: &'a Ctx,
        batch: NewPortings<'a>,
    ) -> BoxFuture<'a, Result<Ported, PortingsError>> {
        Box::pin(Store::apply_portings(self, ctx, batch))
    }
}

/// Why a portability file was not applied. `code()` is the stable code.
#[derive(Debug, thiserror::Error)]
pub enum PortImportError {
    /// The file or its signature, as for a lease import.
    #[error(transparent)]
    Check(#[from] ImportError),
    /// Rows refused by the file or the database: nothing was applied.
    #[error("{} of {total} rows were refused, so nothing was applied", rows.len())]
    Rejected { total: u32, rows: Vec<RowRejection> },
    #[error(transparent)]
    Store(PortingsError),
}

impl PortImportError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Check(e) => e.code(),
            Self::Rejected { .. } => "PORTING_REJECTED",
            Self::Store(e) => e.code(),
        }
    }

    /// True for failures of the service (retry later), not of the file.
    pub fn is_internal(&self) -> bool {
        match self {
            Self::Check(e) => e.is_internal(),
            Self::Rejected { .. } => false,
            Self::Store(e) => e.is_internal(),
        }
    }
}

impl From<FileError> for PortImportError {
    fn from(e: FileError) -> Self {
        Self::Check(e.into())
    }
}

/// One portability file, as received.
#[derive(Debug, Clone)]
pub struct PortUpload {
    pub file: Vec<u8>,
    pub signature: Vec<u8>,
    /// Where it came from (upload file name, a path).
    pub file_name: Option<String>,
}

/// Imports signed portability files into a [`PortingSink`].
#[derive(Clone)]
pub struct PortImporter {
    checks: Importer,
    sink: Arc<dyn PortingSink>,
}

impl PortImporter {
    /// Files checked against `store`'s keys, applied to `store`.
    pub fn new(store: Store, limits: Limits) -> Self {
        Self::with_sink(store.clone(), limits, Arc::new(store))
    }

    /// Files checked against `store`'s keys, applied to `sink`.
    pub fn with_sink(store: Store, limits: Limits, sink: Arc<dyn PortingSink>) -> Self {
        Self {
            checks: Importer::new(store, limits),
            sink,
        }
    }

    pub fn limits(&self) -> &Limits {
        self.checks.limits()
    }

    /// Imports one file (see the module docs).
    pub async fn import(&self, ctx: &Ctx, upload: PortUpload) -> Result<Ported, PortImportError> {
        let max = self.limits().max_bytes;
        if upload.file.len() > max {
            return Err(FileError::TooLarge {
                size: upload.file.len(),
                max,
            }
            .into());
        }
        let (file, sha256) = blocking(move || {
            let sha = hex::encode(Sha256::digest(&upload.file));
            (upload.file, sha)
        })
        .await?;
        let store = self.checks.store();
        if let Some(b) = store
            .porting_batch_by_ref(&sha256)
            .await
            .map_err(PortImportError::Store)?
        {
            return Ok(Ported::Existing(b));
        }
        let name = upload.file_name.as_deref();
        let outcome = self
            .verify_and_apply(ctx, file, &upload.signature, &sha256, name)
            .await;
        if let Err(e) = &outcome {
            if !e.is_internal() {
                self.record_refused(ctx, &sha256, name, e).await?;
            }
        }
        outcome
    }

    async fn verify_and_apply(
        &self,
        ctx: &Ctx,
        file: Vec<u8>,
        signature: &[u8],
        sha256: &str,
        file_name: Option<&str>,
    ) -> Result<Ported, PortImportError> {
        let sig = DetachedSignature::parse(signature).map_err(ImportError::MalformedSignature)?;
        let key = self.checks.usable_key(&sig).await?;
        if let Some(op) = &key.operator_id {
            return Err(ImportError::KeyNotForFile(format!(
                "key {:?} is {op}'s: portability files are signed by ATRA",
                key.key_id
            ))
            .into());
        }
        let parsed = verify_and_parse(file, sig, &key, *self.limits()).await?;
        if !parsed.rejected.is_empty() {
            // every refused line at once: the file's and the database's
            let mut rows = parsed.rejected;
            let store = self.checks.store();
            let by_database = store.porting_refusals(&parsed.rows).await;
            rows.extend(by_database.map_err(PortImportError::Store)?);
            rows.sort_by_key(|r| r.line);
            return Err(PortImportError::Rejected {
                total: parsed.total_rows,
                rows,
            });
        }
        let batch = NewPortings {
            source: PortingSource::File {
                sha256,
                file_name,
                key_id: &key.key_id,
            },
            rows: &parsed.rows,
        };
        match self.sink.apply_portings(ctx, batch).await {
            Err(PortingsError::Refused(rows)) => Err(PortImportError::Rejected {
                total: parsed.total_rows,
                rows,
            }),
            other => other.map_err(PortImportError::Store),
        }
    }

    /// One audit entry for a refused file, with its code and refused lines.
    async fn record_refused(
        &self,
        ctx: &Ctx,
        sha256: &str,
        file_name: Option<&str>,
        e: &PortImportError,
    ) -> Result<(), PortImportError> {
        tracing::warn!(code = e.code(), error = %e, file_sha256 = %sha256, "portability file refused");
        let rows: Vec<_> = match e {
            PortImportError::Rejected { rows, .. } => rows
                .iter()
                .take(1000)
                .map(|r| json!({ "line": r.line, "reason": r.reason }))
                .collect(),
            _ => Vec::new(),
        };
        let details = json!({
            "code": e.code(),
            "detail": e.to_string(),
            "line": refused_line(e),
            "file_name": file_name,
            "rows": rows,
        });
        self.checks
            .store()
            .record_porting_refused(ctx, sha256, &details)
            .await
            .map_err(PortImportError::Store)
    }
}

/// The line a file-level refusal names, if any.
pub fn refused_line(e: &PortImportError) -> Option<u64> {
    match e {
        PortImportError::Check(ImportError::File(f)) => f.line(),
        _ => None,
    }
}

/// Verifies the signature over the exact bytes, then parses them, off the
/// async workers.
async fn verify_and_parse(
    file: Vec<u8>,
    sig: DetachedSignature,
    key: &ImportKey,
    limits: Limits,
) -> Result<port_file::ParsedPortFile, PortImportError> {
    let public = PublicKey::from_pem(sig.algorithm, &key.public_key_pem)
        .map_err(|e| ImportError::BadInstalledKey(key.key_id.clone(), e))?;
    let key_id = key.key_id.clone();
    let now = chrono::Utc::now();
    let parsed = blocking(move || {
        public
            .verify(&file, &sig.signature)
            .map_err(|_| ImportError::SignatureInvalid(key_id))?;
        Ok::<_, ImportError>(port_file::parse(&file, &limits, now)?)
    })
    .await??;
    Ok(parsed)
}
