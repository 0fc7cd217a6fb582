//! The `Signer` port: who signs an export's manifest, with three adapters.
//!
//! - [`LocalSigner`]: an Ed25519 key in a PKCS#8 PEM file (development
//!   default; generated and persisted on first use when absent). The file
//!   is written as RFC 8410 PKCS#8 v1 (`PRIVATE KEY`, no public key inside),
//!   the form OpenSSL, python-cryptography and every other standard tool
//!   read; files written as v2 (`OneAsymmetricKey` with the public key) by
//!   earlier versions are still read.
//! - [`KmsSigner`]: AWS KMS `Sign` with an asymmetric `ECC_NIST_P256` key
//!   (`ECDSA_SHA_256`, DER signature); the public key is KMS's
//!   `GetPublicKey` SPKI.
//! - [`VaultSigner`]: HashiCorp Vault's Transit engine over HTTP
//!   (`POST /v1/transit/sign/<key>`, `X-Vault-Token`), with an `ed25519` or
//!   `ecdsa-p256` key; the public key is read from `GET /v1/transit/keys/<key>`.
//!
//! Every signature is recorded with its algorithm and key id, and
//! [`verify`] checks it with only the public key (SPKI PEM).

use std::path::{Path, PathBuf};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::worm::BoxFuture;

/// Ed25519 over the message (local key, or Vault Transit `ed25519`).
pub const ED25519: &str = "ed25519";
/// ECDSA P-256 with SHA-256, ASN.1 DER signature (KMS, or Vault Transit
/// `ecdsa-p256`).
pub const ECDSA_P256_SHA256: &str = "ecdsa-p256-sha256";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing key: {0}")]
    Key(String),
    #[error("signer backend: {0}")]
    Backend(String),
    #[error("signature does not verify: {0}")]
    Invalid(String),
}

/// A detached signature as stored next to the manifest (`manifest.sig.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureRecord {
    /// [`ED25519`] or [`ECDSA_P256_SHA256`].
    pub algorithm: String,
    /// The signer's key id (`local:<fingerprint>`, the KMS key ARN, `vault:<key>:v<n>`).
    pub key_id: String,
    /// The signature bytes, base64.
    pub signature: String,
    /// The signer's public key (SPKI PEM) — informational: a verifier must
    /// check against a public key it trusts, not this one.
    pub public_key_pem: String,
}

/// The signing port.
pub trait Signer: Send + Sync {
    /// What signs, for logs and `describe` (`local:/path`, `kms:<id>`, `vault:<url>`).
    fn describe(&self) -> String;
    /// Signs `message` (the manifest's exact bytes).
    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, SignError>>;
    /// The key that signs: its id, algorithm and public key (SPKI PEM) —
    /// named in the manifest before it is signed.
    fn identity(&self) -> BoxFuture<'_, Result<SignerIdentity, SignError>>;
}

/// Which key signs, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerIdentity {
    pub key_id: String,
    pub algorithm: String,
    /// Informational, like [`SignatureRecord::public_key_pem`].
    pub public_key_pem: String,
}

/// Verifies `record` over `message` with the trusted `public_key_pem`.
pub fn verify(
    record: &SignatureRecord,
    public_key_pem: &str,
    message: &[u8],
) -> Result<(), SignError> {
    let signature = B64
        .decode(record.signature.trim())
        .map_err(|e| SignError::Invalid(format!("signature is not base64: {e}")))?;
    match record.algorithm.as_str() {
        ED25519 => verify_ed25519(public_key_pem, message, &signature),
        ECDSA_P256_SHA256 => verify_ecdsa_p256(public_key_pem, message, &signature),
        other => Err(SignError::Invalid(format!("unknown algorithm {other:?}"))),
    }
}

/// Ed25519 over `message` with an SPKI PEM public key.
pub fn verify_ed25519(
    public_key_pem: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignError> {
    use ed25519_dalek::{Verifier, VerifyingKey, pkcs8::DecodePublicKey};
    let key = VerifyingKey::from_public_key_pem(public_key_pem)
        .map_err(|e| SignError::Key(format!("not an Ed25519 SPKI PEM: {e}")))?;
    let signature = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|e| SignError::Invalid(e.to_string()))?;
    key.verify(message, &signature)
        .map_err(|_| SignError::Invalid("Ed25519 signature does not match".into()))
}

