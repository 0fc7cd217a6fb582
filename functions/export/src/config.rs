//! The export's configuration: its signer and WORM store ([`ExportConfig`],
//! which the host and the admin Lambda compose too) and, for the scheduled
//! Lambda, the database.
//!
//! - `NUMBERING_EXPORT_STORE`: `s3://bucket[/prefix]` (S3 with Object Lock,
//!   AWS SDK environment) or a directory path; default `<data dir>/exports`.
//! - `NUMBERING_EXPORT_SIGNER`: `local` (default), `kms:<key id or ARN>`, or
//!   `vault:<transit key>` (with `VAULT_ADDR`, `VAULT_TOKEN` and optionally
//!   `NUMBERING_EXPORT_VAULT_MOUNT`, default `transit`).
//! - `NUMBERING_EXPORT_SIGNING_KEY`: the local signer's Ed25519 PKCS#8 PEM;
//!   default `<data dir>/export-signing-key.pem`, generated when absent.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig};

use crate::{
    export::ExportTools,
    signer::{KmsSigner, LocalSigner, Signer, VaultSigner},
    worm::{LocalDirWorm, S3Worm, WormStore},
};

/// Who signs the manifest (`NUMBERING_EXPORT_SIGNER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerConfig {
    /// An Ed25519 key file (`NUMBERING_EXPORT_SIGNING_KEY`; `None`: under
    /// the data directory).
    Local { key: Option<PathBuf> },
    /// An AWS KMS key.
    Kms { key: String },
    /// A Vault Transit key.
    Vault {
        address: String,
        token: String,
        key: String,
        mount: Option<String>,
    },
}

/// The signer and the WORM store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// `NUMBERING_EXPORT_STORE` (`None`: `<data dir>/exports`).
    pub store: Option<String>,
    pub signer: SignerConfig,
}

impl ExportConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let store = get("NUMBERING_EXPORT_STORE");
        if let Some(uri) = store.as_deref().filter(|u| u.starts_with("s3://")) {
            let bucket = uri["s3://".len()..].split('/').next().unwrap_or_default();
            if bucket.is_empty() {
                return Err(ConfigError(format!(
                    "NUMBERING_EXPORT_STORE={uri}: s3://bucket[/prefix]"
                )));
            }
        }
        let spec = get("NUMBERING_EXPORT_SIGNER").unwrap_or_else(|| "local".into());
        let need =
            |k: &str| get(k).ok_or_else(|| ConfigError(format!("the vault signer needs {k}")));
        let signer = if spec == "local" {
            SignerConfig::Local {
                key: get("NUMBERING_EXPORT_SIGNING_KEY").map(PathBuf::from),
            }
        } else if let Some(key) = spec.strip_prefix("kms:") {
            SignerConfig::Kms {
                key: key.to_owned(),
            }
        } else if let Some(key) = spec.strip_prefix("vault:") {
            SignerConfig::Vault {
                address: need("VAULT_ADDR")?,
                token: need("VAULT_TOKEN")?,
                key: key.to_owned(),
                mount: get("NUMBERING_EXPORT_VAULT_MOUNT"),
            }
        } else {
            return Err(ConfigError(format!(
                "NUMBERING_EXPORT_SIGNER={spec}: local, kms:<key id> or vault:<transit key>"
            )));
        };
        Ok(Self { store, signer })
    }

    /// The WORM store; a directory store under `data_dir` by default.
    pub async fn worm_store(&self, data_dir: &Path) -> Result<Arc<dyn WormStore>, ConfigError> {
        Ok(match &self.store {
            Some(uri) if uri.starts_with("s3://") => {
                let config = numbering_clients::aws::sdk_config_from_env().await;
                let store =
                    S3Worm::from_uri(S3Worm::client_for(&config), uri).ok_or_else(|| {
                        ConfigError(format!(
                            "NUMBERING_EXPORT_STORE={uri}: s3://bucket[/prefix]"
                        ))
                    })?;
                Arc::new(store)
            }
            Some(dir) => Arc::new(LocalDirWorm::new(
                dir.strip_prefix("file://").unwrap_or(dir),
            )),
            None => Arc::new(LocalDirWorm::new(data_dir.join("exports"))),
        })
    }

    /// The signer; the local one's key under `data_dir` by default
    /// (generated when absent).
    pub async fn signer(&self, data_dir: &Path) -> Result<Arc<dyn Signer>, ConfigError> {
        Ok(match &self.signer {
            SignerConfig::Local { key } => {
                let path = key
                    .clone()
                    .unwrap_or_else(|| data_dir.join("export-signing-key.pem"));
                let signer = LocalSigner::load_or_generate(&path).map_err(|e| {
                    ConfigError(format!("the export signing key {}: {e}", path.display()))
                })?;
                Arc::new(signer)
            }
            SignerConfig::Kms { key } => {
                let config = numbering_clients::aws::sdk_config_from_env().await;
                Arc::new(KmsSigner::new(aws_sdk_kms::Client::new(&config), key))
            }
            SignerConfig::Vault {
                address,
                token,
                key,
                mount,
            } => {
                let signer = VaultSigner::new(address, token.clone(), key);
                Arc::new(match mount {
                    Some(mount) => signer.with_mount(mount),
                    None => signer,
                })
            }
        })
    }

    /// Both.
    pub async fn tools(&self, data_dir: &Path) -> Result<ExportTools, ConfigError> {
        Ok(ExportTools {
            signer: self.signer(data_dir).await?,
            store: self.worm_store(data_dir).await?,
        })
    }
}

