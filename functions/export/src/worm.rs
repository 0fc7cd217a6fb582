//! Write-once (WORM) storage: the port every durable archive goes through
//! (regulator exports, archived audit partitions), with two adapters.
//!
//! - [`S3Worm`]: S3 with Object Lock. Every object is written with
//!   `COMPLIANCE` mode and a retain-until date, so nobody — not even the
//!   account root — can delete or overwrite that version before then.
//!   `If-None-Match: *` refuses a second write to the same key, so a key is
//!   written once even in a versioned bucket.
//! - [`LocalDirWorm`]: development and on-prem without S3. Files are created
//!   with `create_new` (never overwritten) and made read-only once written;
//!   the retain-until date is recorded but only the operating system's
//!   permissions enforce it.
//!
//! Callers choose keys that are unique per period and version; a
//! regeneration writes new keys and leaves the old objects intact.

use std::path::{Component, Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Months, Utc};

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What to store: bytes in memory, or a file streamed from disk (never read
/// into memory whole — exports of a million rows are written to temporary
/// files first).
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(bytes::Bytes),
    File(PathBuf),
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Bytes(bytes.into())
    }
}

/// Where an object landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `s3://bucket/key` or `file:///dir/key`.
    pub uri: String,
    /// The S3 version id (versioning is on wherever Object Lock is).
    pub version_id: Option<String>,
    pub retain_until: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum WormError {
    #[error("{0} already exists in write-once storage and is never overwritten")]
    AlreadyExists(String),
    #[error("{0} is not in write-once storage")]
    NotFound(String),
    #[error("invalid key {0:?}: relative, '/'-separated, without '.' or '..' segments")]
    InvalidKey(String),
    #[error("write-once storage: {0}")]
    Backend(String),
}

/// The write-once storage port.
pub trait WormStore: Send + Sync {
    /// Where this store writes: `s3://bucket/prefix` or `file:///dir`.
    fn describe(&self) -> String;
    /// Store `body` under `key` once, locked until `retain_until`.
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Body,
        retain_until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Stored, WormError>>;
    /// Read a stored object back (verification; exports are small next to
    /// memory once stored — the manifest and signature — while the CSV files
    /// are hashed by the verifier as they are read).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, WormError>>;
    /// The SHA-256 (lower-case hex) and size of a stored object, read as a
    /// stream — how the verifier checks files of any size in flat memory.
    fn sha256<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), WormError>>;
    /// Up to `max` keys directly under the folder `prefix` (no trailing
    /// `/`) that sort after `start_after` (a full key), ascending — how the
    /// newest audit checkpoint is found without reading them all.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        start_after: &'a str,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, WormError>>;
}

/// Hashes chunks as they come.
#[derive(Default)]
struct Digest {
    hasher: sha2::Sha256,
    bytes: u64,
}

impl Digest {
    fn update(&mut self, chunk: &[u8]) {
        sha2::Digest::update(&mut self.hasher, chunk);
        self.bytes += chunk.len() as u64;
    }
    fn finish(self) -> (String, u64) {
        (hex::encode(sha2::Digest::finalize(self.hasher)), self.bytes)
    }
}

/// Now plus `years` calendar years (the retention the regulator requires
/// is seven).
pub fn retention_years(years: u32) -> DateTime<Utc> {
    let now = Utc::now();
    now.checked_add_months(Months::new(years * 12))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Keys are relative, `/`-separated paths without `.`/`..` segments, so a
/// key can never escape the local directory or the S3 prefix.
fn check_key(key: &str) -> Result<(), WormError> {
    let path = Path::new(key);
    let valid = !key.is_empty()
        && !key.contains('\\')
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
        && !key
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if valid {
        Ok(())
    } else {
        Err(WormError::InvalidKey(key.to_owned()))
    }
}

/// A local directory as write-once storage (development, on-prem).
#[derive(Debug, Clone)]
pub struct LocalDirWorm {
    root: PathBuf,
}

impl LocalDirWorm {
    /// The directory is created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn write(&self, key: &str, body: Body) -> Result<PathBuf, WormError> {
        use tokio::io::AsyncWriteExt;
        check_key(key)?;
        let path = self.root.join(key);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(backend)?;
        }
        let mut file = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
        {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(WormError::AlreadyExists(self.uri(key)));
            }
            Err(error) => return Err(backend(error)),
        };
        let written = async {
            match body {
                Body::Bytes(bytes) => file.write_all(&bytes).await?,
                Body::File(source) => {
                    let mut source = tokio::fs::File::open(source).await?;
                    tokio::io::copy(&mut source, &mut file).await?;
                }
            }
            file.sync_all().await?;
            let mut permissions = file.metadata().await?.permissions();
            permissions.set_readonly(true);
            tokio::fs::set_permissions(&path, permissions).await
        }
        .await;
        if let Err(error) = written {
            // A half-written file must not pass for the stored object; it
            // is ours (create_new), so removing it overwrites nothing.
            let _ = tokio::fs::remove_file(&path).await;
            return Err(backend(error));
        }
        Ok(path)
    }

    fn uri(&self, key: &str) -> String {
        format!("{}/{key}", self.describe())
    }
}

