//! The bucket trigger: an S3 `ObjectCreated` event (Lambda) imports the
//! file it completes.
//!
//! A file `F` and its signature `F.sig` are two objects, uploaded in either
//! order, each raising its own event. Whichever arrives, the handler looks
//! for the pair (`F` and `F.sig`): if the other half is not there yet it
//! does nothing (the other half's event will find both); if both are there
//! it imports. So the second arrival imports, whatever the order; if both
//! events find both (near-simultaneous uploads), the second import is the
//! same file and returns the first batch (imports are idempotent by SHA-256
//! and serialised in the database).
//!
//! A portability file (`atra-port-v1`, told by its header line) goes to
//! the [`PortImporter`] and its `PortingSink`, the same as the admin upload;
//! any other file is a lease file.
//!
//! A refused file is an outcome of [`S3Trigger::handle`]; the Lambda
//! (`crate::lambda`) turns it into a failed invocation, so that it lands in
//! the on-failure destination with its event. A failure of the service
//! (database, S3) is an error here already. Lambda retries both (twice); a
//! retried refusal is refused again, a retried import is idempotent.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use aws_sdk_s3::{Client, error::SdkError, operation::get_object::GetObjectError};
use numbering_store::{Actor, Ctx, imports::Imported, portings::Ported};
use serde_json::{Value, json};

use crate::{Importer, PortImporter, PortUpload, Quiet, Upload, port_file::is_port_file};

/// The suffix of a detached signature object.
pub const SIG_SUFFIX: &str = ".sig";

/// What the handler did with one record of the event.
#[derive(Debug)]
pub enum Handled {
    /// The other half of the pair has not arrived yet.
    Waiting { bucket: String, key: String },
    Imported {
        bucket: String,
        key: String,
        imported: Imported,
    },
    /// A portability file, applied (or applied before).
    Ported {
        bucket: String,
        key: String,
        ported: Ported,
    },
    Refused {
        bucket: String,
        key: String,
        code: &'static str,
        detail: String,
    },
    /// Not an object-created record, or without bucket or key.
    Ignored,
}

impl Handled {
    pub fn json(&self) -> Value {
        match self {
            Self::Waiting { bucket, key } => {
                json!({ "bucket": bucket, "key": key, "outcome": "waiting_for_pair" })
            }
            Self::Imported {
                bucket,
                key,
                imported,
            } => json!({
                "bucket": bucket, "key": key,
                "outcome": if matches!(imported, Imported::Created(_)) { "imported" } else { "already_imported" },
                "import": imported.batch().json,
            }),
            Self::Ported {
                bucket,
                key,
                ported,
            } => json!({
                "bucket": bucket, "key": key,
                "outcome": if matches!(ported, Ported::Created(_)) { "ported" } else { "already_ported" },
                "porting_import": ported.batch().json,
            }),
            Self::Refused {
                bucket,
                key,
                code,
                detail,
            } => {
                json!({ "bucket": bucket, "key": key, "outcome": "refused", "code": code, "detail": detail })
            }
            Self::Ignored => json!({ "outcome": "ignored" }),
        }
    }
}

