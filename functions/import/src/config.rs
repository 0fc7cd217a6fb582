//! The import's configuration: its [`Limits`] (which the host and the
//! admin upload read too) and, for the S3-triggered Lambda, the database.

use numbering_clients::config::{ConfigError, StoreConfig, env, non_empty};

use crate::Limits;

impl Limits {
    /// The defaults, with `NUMBERING_IMPORT_MAX_BYTES` applied. The same
    /// variable bounds every trigger (upload body, bucket object, CLI file).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut limits = Self::default();
        if let Some(v) = get("NUMBERING_IMPORT_MAX_BYTES") {
            limits.max_bytes = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!(
                    "NUMBERING_IMPORT_MAX_BYTES={v:?} is not a byte count"
                ))
            })?;
        }
        Ok(limits)
    }
}

/// The `import-s3` Lambda's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 2.
    pub store: StoreConfig,
    pub limits: Limits,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&non_empty(env))
    }

    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            limits: Limits::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::from_pairs;

    #[test]
    fn database_url_is_required_by_the_lambda() {
        let err = Config::from_lookup(&from_pairs(&[])).unwrap_err();
        assert_eq!(err.0, "DATABASE_URL is not set");
    }

    #[test]
    fn import_max_bytes_defaults_to_128_mib_and_must_be_a_positive_count() {
        let limits =
            |v: &str| Limits::from_lookup(&from_pairs(&[("NUMBERING_IMPORT_MAX_BYTES", v)]));
        assert_eq!(limits("").unwrap().max_bytes, 128 << 20);
        assert_eq!(limits("1024").unwrap().max_bytes, 1024);
        for bad in ["0", "lots"] {
            let err = limits(bad).unwrap_err();
            assert!(err.0.contains("NUMBERING_IMPORT_MAX_BYTES"), "{err}");
        }
    }
}