fn backend(error: impl std::fmt::Display) -> WormError {
    WormError::Backend(error.to_string())
}

impl WormStore for LocalDirWorm {
    fn describe(&self) -> String {
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("file://{}", root.display())
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Body,
        retain_until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Stored, WormError>> {
        Box::pin(async move {
            self.write(key, body).await?;
            Ok(Stored {
                uri: self.uri(key),
                version_id: None,
                retain_until,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, WormError>> {
        Box::pin(async move {
            check_key(key)?;
            match tokio::fs::read(self.root.join(key)).await {
                Ok(bytes) => Ok(bytes),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    Err(WormError::NotFound(self.uri(key)))
                }
                Err(error) => Err(backend(error)),
            }
        })
    }

    fn sha256<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), WormError>> {
        Box::pin(async move {
            use tokio::io::AsyncReadExt;
            check_key(key)?;
            let mut file = match tokio::fs::File::open(self.root.join(key)).await {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err(WormError::NotFound(self.uri(key)));
                }
                Err(error) => return Err(backend(error)),
            };
            let mut digest = Digest::default();
            let mut buffer = vec![0; 1 << 16];
            loop {
                let n = file.read(&mut buffer).await.map_err(backend)?;
                if n == 0 {
                    return Ok(digest.finish());
                }
                digest.update(&buffer[..n]);
            }
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        start_after: &'a str,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, WormError>> {
        Box::pin(async move {
            check_key(prefix)?;
            let mut dir = match tokio::fs::read_dir(self.root.join(prefix)).await {
                Ok(dir) => dir,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Vec::new());
                }
                Err(error) => return Err(backend(error)),
            };
            let mut keys = Vec::new();
            while let Some(entry) = dir.next_entry().await.map_err(backend)? {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let key = format!("{prefix}/{name}");
                if key.as_str() > start_after {
                    keys.push(key);
                }
            }
            keys.sort();
            keys.truncate(max);
            Ok(keys)
        })
    }
}

/// S3 with Object Lock (COMPLIANCE) as write-once storage.
#[derive(Debug, Clone)]
pub struct S3Worm {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Worm {
    /// `prefix` may be empty; otherwise keys are stored under `prefix/`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// An S3 client from the standard AWS environment (path-style addressing
    /// when `AWS_ENDPOINT_URL` points at an S3-compatible server such as
    /// moto or MinIO).
    pub fn client_for(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        let path_style = config.endpoint_url().is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(config)
                .force_path_style(path_style)
                .build(),
        )
    }

    /// Parse `s3://bucket[/prefix]`.
    pub fn from_uri(client: aws_sdk_s3::Client, uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| Self::new(client, bucket, prefix))
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full object key for `key`.
    pub fn object_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Create the bucket with Object Lock enabled (which turns versioning
    /// on) if it does not exist — for development and tests; production
    /// buckets are provisioned by infrastructure code.
    pub async fn ensure_bucket(&self) -> Result<(), WormError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .map_err(|error| backend(aws_sdk_s3::error::DisplayErrorContext(error)))?;
        Ok(())
    }
}

impl S3Worm {
    async fn open(&self, key: &str) -> Result<ByteStream, WormError> {
        check_key(key)?;
        let object_key = self.object_key(key);
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object_key)
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|service| service.is_no_such_key())
                {
                    WormError::NotFound(format!("s3://{}/{object_key}", self.bucket))
                } else {
                    backend(aws_sdk_s3::error::DisplayErrorContext(error))
                }
            })?;
        Ok(output.body)
    }
}

