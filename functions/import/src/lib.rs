//! Signed MNO and ATRA lease imports (SPEC §8, §11), legacy lease
//! seeding ([`legacy`]), and ATRA's signed portability files
//! ([`portability`], [`port_file`]).
//!
//! One pipeline, three triggers (the admin upload, an object landing in a
//! bucket, `numbering import`): [`Importer::import`] takes the exact file
//! bytes and its detached `.sig`, and
//!
//! 1. refuses a file over the size limit;
//! 2. returns the earlier batch if this file (by SHA-256) was imported
//!    before — the same file twice is a no-op;
//! 3. parses the `.sig` and loads its key from `mno_signing_keys`: unknown,
//!    of another algorithm, revoked, not yet or no longer valid — refused;
//! 4. verifies the signature over the exact bytes ([`signature`]);
//! 5. parses the CSV ([`file`]): file-level problems refuse the file, row
//!    problems (and rows whose MCC/MNC are not the signer's, and repeats)
//!    are refused rows;
//! 6. hands the rows to the store, which in one transaction stages them
//!    with `COPY`, refuses rows outside an active contract of the signer or
//!    already in inventory, and records the batch (APPLIED, PARTIAL or
//!    REJECTED), its row errors, the rows (all-or-nothing unless partial),
//!    one audit entry and `numbering.import.completed.v1`.
//!
//! A file refused as a whole (steps 1, 3–5) applies nothing and records no
//! batch — only an audit entry `lease_import.refused` — so the same bytes
//! with a correct signature can still be imported. A file with refused rows
//! is recorded (REJECTED, or PARTIAL in partial mode) with every refused line.

pub mod config;
pub mod file;
pub mod lambda;
pub mod legacy;
pub mod port_file;
pub mod portability;
pub mod s3;
pub mod signature;

use std::sync::Arc;

use numbering_store::{
    Ctx, Store,
    imports::{ImportKey, Imported, ImportsError, NewImport},
};
use serde_json::json;
use sha2::{Digest, Sha256};

pub use file::{FileError, FileKind, OperatorCodes, ParsedFile};
pub use numbering_store::imports::{ImportBatch, RowRejection};
pub use portability::{PortImportError, PortImporter, PortUpload, PortingSink};
pub use signature::{Algorithm, DetachedSignature, PublicKey, SignatureError};

/// Size limits of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file, in bytes (`NUMBERING_IMPORT_MAX_BYTES`, default 128 MiB:
    /// a million MSISDN rows are about 40 MB).
    pub max_bytes: usize,
    /// Longest record, in bytes: a real row is well under 200.
    pub max_record_bytes: usize,
    /// Most fields in a record: a real row has 2 or 5.
    pub max_columns: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 128 << 20,
            max_record_bytes: 4096,
            max_columns: 32,
        }
    }
}

impl Limits {
    /// [`Limits::from_lookup`] over the environment.
    pub fn from_env() -> Result<Self, String> {
        use numbering_clients::config::{env, non_empty};
        Self::from_lookup(&non_empty(env)).map_err(|e| e.0)
    }
}