/// ECDSA P-256 / SHA-256 (DER signature) over `message` with an SPKI PEM
/// public key.
pub fn verify_ecdsa_p256(
    public_key_pem: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignError> {
    use p256::ecdsa::{VerifyingKey, signature::Verifier};
    use p256::pkcs8::DecodePublicKey;
    let key = VerifyingKey::from_public_key_pem(public_key_pem)
        .map_err(|e| SignError::Key(format!("not a P-256 SPKI PEM: {e}")))?;
    let signature = p256::ecdsa::Signature::from_der(signature)
        .map_err(|e| SignError::Invalid(format!("not a DER ECDSA signature: {e}")))?;
    key.verify(message, &signature)
        .map_err(|_| SignError::Invalid("ECDSA P-256 signature does not match".into()))
}

fn fingerprint(spki_der: &[u8]) -> String {
    hex::encode(&Sha256::digest(spki_der)[..8])
}

fn spki_pem(der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// A local Ed25519 key (PKCS#8 PEM file).
pub struct LocalSigner {
    path: PathBuf,
    key: ed25519_dalek::SigningKey,
    key_id: String,
    public_key_pem: String,
}

impl LocalSigner {
    /// Loads the key at `path`: PKCS#8 v1 (RFC 8410) or v2 (RFC 5958, with
    /// the public key, which must match the private key).
    pub fn load(path: &Path) -> Result<Self, SignError> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let pem = std::fs::read_to_string(path)
            .map_err(|e| SignError::Key(format!("{}: {e}", path.display())))?;
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
            SignError::Key(format!(
                "{}: not an Ed25519 PKCS#8 PEM: {e}",
                path.display()
            ))
        })?;
        Self::from_key(path, key)
    }

    /// The public key (SPKI PEM), as `openssl pkey -pubout` prints it.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// Loads the key at `path`, or generates one there (mode 0600) if the
    /// file does not exist — the development default.
    pub fn load_or_generate(path: &Path) -> Result<Self, SignError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| SignError::Key(e.to_string()))?;
        }
        write_private_key(path, &key)?;
        Self::from_key(path, key)
    }

    fn from_key(path: &Path, key: ed25519_dalek::SigningKey) -> Result<Self, SignError> {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let der = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| SignError::Key(e.to_string()))?;
        Ok(Self {
            path: path.to_owned(),
            key_id: format!("local:{}", fingerprint(der.as_bytes())),
            public_key_pem: spki_pem(der.as_bytes()),
            key,
        })
    }
}

/// Writes `key` to `path` (mode 0600, never over an existing file) as an
/// RFC 8410 PKCS#8 v1 PEM (`PRIVATE KEY`): the private key only.
/// `SigningKey::to_pkcs8_pem` writes v2 with the public key attached, which
/// OpenSSL 3.0 (`openssl pkey`) and python-cryptography refuse.
fn write_private_key(path: &Path, key: &ed25519_dalek::SigningKey) -> Result<(), SignError> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes, spki::der::pem::LineEnding};
    let pem = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| SignError::Key(e.to_string()))?;
    write_private(path, pem.as_bytes())
        .map_err(|e| SignError::Key(format!("{}: {e}", path.display())))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

impl Signer for LocalSigner {
    fn describe(&self) -> String {
        format!("local:{}", self.path.display())
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, SignError>> {
        use ed25519_dalek::Signer as _;
        let signature = self.key.sign(message);
        Box::pin(async move {
            Ok(SignatureRecord {
                algorithm: ED25519.into(),
                key_id: self.key_id.clone(),
                signature: B64.encode(signature.to_bytes()),
                public_key_pem: self.public_key_pem.clone(),
            })
        })
    }

    fn identity(&self) -> BoxFuture<'_, Result<SignerIdentity, SignError>> {
        Box::pin(async move {
            Ok(SignerIdentity {
                key_id: self.key_id.clone(),
                algorithm: ED25519.into(),
                public_key_pem: self.public_key_pem.clone(),
            })
        })
    }
}

/// AWS KMS `Sign` with an `ECC_NIST_P256` key (`ECDSA_SHA_256`).
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSigner {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn kms_error<E: std::error::Error + 'static>(error: E) -> SignError {
    SignError::Backend(format!(
        "KMS: {}",
        aws_sdk_kms::error::DisplayErrorContext(error)
    ))
}