/// The scheduled export Lambda's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 4.
    pub store: StoreConfig,
    pub export: ExportConfig,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 4)?.required()?,
            export: ExportConfig::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::{from_pairs, lambda_config};

    fn export(pairs: &[(&str, &str)]) -> Result<ExportConfig, ConfigError> {
        ExportConfig::from_lookup(&from_pairs(pairs))
    }

    #[test]
    fn the_lambda_pools_four_connections() {
        let c: Config = lambda_config(&[]).unwrap();
        assert_eq!(c.store.db_max_connections, 4);
    }

    #[test]
    fn export_store_is_a_bucket_or_a_directory() {
        assert_eq!(export(&[]).unwrap().store, None);
        let c = export(&[("NUMBERING_EXPORT_STORE", "s3://b/exports")]).unwrap();
        assert_eq!(c.store.as_deref(), Some("s3://b/exports"));
        let err = export(&[("NUMBERING_EXPORT_STORE", "s3://")]).unwrap_err();
        assert!(err.0.contains("NUMBERING_EXPORT_STORE"), "{err}");
    }

    #[test]
    fn export_signer_is_local_kms_or_vault() {
        assert_eq!(
            export(&[]).unwrap().signer,
            SignerConfig::Local { key: None }
        );
        let c = export(&[("NUMBERING_EXPORT_SIGNER", "kms:arn:k")]).unwrap();
        assert_eq!(
            c.signer,
            SignerConfig::Kms {
                key: "arn:k".into()
            }
        );
        let err = export(&[("NUMBERING_EXPORT_SIGNER", "hsm")]).unwrap_err();
        assert!(err.0.contains("NUMBERING_EXPORT_SIGNER"), "{err}");
    }

    #[test]
    fn export_signing_key_names_the_local_key_file() {
        let c = export(&[("NUMBERING_EXPORT_SIGNING_KEY", "/k.pem")]).unwrap();
        assert_eq!(
            c.signer,
            SignerConfig::Local {
                key: Some("/k.pem".into())
            }
        );
    }

    #[test]
    fn the_vault_signer_needs_vault_addr_and_vault_token_and_may_name_its_mount() {
        let vault = [
            ("NUMBERING_EXPORT_SIGNER", "vault:export"),
            ("VAULT_ADDR", "http://v:8200"),
        ];
        let err = export(&vault).unwrap_err();
        assert!(err.0.contains("VAULT_TOKEN"), "{err}");
        let mut all = vault.to_vec();
        all.extend([
            ("VAULT_TOKEN", "t"),
            ("NUMBERING_EXPORT_VAULT_MOUNT", "sign"),
        ]);
        let SignerConfig::Vault { mount, .. } = export(&all).unwrap().signer else {
            panic!("a vault signer")
        };
        assert_eq!(mount.as_deref(), Some("sign"));
    }
}
