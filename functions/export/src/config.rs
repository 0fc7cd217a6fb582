//! The export's signer and WORM store, chosen by the environment:
//!
//! - `NUMBERING_EXPORT_STORE`: `s3://bucket[/prefix]` (S3 with Object Lock,
//!   AWS SDK environment) or a directory path; default `<data dir>/exports`.
//! - `NUMBERING_EXPORT_SIGNER`: `local` (default), `kms:<key id or ARN>`, or
//!   `vault:<transit key>` (with `VAULT_ADDR`, `VAULT_TOKEN` and optionally
//!   `NUMBERING_EXPORT_VAULT_MOUNT`, default `transit`).
//! - `NUMBERING_EXPORT_SIGNING_KEY`: the local signer's Ed25519 PKCS#8 PEM;
//!   default `<data dir>/export-signing-key.pem`, generated when absent.

use std::{path::Path, sync::Arc};

use crate::{
    export::ExportTools,
    signer::{KmsSigner, LocalSigner, Signer, VaultSigner},
    worm::{LocalDirWorm, S3Worm, WormStore},
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Key(#[from] crate::signer::SignError),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The WORM store named by `NUMBERING_EXPORT_STORE`.
pub async fn store_from_env(data_dir: &Path) -> Result<Arc<dyn WormStore>, ConfigError> {
    match env("NUMBERING_EXPORT_STORE") {
        Some(uri) if uri.starts_with("s3://") => {
            let config = numbering_clients::aws::sdk_config_from_env().await;
            S3Worm::from_uri(S3Worm::client_for(&config), &uri)
                .map(|s| Arc::new(s) as Arc<dyn WormStore>)
                .ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "NUMBERING_EXPORT_STORE={uri}: s3://bucket[/prefix]"
                    ))
                })
        }
        Some(dir) => Ok(Arc::new(LocalDirWorm::new(
            dir.strip_prefix("file://").unwrap_or(&dir),
        ))),
        None => Ok(Arc::new(LocalDirWorm::new(data_dir.join("exports")))),
    }
}

/// The signer named by `NUMBERING_EXPORT_SIGNER`.
pub async fn signer_from_env(data_dir: &Path) -> Result<Arc<dyn Signer>, ConfigError> {
    let spec = env("NUMBERING_EXPORT_SIGNER").unwrap_or_else(|| "local".into());
    if spec == "local" {
        let path = env("NUMBERING_EXPORT_SIGNING_KEY")
            .map(Into::into)
            .unwrap_or_else(|| data_dir.join("export-signing-key.pem"));
        return Ok(Arc::new(LocalSigner::load_or_generate(&path)?));
    }
    if let Some(key) = spec.strip_prefix("kms:") {
        let config = numbering_clients::aws::sdk_config_from_env().await;
        return Ok(Arc::new(KmsSigner::new(
            aws_sdk_kms::Client::new(&config),
            key,
        )));
    }
    if let Some(key) = spec.strip_prefix("vault:") {
        let address = env("VAULT_ADDR")
            .ok_or_else(|| ConfigError::Invalid("the vault signer needs VAULT_ADDR".into()))?;
        let token = env("VAULT_TOKEN")
            .ok_or_else(|| ConfigError::Invalid("the vault signer needs VAULT_TOKEN".into()))?;
        let signer = VaultSigner::new(&address, token, key);
        return Ok(Arc::new(match env("NUMBERING_EXPORT_VAULT_MOUNT") {
            Some(mount) => signer.with_mount(&mount),
            None => signer,
        }));
    }
    Err(ConfigError::Invalid(format!(
        "NUMBERING_EXPORT_SIGNER={spec}: local, kms:<key id> or vault:<transit key>"
    )))
}

/// Both, from the environment.
pub async fn tools_from_env(data_dir: &Path) -> Result<ExportTools, ConfigError> {
    Ok(ExportTools {
        signer: signer_from_env(data_dir).await?,
        store: store_from_env(data_dir).await?,
    })
}