impl Signer for KmsSigner {
    fn describe(&self) -> String {
        format!("kms:{}", self.key_id)
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, SignError>> {
        Box::pin(async move {
            use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
            let output = self
                .client
                .sign()
                .key_id(&self.key_id)
                .message(aws_sdk_kms::primitives::Blob::new(message))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
                .map_err(kms_error)?;
            let signature = output
                .signature
                .ok_or_else(|| SignError::Backend("KMS Sign returned no signature".into()))?;
            Ok(SignatureRecord {
                algorithm: ECDSA_P256_SHA256.into(),
                key_id: output.key_id.unwrap_or_else(|| self.key_id.clone()),
                signature: B64.encode(signature.as_ref()),
                public_key_pem: self.identity().await?.public_key_pem,
            })
        })
    }

    fn identity(&self) -> BoxFuture<'_, Result<SignerIdentity, SignError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_public_key()
                .key_id(&self.key_id)
                .send()
                .await
                .map_err(kms_error)?;
            let der = output
                .public_key
                .ok_or_else(|| SignError::Backend("KMS GetPublicKey returned no key".into()))?;
            Ok(SignerIdentity {
                key_id: output.key_id.unwrap_or_else(|| self.key_id.clone()),
                algorithm: ECDSA_P256_SHA256.into(),
                public_key_pem: spki_pem(der.as_ref()),
            })
        })
    }
}

/// Vault Transit over HTTP.
pub struct VaultSigner {
    http: reqwest::Client,
    /// `https://vault:8200` (no trailing slash).
    address: String,
    token: String,
    key: String,
    /// The Transit mount (`transit` by default).
    mount: String,
}

#[derive(Deserialize)]
struct VaultData<T> {
    data: T,
}

#[derive(Deserialize)]
struct VaultSigned {
    signature: String,
}

#[derive(Deserialize)]
struct VaultKey {
    #[serde(rename = "type")]
    kind: String,
    latest_version: Option<u64>,
    keys: std::collections::BTreeMap<String, VaultKeyVersion>,
}

#[derive(Deserialize)]
struct VaultKeyVersion {
    public_key: Option<String>,
}

impl VaultSigner {
    pub fn new(address: &str, token: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            address: address.trim_end_matches('/').to_owned(),
            token: token.into(),
            key: key.into(),
            mount: "transit".into(),
        }
    }

    /// A Transit engine mounted elsewhere than `transit/`.
    pub fn with_mount(mut self, mount: &str) -> Self {
        self.mount = mount.trim_matches('/').to_owned();
        self
    }

    fn url(&self, op: &str) -> String {
        format!("{}/v1/{}/{op}/{}", self.address, self.mount, self.key)
    }

    /// Sends `request` with the token and returns the response's `data`;
    /// any failure is a backend error naming `what` and the key.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, SignError> {
        let response = request
            .header("X-Vault-Token", &self.token)
            .send()
            .await
            .map_err(|e| SignError::Backend(format!("Vault: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SignError::Backend(format!(
                "Vault {what} {}: {status}: {}",
                self.key,
                response.text().await.unwrap_or_default()
            )));
        }
        let body: VaultData<T> = response
            .json()
            .await
            .map_err(|e| SignError::Backend(format!("Vault {what} {}: {e}", self.key)))?;
        Ok(body.data)
    }

    async fn read_key(&self) -> Result<(String, u64, String), SignError> {
        let key: VaultKey = self
            .call(self.http.get(self.url("keys")), "read key")
            .await?;
        let version = key
            .latest_version
            .or_else(|| key.keys.keys().filter_map(|v| v.parse().ok()).max())
            .ok_or_else(|| SignError::Backend("Vault key has no versions".into()))?;
        let public = key
            .keys
            .get(&version.to_string())
            .and_then(|v| v.public_key.clone())
            .ok_or_else(|| SignError::Backend("Vault key has no public key".into()))?;
        let pem = match key.kind.as_str() {
            // Transit returns Ed25519 public keys as base64 of the raw 32 bytes.
            "ed25519" => {
                use ed25519_dalek::pkcs8::EncodePublicKey;
                let raw: [u8; 32] = B64
                    .decode(public.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        SignError::Backend("Vault ed25519 public key is not 32 bytes".into())
                    })?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map_err(|e| SignError::Backend(e.to_string()))?;
                let der = key
                    .to_public_key_der()
                    .map_err(|e| SignError::Key(e.to_string()))?;
                spki_pem(der.as_bytes())
            }
            // …and ECDSA public keys as SPKI PEM.
            "ecdsa-p256" => public,
            other => {
                return Err(SignError::Key(format!(
                    "Vault key type {other} is not supported (ed25519 or ecdsa-p256)"
                )));
            }
        };
        Ok((key.kind, version, pem))
    }
}

fn vault_algorithm(kind: &str) -> &'static str {
    if kind == "ed25519" {
        ED25519
    } else {
        ECDSA_P256_SHA256
    }
}