impl WormStore for S3Worm {
    fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: Body,
        retain_until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Stored, WormError>> {
        Box::pin(async move {
            use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
            check_key(key)?;
            let object_key = self.object_key(key);
            let stream = match body {
                Body::Bytes(bytes) => ByteStream::from(bytes),
                Body::File(path) => ByteStream::from_path(path).await.map_err(backend)?,
            };
            let uri = format!("s3://{}/{object_key}", self.bucket);
            let output = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&object_key)
                .body(stream)
                .if_none_match("*")
                // Object Lock requires an integrity checksum on the upload.
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_millis(
                    retain_until.timestamp_millis(),
                ))
                .send()
                .await
                .map_err(|error| {
                    let precondition = error
                        .raw_response()
                        .is_some_and(|response| response.status().as_u16() == 412);
                    if precondition {
                        WormError::AlreadyExists(uri.clone())
                    } else {
                        backend(aws_sdk_s3::error::DisplayErrorContext(error))
                    }
                })?;
            Ok(Stored {
                uri,
                version_id: output.version_id,
                retain_until,
            })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, WormError>> {
        Box::pin(async move {
            let body = self.open(key).await?;
            let bytes = body.collect().await.map_err(backend)?;
            Ok(bytes.into_bytes().to_vec())
        })
    }

    fn sha256<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(String, u64), WormError>> {
        Box::pin(async move {
            let mut body = self.open(key).await?;
            let mut digest = Digest::default();
            while let Some(chunk) = body.try_next().await.map_err(backend)? {
                digest.update(&chunk);
            }
            Ok(digest.finish())
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        start_after: &'a str,
        max: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, WormError>> {
        Box::pin(async move {
            check_key(prefix)?;
            let folder = self.object_key(prefix) + "/";
            let strip = if self.prefix.is_empty() {
                0
            } else {
                self.prefix.len() + 1
            };
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            while keys.len() < max {
                let output = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(&folder)
                    .start_after(self.object_key(start_after))
                    .max_keys(i32::try_from(max - keys.len()).unwrap_or(1000).min(1000))
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|error| backend(aws_sdk_s3::error::DisplayErrorContext(error)))?;
                keys.extend(
                    output
                        .contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .filter(|k| !k[folder.len()..].contains('/'))
                        .map(|k| k[strip..].to_owned()),
                );
                match output.next_continuation_token() {
                    Some(next) if output.is_truncated() == Some(true) => {
                        token = Some(next.to_owned())
                    }
                    _ => break,
                }
            }
            keys.truncate(max);
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        for good in ["2026-05/v1/manifest.json", "a", "audit/2025-01.csv"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "../x", "a/../b", "a//b", "./a", "a/", "a\\b"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_local_key_is_written_once_and_read_only() {
        let dir = std::env::temp_dir().join(format!("worm-{}", uuid::Uuid::new_v4().simple()));
        let store = LocalDirWorm::new(&dir);
        let until = retention_years(7);
        let stored = store
            .put("p/v1/a.txt", b"first".to_vec().into(), until)
            .await
            .unwrap();
        assert!(stored.uri.starts_with("file://") && stored.uri.ends_with("/p/v1/a.txt"));
        let again = store
            .put("p/v1/a.txt", b"second".to_vec().into(), until)
            .await;
        assert!(
            matches!(again, Err(WormError::AlreadyExists(_))),
            "{again:?}"
        );
        assert_eq!(store.get("p/v1/a.txt").await.unwrap(), b"first");
        let (sha, size) = store.sha256("p/v1/a.txt").await.unwrap();
        assert_eq!(size, 5);
        assert_eq!(
            sha,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"first"))
        );
        let permissions = std::fs::metadata(dir.join("p/v1/a.txt"))
            .unwrap()
            .permissions();
        assert!(permissions.readonly());
        assert!(matches!(
            store.get("p/v2/a.txt").await,
            Err(WormError::NotFound(_))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn seven_years_ahead() {
        let until = retention_years(7);
        let days = (until - Utc::now()).num_days();
        assert!((7 * 365..=7 * 366).contains(&days), "{days}");
    }
}
