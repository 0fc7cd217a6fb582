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
    /// The admin API's two-person rule (`NUMBERING_TWO_PERSON_ACTIONS`, …).
    pub two_person: numbering_admin_api::config::TwoPersonConfig,
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
    /// `NUMBERING_REGION` (`kbl`, `mzr`; unset: one region). Read again by
    /// `numbering_clients::region::current` for logs, metrics, `/readyz`
    /// and envelopes; parsed here so that a wrong value stops the start.
    pub region: Option<numbering_shared::Region>,
    /// `NUMBERING_EXPORT_SCHEDULE_ENABLED` (default true): `serve` runs the
    /// monthly regulator export; false where a CronJob runs `numbering
    /// export scheduled` instead (infra/k8s), so suspending it stops them all.
    pub export_schedule: bool,
    /// `NUMBERING_SHUTDOWN_DRAIN` (default 20s): in-flight requests'
    /// time after SIGTERM ([`crate::drain`]).
    pub shutdown_drain: std::time::Duration,
    /// `NUMBERING_OPS_LISTEN`: `/healthz`, `/readyz` and `/metrics` also on
    /// a port of their own (default: only on `NUMBERING_LISTEN`).
    pub ops_listen: Option<SocketAddr>,
    /// `NUMBERING_TLS_RELOAD_INTERVAL` (default 10s): how often the mTLS
    /// files are checked for a rotated certificate.
    pub tls_reload_every: std::time::Duration,
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
            two_person: numbering_admin_api::config::TwoPersonConfig::from_lookup(get)?,
            audit_seal_interval_ms: number(get, "NUMBERING_AUDIT_SEAL_INTERVAL_MS", 250)?,
            audit_jobs: crate::audit_jobs::AuditJobsConfig::from_lookup(get)?,
            nats_url: get("NATS_URL"),
            billing: BillingConfig::from_lookup(get),
            inbound_stream: get("NUMBERING_INBOUND_STREAM"),
            hot_path: HotPathConfig::from_lookup(get, 8)?,
            grpc_tls: GrpcTlsConfig::from_lookup(get)?,
            export: ExportConfig::from_lookup(get)?,
            import: Limits::from_lookup(get)?,
            region: numbering_clients::region::from_lookup(get).map_err(anyhow::Error::msg)?,
            export_schedule: flag(get, "NUMBERING_EXPORT_SCHEDULE_ENABLED", true)?,
            shutdown_drain: positive(get, "NUMBERING_SHUTDOWN_DRAIN", 20)?,
            tls_reload_every: positive(get, "NUMBERING_TLS_RELOAD_INTERVAL", 10)?,
            ops_listen: match get("NUMBERING_OPS_LISTEN") {
                None => None,
                Some(v) => {
                    Some(v.parse().map_err(|_| {
                        anyhow::anyhow!("NUMBERING_OPS_LISTEN={v:?} is not host:port")
                    })?)
                }
            },
        })
    }
}

/// A boolean setting: true / false (also 1 / 0, yes / no, on / off).
fn flag(get: &impl Fn(&str) -> Option<String>, key: &str, default: bool) -> Result<bool> {
    match get(key).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => bail!("{key}={other:?}: expected true or false"),
    }
}

/// A positive duration such as `20s` or `1m` (default in seconds).
fn positive(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default_secs: u64,
) -> Result<std::time::Duration> {
    let Some(v) = get(key) else {
        return Ok(std::time::Duration::from_secs(default_secs));
    };
    numbering_shared::policy::parse_duration(&v)
        .ok()
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{key}={v:?} is not a positive duration like 20s"))
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
    fn the_export_schedule_runs_in_process_unless_turned_off() {
        assert!(config(&[]).unwrap().export_schedule);
        let off = config(&[("NUMBERING_EXPORT_SCHEDULE_ENABLED", "false")]).unwrap();
        assert!(!off.export_schedule);
        let drain = config(&[("NUMBERING_SHUTDOWN_DRAIN", "45s")]).unwrap();
        assert_eq!(drain.shutdown_drain, std::time::Duration::from_secs(45));
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
            ("NUMBERING_EXPORT_SCHEDULE_ENABLED", "sometimes"),
            ("NUMBERING_SHUTDOWN_DRAIN", "0s"),
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
