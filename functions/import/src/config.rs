//! The import's configuration: its [`Limits`] (which the host and the
//! admin upload read too) and, for the S3-triggered Lambda, the database.

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig};

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

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            limits: Limits::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::lambda_config;

    #[test]
    fn import_max_bytes_defaults_to_128_mib_and_must_be_a_positive_count() {
        let limits = |v: &str| {
            lambda_config::<Config>(&[("NUMBERING_IMPORT_MAX_BYTES", v)]).map(|c| c.limits)
        };
        assert_eq!(limits("").unwrap().max_bytes, 128 << 20);
        assert_eq!(limits("1024").unwrap().max_bytes, 1024);
        for bad in ["0", "lots"] {
            let err = limits(bad).unwrap_err();
            assert!(err.0.contains("NUMBERING_IMPORT_MAX_BYTES"), "{err}");
        }
    }
}