/// Failures worth a retry (Lambda re-invokes the function).
#[derive(Debug, thiserror::Error)]
pub enum S3ImportError {
    #[error("reading s3://{bucket}/{key}: {detail}")]
    S3 {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("the import failed inside the service: {0}")]
    Service(#[source] crate::ImportError),
    #[error("the portability import failed inside the service: {0}")]
    Porting(#[source] crate::PortImportError),
}

/// The S3 trigger: a bucket client and the import pipeline.
#[derive(Clone)]
pub struct S3Trigger {
    s3: Client,
    importer: Importer,
    ports: PortImporter,
}

impl S3Trigger {
    /// Lease files through `importer`, portability files into its store.
    pub fn new(s3: Client, importer: Importer) -> Self {
        let ports = PortImporter::new(importer.store().clone(), *importer.limits());
        Self {
            s3,
            importer,
            ports,
        }
    }

    /// Portability files through `ports` (its `PortingSink`) instead.
    pub fn with_ports(mut self, ports: PortImporter) -> Self {
        self.ports = ports;
        self
    }

    /// Handles one S3 event (all its records).
    pub async fn handle(&self, event: S3Event) -> Result<Vec<Handled>, S3ImportError> {
        let mut out = Vec::with_capacity(event.records.len());
        for record in event.records {
            let created = record
                .event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"));
            let (Some(bucket), Some(key)) = (record.s3.bucket.name, record.s3.object.key) else {
                out.push(Handled::Ignored);
                continue;
            };
            if !created {
                out.push(Handled::Ignored);
                continue;
            }
            out.push(self.object_created(&bucket, &url_decode(&key)).await?);
        }
        Ok(out)
    }

    async fn object_created(&self, bucket: &str, key: &str) -> Result<Handled, S3ImportError> {
        let file_key = key.strip_suffix(SIG_SUFFIX).unwrap_or(key).to_owned();
        let sig_key = format!("{file_key}{SIG_SUFFIX}");
        let limit = self.importer.limits().max_bytes;
        let waiting = || Handled::Waiting {
            bucket: bucket.into(),
            key: key.into(),
        };
        let too_large = |what: &str, size: u64, max: usize| Handled::Refused {
            bucket: bucket.into(),
            key: file_key.clone(),
            code: "FILE_TOO_LARGE",
            detail: format!("the {what} is {size} bytes; the limit is {max}"),
        };
        let max_sig = crate::signature::MAX_SIGNATURE_FILE;
        let signature = match self.fetch(bucket, &sig_key, max_sig).await? {
            Fetched::Missing => return Ok(waiting()),
            Fetched::TooLarge(size) => return Ok(too_large("signature", size, max_sig)),
            Fetched::Bytes(b) => b,
        };
        let file = match self.fetch(bucket, &file_key, limit).await? {
            Fetched::Missing => return Ok(waiting()),
            Fetched::TooLarge(size) => return Ok(too_large("file", size, limit)),
            Fetched::Bytes(b) => b,
        };
        let ctx = Ctx::new(Actor::system("import-s3"));
        let file_name = Some(format!("s3://{bucket}/{file_key}"));
        if is_port_file(&file) {
            let upload = PortUpload {
                file,
                signature,
                file_name,
            };
            return match self.ports.import(&ctx, upload).await {
                Ok(ported) => Ok(Handled::Ported {
                    bucket: bucket.into(),
                    key: file_key,
                    ported,
                }),
                Err(e) if e.is_internal() => Err(S3ImportError::Porting(e)),
                Err(e) => Ok(Handled::Refused {
                    bucket: bucket.into(),
                    key: file_key,
                    code: e.code(),
                    detail: port_refusal(&e),
                }),
            };
        }
        let upload = Upload {
            file,
            signature,
            file_name,
            partial: false,
        };
        match self.importer.import(&ctx, upload, Arc::new(Quiet)).await {
            Ok(imported) => Ok(Handled::Imported {
                bucket: bucket.into(),
                key: file_key,
                imported,
            }),
            Err(e) if e.is_internal() => Err(S3ImportError::Service(e)),
            Err(e) => Ok(Handled::Refused {
                bucket: bucket.into(),
                key: file_key,
                code: e.code(),
                detail: e.to_string(),
            }),
        }
    }

    /// The object's bytes, unless it does not exist (yet) or is over `limit`.
    async fn fetch(&self, bucket: &str, key: &str, limit: usize) -> Result<Fetched, S3ImportError> {
        let err = |detail: String| S3ImportError::S3 {
            bucket: bucket.into(),
            key: key.into(),
            detail,
        };
        let object = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(o) => o,
            Err(SdkError::ServiceError(e)) if matches!(e.err(), GetObjectError::NoSuchKey(_)) => {
                return Ok(Fetched::Missing);
            }
            Err(e) => return Err(err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())),
        };
        let announced = object.content_length().unwrap_or_default().max(0) as u64;
        if announced > limit as u64 {
            return Ok(Fetched::TooLarge(announced));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?
            .into_bytes();
        if bytes.len() > limit {
            return Ok(Fetched::TooLarge(bytes.len() as u64));
        }
        Ok(Fetched::Bytes(bytes.to_vec()))
    }
}

/// A refused portability file's detail: the reason and, for refused rows,
/// the first of them with their lines.
fn port_refusal(e: &crate::PortImportError) -> String {
    let mut detail = e.to_string();
    if let crate::PortImportError::Rejected { rows, .. } = e {
        for r in rows.iter().take(10) {
            detail.push_str(&format!("; line {}: {}", r.line, r.reason));
        }
    }
    detail
}

/// One half of a pair, as found in the bucket.
enum Fetched {
    Missing,
    TooLarge(u64),
    Bytes(Vec<u8>),
}

/// S3 event keys are URL-encoded (`+` for space, `%XX`); anything that is
/// not a valid escape is kept as it is.
pub fn url_decode(key: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::url_decode;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(
            url_decode("imports/Roshan+2026%2D11.csv"),
            "imports/Roshan 2026-11.csv"
        );
        assert_eq!(url_decode("a%2"), "a%2");
        assert_eq!(url_decode("a%zz%"), "a%zz%");
        assert_eq!(url_decode("%C3%A9"), "é");
    }
}