impl Signer for VaultSigner {
    fn describe(&self) -> String {
        format!("vault:{}/v1/{}/keys/{}", self.address, self.mount, self.key)
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> BoxFuture<'a, Result<SignatureRecord, SignError>> {
        Box::pin(async move {
            let (kind, version, public_key_pem) = self.read_key().await?;
            let mut body = serde_json::json!({ "input": B64.encode(message) });
            let algorithm = vault_algorithm(&kind);
            if algorithm == ECDSA_P256_SHA256 {
                body["hash_algorithm"] = "sha2-256".into();
                body["marshaling_algorithm"] = "asn1".into();
            }
            let signed: VaultSigned = self
                .call(self.http.post(self.url("sign")).json(&body), "sign with")
                .await?;
            // "vault:v<version>:<base64>"
            let signature = signed
                .signature
                .rsplit_once(':')
                .map(|(_, b64)| b64.to_owned())
                .ok_or_else(|| {
                    SignError::Backend("Vault signature is not vault:v<n>:<base64>".into())
                })?;
            Ok(SignatureRecord {
                algorithm: algorithm.into(),
                key_id: format!("vault:{}:v{version}", self.key),
                signature,
                public_key_pem,
            })
        })
    }

    fn identity(&self) -> BoxFuture<'_, Result<SignerIdentity, SignError>> {
        Box::pin(async move {
            let (kind, version, public_key_pem) = self.read_key().await?;
            Ok(SignerIdentity {
                key_id: format!("vault:{}:v{version}", self.key),
                algorithm: vault_algorithm(&kind).into(),
                public_key_pem,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_key_is_generated_once_and_verifies() {
        let dir = std::env::temp_dir().join(format!("signer-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("key.pem");
        let signer = LocalSigner::load_or_generate(&path).unwrap();
        let again = LocalSigner::load_or_generate(&path).unwrap();
        let record = signer.sign(b"manifest").await.unwrap();
        assert_eq!(record.key_id, again.sign(b"x").await.unwrap().key_id);
        let public = signer.identity().await.unwrap().public_key_pem;
        verify(&record, &public, b"manifest").unwrap();
        assert!(verify(&record, &public, b"manifesT").is_err());
        std::fs::remove_dir_all(dir).ok();
    }

    fn temp_key_path() -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("signer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("key.pem"), dir)
    }

    /// RFC 8410 §7: `PrivateKeyInfo` version 0 (v1), no public key.
    #[test]
    fn a_generated_key_is_written_as_pkcs8_v1() {
        use p256::pkcs8::{PrivateKeyInfo, Version, der::Decode, der::pem};
        let (path, dir) = temp_key_path();
        LocalSigner::load_or_generate(&path).unwrap();
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        let (label, der) = pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(label, "PRIVATE KEY");
        let info = PrivateKeyInfo::from_der(&der).unwrap();
        assert_eq!(info.version(), Version::V1);
        assert!(info.public_key.is_none());
        assert_eq!(info.algorithm.oid, ed25519_dalek::pkcs8::ALGORITHM_OID);
        std::fs::remove_dir_all(dir).ok();
    }

    /// `openssl pkey` (OpenSSL 3.0 refused the v2 files written before)
    /// reads the generated key and derives the same public key. `./dev
    /// setup` installs openssl.
    #[test]
    fn openssl_reads_the_generated_key_and_derives_the_same_public_key() {
        let (path, dir) = temp_key_path();
        let signer = LocalSigner::load_or_generate(&path).unwrap();
        let output = std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&path)
            .output()
            .expect("openssl is installed (./dev setup)");
        assert!(
            output.status.success(),
            "openssl pkey refused the key: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            signer.public_key_pem()
        );
        std::fs::remove_dir_all(dir).ok();
    }

    /// Key files written by earlier versions (PKCS#8 v2 with the public key)
    /// keep working: same key, same key id, same signatures.
    #[tokio::test]
    async fn a_pkcs8_v2_key_from_earlier_versions_is_still_read() {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
        let (path, dir) = temp_key_path();
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let v2 = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        write_private(&path, v2.as_bytes()).unwrap();
        let signer = LocalSigner::load_or_generate(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            *v2,
            "left as it was"
        );
        let record = signer.sign(b"manifest").await.unwrap();
        let public = {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            spki_pem(key.verifying_key().to_public_key_der().unwrap().as_bytes())
        };
        assert_eq!(signer.public_key_pem(), public);
        verify(&record, &public, b"manifest").unwrap();
        std::fs::remove_dir_all(dir).ok();
    }
}