/// Why an import did not produce a batch. Every variant but `Store` is the
/// caller's file; `code()` is the stable code the edges report.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("the signature file: {0}")]
    MalformedSignature(SignatureError),
    #[error("no signing key {0:?} is installed")]
    UnknownKey(String),
    #[error("signing key {key_id:?} is a {installed} key, the signature says {claimed}")]
    AlgorithmMismatch {
        key_id: String,
        installed: String,
        claimed: &'static str,
    },
    #[error("signing key {0:?} is revoked")]
    KeyRevoked(String),
    #[error("signing key {0:?} has expired")]
    KeyExpired(String),
    #[error("signing key {0:?} is not valid yet")]
    KeyNotYetValid(String),
    #[error("the signature does not verify over the file with key {0:?}")]
    SignatureInvalid(String),
    #[error("{0}")]
    KeyNotForFile(String),
    #[error("the installed key {0:?} cannot be used: {1}")]
    BadInstalledKey(String, SignatureError),
    /// The blocking task that hashes, verifies or parses the file failed.
    #[error("import worker failed: {0}")]
    Worker(String),
    #[error(transparent)]
    Store(#[from] ImportsError),
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::File(e) => e.code(),
            Self::MalformedSignature(_) => "MALFORMED_SIGNATURE",
            Self::UnknownKey(_) => "UNKNOWN_KEY",
            Self::AlgorithmMismatch { .. } => "ALGORITHM_MISMATCH",
            Self::KeyRevoked(_) => "KEY_REVOKED",
            Self::KeyExpired(_) => "KEY_EXPIRED",
            Self::KeyNotYetValid(_) => "KEY_NOT_YET_VALID",
            Self::SignatureInvalid(_) => "SIGNATURE_INVALID",
            Self::KeyNotForFile(_) => "KEY_NOT_FOR_FILE",
            Self::BadInstalledKey(..) | Self::Worker(_) => "INTERNAL",
            Self::Store(e) => e.code(),
        }
    }

    /// True for failures of the service (retry later), not of the file.
    pub fn is_internal(&self) -> bool {
        match self {
            Self::BadInstalledKey(..) | Self::Worker(_) => true,
            Self::Store(e) => e.is_internal(),
            _ => false,
        }
    }
}

/// One file to import, as received.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file: Vec<u8>,
    pub signature: Vec<u8>,
    /// Where it came from (upload file name, `s3://bucket/key`, a path).
    pub file_name: Option<String>,
    /// Apply the good rows and record the rest, instead of all-or-nothing.
    pub partial: bool,
}

/// Where an import is, for a progress display.
pub trait Progress: Send + Sync {
    /// The signature was checked; parsing starts over `total` bytes.
    fn parsing(&self, _total: u64) {}
    /// `done` bytes of the file are parsed.
    fn parsed(&self, _done: u64) {}
    /// The rows go to the database.
    fn ingesting(&self, _rows: u64) {}
}

/// No progress display.
pub struct Quiet;
impl Progress for Quiet {}

/// Runs imports against the system of record.
#[derive(Clone)]
pub struct Importer {
    store: Store,
    limits: Limits,
}

