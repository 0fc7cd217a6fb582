//! `numbering serve`'s configuration, parsed once at start-up: the
//! functions' own configurations (the same parsers, defaults and variables
//! their Lambdas read), composed, plus what only the host reads.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Result, bail};
use numbering_clients::config::{StoreConfig, non_empty, number};
use numbering_export::config::ExportConfig;
use numbering_http_edge::config::EdgeConfig;
use numbering_import::Limits;
use numbering_lifecycle_sweeper::config::BillingConfig;
use numbering_portal_api::config::PortalConfig;
use numbering_validate_lease::config::{GrpcTlsConfig, HotPathConfig};

pub use numbering_http_edge::config::JwtConfig;

/// Everything `numbering serve` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// `NUMBERING_LISTEN`: REST and gRPC on one port (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// `DATABASE_URL` (absent: the embedded cluster under `data_dir`),
    /// `NUMBERING_DB_ROLE`, `NUMBERING_DB_MAX_CONNECTIONS` (default 32) and
    /// the lifecycle policy (`NUMBERING_RESERVATION_TTL`, …,
    /// `NUMBERING_COOLOFF_<KIND>_<REASON>`).
    pub store: StoreConfig,
    /// `NUMBERING_DATA_DIR`: where embedded services keep their state (default `.numbering`).
    pub data_dir: PathBuf,
    /// `NUMBERING_DEMO_DATA`: seed demo tenants and inventory (default: on for the embedded database).
    pub demo_data: bool,
    /// Token verification, the body limit and the access log.
    pub edge: EdgeConfig,
    /// The portal's rate limit and sender-id registry.
    pub portal: PortalConfig,
    /// `NUMBERING_AUDIT_SEAL_INTERVAL_MS` (default 250).
    pub audit_seal_interval_ms: u64,
    /// `NUMBERING_AUDIT_VERIFY_INTERVAL`, `NUMBERING_AUDIT_MAINTENANCE_INTERVAL`, ….
    pub audit_jobs: crate::audit_jobs::AuditJobsConfig,
    /// `NATS_URL`; absent: a private `nats-server -js` under `data_dir`.
    pub nats_url: Option<String>,
    /// `NUMBERING_BILLING_URL`, for the sweeper's renewals.
    pub billing: BillingConfig,
    /// `NUMBERING_INBOUND_STREAM`: the existing JetStream stream holding the
    /// inbound compliance / sender-id / billing subjects; absent: the
    /// consumers create `NUMBERING_INBOUND` for them (embedded default).
    pub inbound_stream: Option<String>,
    /// The hot path's read tiers (a read-only pool of 8 by default).
    pub hot_path: HotPathConfig,
    /// mTLS for gRPC; when set, ValidateLease and Lookup are served only there.
    pub grpc_tls: Option<GrpcTlsConfig>,
    /// The regulator export's signer and WORM store.
    pub export: ExportConfig,
    /// `NUMBERING_IMPORT_MAX_BYTES`, for `numbering import`.
    pub import: Limits,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Parses configuration from any key lookup (the environment in
    /// production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = &non_empty(get);
        let listen = get("NUMBERING_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen
            .parse()
            .map_err(|_| anyhow::anyhow!("NUMBERING_LISTEN={listen:?} is not host:port"))?;
        let store = StoreConfig::from_lookup(get, 32)?;
        let demo_data = match get("NUMBERING_DEMO_DATA").as_deref() {
            None => !store.names_a_database(),
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => bail!("NUMBERING_DEMO_DATA={other:?}: expected true or false"),
        };
        Ok(Self {
            listen,
            store,
            data_dir: get("NUMBERING_DATA_DIR")
                .unwrap_or_else(|| ".numbering".into())
                .into(),
            demo_data,
            edge: EdgeConfig::from_lookup(get)?,
            portal: PortalConfig::from_lookup(get)?,
            audit_seal_interval_ms: number(get, "NUMBERING_AUDIT_SEAL_INTERVAL_MS", 250)?,
            audit_jobs: crate::audit_jobs::AuditJobsConfig::from_lookup(get)?,
            nats_url: get("NATS_URL"),
            billing: BillingConfig::from_lookup(get),
            inbound_stream: get("NUMBERING_INBOUND_STREAM"),
            hot_path: HotPathConfig::from_lookup(get, 8)?,
            grpc_tls: GrpcTlsConfig::from_lookup(get)?,
            export: ExportConfig::from_lookup(get)?,
            import: Limits::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_shared::{IdentifierKind, QuarantineReason};
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_configuration_means_embedded_defaults_with_demo_data() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.store.database_url.is_none());
        assert!(c.demo_data);
        assert_eq!(c.store.db_role.as_deref(), Some("numbering_app"));
    }

    #[test]
    fn cool_off_can_be_set_per_kind_and_reason_but_not_below_the_floor() {
        let c = config(&[("NUMBERING_COOLOFF_MSISDN_RELEASED", "120d")]).unwrap();
        let d = c
            .store
            .policy
            .cool_off
            .cool_off(IdentifierKind::Msisdn, QuarantineReason::Released);
        assert_eq!(d, chrono::Duration::days(120));
        let err = config(&[("NUMBERING_COOLOFF_ALPHA_RECALLED", "1h")]).unwrap_err();
        assert!(
            format!("{err:#}").contains("NUMBERING_COOLOFF_ALPHA_RECALLED"),
            "{err:#}"
        );
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (k, v) in [
            ("NUMBERING_LISTEN", "nowhere"),
            ("NUMBERING_HOLD_TTL", "3 weeks"),
            ("NUMBERING_DEMO_DATA", "maybe"),
        ] {
            let err = config(&[(k, v)]).unwrap_err();
            assert!(format!("{err:#}").contains(k), "{err:#}");
        }
    }

    #[test]
    fn allowed_callers_are_exact_identities_and_a_pattern_is_refused() {
        let tls = [
            ("NUMBERING_GRPC_TLS_LISTEN", "127.0.0.1:8443"),
            ("NUMBERING_TLS_CERT", "c.pem"),
            ("NUMBERING_TLS_KEY", "k.pem"),
            ("NUMBERING_TLS_CLIENT_CA", "ca.pem"),
        ];
        let with = |callers: &str| {
            let mut vars = tls.to_vec();
            vars.push(("NUMBERING_GRPC_ALLOWED_CALLERS", callers));
            config(&vars)
        };
        let c = config(&tls).unwrap();
        assert_eq!(c.grpc_tls.unwrap().allowed_callers.len(), 6);
        let c = with("sms-orchestrator=spiffe://ghasi.af/ns/sms/sms-orchestrator,routing-engine")
            .unwrap();
        assert_eq!(c.grpc_tls.unwrap().allowed_callers.len(), 2);
        for pattern in ["*.ghasi.af", "sms-orchestrator=https://ghasi.af/x", ","] {
            let err = with(pattern).unwrap_err();
            assert!(
                format!("{err:#}").contains("NUMBERING_GRPC_ALLOWED_CALLERS"),
                "{pattern}: {err:#}"
            );
        }
    }
}
