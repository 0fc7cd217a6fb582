//! Checking a stored export: the manifest's signature with a trusted public
//! key, and every file against the manifest's SHA-256 and size.

use crate::{
    export::{MANIFEST_FILE, SIGNATURE_FILE},
    manifest::Manifest,
    signer::{self, SignatureRecord},
    worm::{WormError, WormStore},
};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Worm(#[from] WormError),
    #[error("{0} is not valid: {1}")]
    Malformed(&'static str, String),
    #[error("the manifest's signature does not verify: {0}")]
    Signature(#[from] signer::SignError),
    #[error("{name}: SHA-256 {actual} does not match the manifest's {expected}")]
    Checksum {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{name}: {actual} bytes, the manifest says {expected}")]
    Size {
        name: String,
        expected: u64,
        actual: u64,
    },
}

/// What a successful verification saw.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub signature: SignatureRecord,
}

/// Verifies the export stored under `prefix` (`<period>/v<version>`)
/// against `public_key_pem`.
pub async fn verify_stored(
    store: &dyn WormStore,
    prefix: &str,
    public_key_pem: &str,
) -> Result<Verified, VerifyError> {
    let manifest_bytes = store.get(&format!("{prefix}/{MANIFEST_FILE}")).await?;
    let signature: SignatureRecord =
        serde_json::from_slice(&store.get(&format!("{prefix}/{SIGNATURE_FILE}")).await?)
            .map_err(|e| VerifyError::Malformed(SIGNATURE_FILE, e.to_string()))?;
    signer::verify(&signature, public_key_pem, &manifest_bytes)?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| VerifyError::Malformed(MANIFEST_FILE, e.to_string()))?;
    for file in &manifest.files {
        let (actual, size) = store.sha256(&format!("{prefix}/{}", file.name)).await?;
        if actual != file.sha256 {
            return Err(VerifyError::Checksum {
                name: file.name.clone(),
                expected: file.sha256.clone(),
                actual,
            });
        }
        if size != file.bytes {
            return Err(VerifyError::Size {
                name: file.name.clone(),
                expected: file.bytes,
                actual: size,
            });
        }
    }
    Ok(Verified {
        manifest,
        signature,
    })
}
