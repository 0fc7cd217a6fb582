//! The admin Lambda's configuration: the database, the edge and the
//! regulator export's signer and store (the admin export routes).

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig};
use numbering_export::config::ExportConfig;
use numbering_http_edge::config::EdgeConfig;

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 2.
    pub store: StoreConfig,
    pub edge: EdgeConfig,
    pub export: ExportConfig,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            edge: EdgeConfig::from_lookup(get)?,
            export: ExportConfig::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::lambda_config;

    #[test]
    fn the_edge_and_export_variables_are_the_hosts() {
        let c: Config = lambda_config(&[
            ("NUMBERING_JWT_ISSUER", "https://id"),
            ("NUMBERING_EXPORT_STORE", "s3://exports/x"),
        ])
        .unwrap();
        assert_eq!(c.edge.jwt.issuer, "https://id");
        assert_eq!(c.export.store.as_deref(), Some("s3://exports/x"));
        assert_eq!(c.store.db_max_connections, 2);
    }
}