impl Importer {
    pub fn new(store: Store, limits: Limits) -> Self {
        Self { store, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Imports one file (see the crate docs). `Ok(Imported::Existing)` when
    /// this file was imported before.
    pub async fn import(
        &self,
        ctx: &Ctx,
        upload: Upload,
        progress: Arc<dyn Progress>,
    ) -> Result<Imported, ImportError> {
        let size = upload.file.len();
        if size > self.limits.max_bytes {
            return Err(FileError::TooLarge {
                size,
                max: self.limits.max_bytes,
            }
            .into());
        }
        let (file, sha256) = blocking(move || {
            let sha = hex::encode(Sha256::digest(&upload.file));
            (upload.file, sha)
        })
        .await?;
        if let Some(b) = self.store.import_by_sha256(&sha256).await? {
            return Ok(Imported::Existing(b));
        }
        let meta = Meta {
            sha256: &sha256,
            signature: &upload.signature,
            file_name: upload.file_name.as_deref(),
            partial: upload.partial,
        };
        let outcome = self.verify_and_ingest(ctx, file, meta, progress).await;
        if let Err(e) = &outcome {
            if !e.is_internal() {
                tracing::warn!(code = e.code(), error = %e, file_sha256 = %sha256, "import refused");
                let details = json!({
                    "code": e.code(),
                    "detail": e.to_string(),
                    "file_name": upload.file_name,
                    "partial": upload.partial,
                });
                self.store
                    .record_import_refused(ctx, &sha256, &details)
                    .await?;
            }
        }
        outcome
    }

    async fn verify_and_ingest(
        &self,
        ctx: &Ctx,
        file: Vec<u8>,
        meta: Meta<'_>,
        progress: Arc<dyn Progress>,
    ) -> Result<Imported, ImportError> {
        let sig =
            DetachedSignature::parse(meta.signature).map_err(ImportError::MalformedSignature)?;
        let key = self.usable_key(&sig).await?;
        let (file, parsed) = self.verify_and_parse(file, sig, &key, progress).await?;
        key_signs(&key, parsed.kind)?;
        Ok(self
            .store
            .ingest_import(
                ctx,
                NewImport {
                    file: &file,
                    file_sha256: meta.sha256,
                    file_name: meta.file_name,
                    key_id: &key.key_id,
                    operator_id: key.operator_id.as_deref(),
                    kind: parsed.kind.identifier_kind(),
                    partial: meta.partial,
                    total_rows: parsed.total_rows,
                    rows: &parsed.rows,
                    rejected: parsed.rejected,
                },
            )
            .await?)
    }

    /// The installed key the signature names, if it may sign now with the
    /// signature's algorithm.
    async fn usable_key(&self, sig: &DetachedSignature) -> Result<ImportKey, ImportError> {
        let key = self
            .store
            .import_key(&sig.key_id)
            .await?
            .ok_or_else(|| ImportError::UnknownKey(sig.key_id.clone()))?;
        if key.algorithm != sig.algorithm.as_str() {
            return Err(ImportError::AlgorithmMismatch {
                key_id: key.key_id,
                installed: key.algorithm,
                claimed: sig.algorithm.as_str(),
            });
        }
        if key.revoked {
            return Err(ImportError::KeyRevoked(key.key_id));
        }
        if key.not_yet_valid {
            return Err(ImportError::KeyNotYetValid(key.key_id));
        }
        if key.expired {
            return Err(ImportError::KeyExpired(key.key_id));
        }
        Ok(key)
    }

    /// Verifies the signature over the exact bytes, then parses them (off
    /// the async workers). Returns the bytes back with what was parsed.
    async fn verify_and_parse(
        &self,
        file: Vec<u8>,
        sig: DetachedSignature,
        key: &ImportKey,
        progress: Arc<dyn Progress>,
    ) -> Result<(Vec<u8>, ParsedFile), ImportError> {
        let public = PublicKey::from_pem(sig.algorithm, &key.public_key_pem)
            .map_err(|e| ImportError::BadInstalledKey(key.key_id.clone(), e))?;
        let operator = match (&key.operator_id, &key.mcc) {
            (Some(id), Some(mcc)) => Some(OperatorCodes {
                operator_id: id.clone(),
                mcc: mcc.clone(),
                mnc_codes: key.mnc_codes.clone(),
            }),
            _ => None,
        };
        let limits = self.limits;
        let key_id = key.key_id.clone();
        let (file, parsed) = blocking(move || {
            let checked = public
                .verify(&file, &sig.signature)
                .map_err(|_| ImportError::SignatureInvalid(key_id))
                .and_then(|()| {
                    progress.parsing(file.len() as u64);
                    let parsed = file::parse(&file, &limits, operator.as_ref(), &mut |done| {
                        progress.parsed(done)
                    })?;
                    progress.ingesting(parsed.rows.len() as u64);
                    Ok(parsed)
                });
            (file, checked)
        })
        .await?;
        Ok((file, parsed?))
    }
}

/// An operator's key signs MSISDN files, ATRA's short-code files.
fn key_signs(key: &ImportKey, kind: FileKind) -> Result<(), ImportError> {
    match (kind, &key.operator_id) {
        (FileKind::Msisdn, None) => Err(ImportError::KeyNotForFile(format!(
            "key {:?} is ATRA's: it signs short-code files, not MSISDN files",
            key.key_id
        ))),
        (FileKind::ShortCode, Some(op)) => Err(ImportError::KeyNotForFile(format!(
            "key {:?} is {op}'s: short-code files are signed by ATRA",
            key.key_id
        ))),
        _ => Ok(()),
    }
}

/// What an upload says besides its bytes.
struct Meta<'a> {
    sha256: &'a str,
    signature: &'a [u8],
    file_name: Option<&'a str>,
    partial: bool,
}

/// Runs CPU-bound work (hashing, verifying, parsing tens of megabytes) off
/// the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ImportError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ImportError::Worker(e.to_string()))
}
