//! The portal's configuration: its own settings ([`PortalConfig`], which
//! the host composes too) and, for its Lambda, the database and the edge.

use std::{sync::Arc, time::Duration};

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig, number};
use numbering_http_edge::{Edge, RateLimiter, config::EdgeConfig};

/// What only the portal reads.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// `NUMBERING_PORTAL_RATE_LIMIT`: requests per second per tenant
    /// (default 100; 0 turns the limit off).
    pub rate_limit: f64,
    /// `NUMBERING_PORTAL_RATE_BURST`: the bucket size (default 200).
    pub rate_burst: u32,
    /// `NUMBERING_SENDER_ID_REGISTRY_URL`: sender-id-registry-service gRPC
    /// (IsVerified), asked before every ALPHA assign; absent: ALPHA assigns
    /// are refused as unavailable.
    pub sender_id_registry_url: Option<String>,
    /// `NUMBERING_PORTAL_ENABLED` (default true): false switches the portal
    /// off, every route answering 503 `PORTAL_DISABLED`, while admins act
    /// for tenants over `/v1/admin/numbering/tenants/{tenant_id}/…`.
    pub enabled: bool,
}

impl PortalConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            rate_limit: number(get, "NUMBERING_PORTAL_RATE_LIMIT", 100.0)?,
            rate_burst: number(get, "NUMBERING_PORTAL_RATE_BURST", 200)?,
            sender_id_registry_url: get("NUMBERING_SENDER_ID_REGISTRY_URL"),
            enabled: flag(get, "NUMBERING_PORTAL_ENABLED", true)?,
        })
    }

    /// `edge` with the portal's rate limit and sender-id registry.
    pub fn apply(&self, mut edge: Edge) -> Result<Edge, ConfigError> {
        edge.registry = numbering_clients::sender_id_registry(
            self.sender_id_registry_url.as_deref(),
            Duration::from_secs(2),
        )
        .map_err(|e| ConfigError(format!("NUMBERING_SENDER_ID_REGISTRY_URL: {e}")))?;
        if self.rate_limit > 0.0 {
            edge.limiter = Some(Arc::new(RateLimiter::new(self.rate_limit, self.rate_burst)));
        }
        edge.portal_enabled = self.enabled;
        Ok(edge)
    }
}

/// `key` as true or false, or `default` when unset.
fn flag(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(key).as_deref().map(str::trim) {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError(format!(
            "{key}={other:?}: expected true or false"
        ))),
    }
}

/// The portal Lambda's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 2.
    pub store: StoreConfig,
    pub edge: EdgeConfig,
    pub portal: PortalConfig,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            edge: EdgeConfig::from_lookup(get)?,
            portal: PortalConfig::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::lambda_config;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        lambda_config(pairs)
    }

    #[test]
    fn the_lambda_pools_two_connections() {
        assert_eq!(config(&[]).unwrap().store.db_max_connections, 2);
    }

    #[test]
    fn portal_rate_limit_defaults_to_100_per_second() {
        assert_eq!(config(&[]).unwrap().portal.rate_limit, 100.0);
        let c = config(&[("NUMBERING_PORTAL_RATE_LIMIT", "0")]).unwrap();
        assert!(
            c.portal
                .apply(Edge::new(numbering_http_edge::Verifier::new("i", "a")))
                .unwrap()
                .limiter
                .is_none()
        );
        assert!(config(&[("NUMBERING_PORTAL_RATE_LIMIT", "fast")]).is_err());
    }

    #[test]
    fn the_portal_is_on_unless_switched_off() {
        assert!(config(&[]).unwrap().portal.enabled);
        let c = config(&[("NUMBERING_PORTAL_ENABLED", "false")]).unwrap();
        let edge = c
            .portal
            .apply(Edge::new(numbering_http_edge::Verifier::new("i", "a")))
            .unwrap();
        assert!(!edge.portal_enabled);
        assert!(config(&[("NUMBERING_PORTAL_ENABLED", "maybe")]).is_err());
    }

    #[test]
    fn portal_rate_burst_defaults_to_200() {
        assert_eq!(config(&[]).unwrap().portal.rate_burst, 200);
        let c = config(&[("NUMBERING_PORTAL_RATE_BURST", "5")]).unwrap();
        assert_eq!(c.portal.rate_burst, 5);
    }

    #[test]
    fn sender_id_registry_url_is_wired_into_the_edge() {
        assert!(config(&[]).unwrap().portal.sender_id_registry_url.is_none());
        let c = config(&[("NUMBERING_SENDER_ID_REGISTRY_URL", "http://registry:50051")]).unwrap();
        assert_eq!(
            c.portal.sender_id_registry_url.as_deref(),
            Some("http://registry:50051")
        );
        let c = config(&[("NUMBERING_SENDER_ID_REGISTRY_URL", "not a url")]).unwrap();
        let err = c
            .portal
            .apply(Edge::new(numbering_http_edge::Verifier::new("i", "a")));
        assert!(
            err.err()
                .unwrap()
                .0
                .contains("NUMBERING_SENDER_ID_REGISTRY_URL")
        );
    }
}
