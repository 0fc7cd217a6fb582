//! Configuration from the environment, parsed once at start-up.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result, bail};
use numbering_shared::{LifecyclePolicy, policy::parse_duration};

/// Everything `numbering serve` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// `NUMBERING_LISTEN`: REST and gRPC on one port (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// `DATABASE_URL`; absent: the embedded cluster under `data_dir`.
    pub database_url: Option<String>,
    /// `NUMBERING_DB_ROLE`: role to `SET ROLE` to after connecting (default
    /// `numbering_app`; empty when the login role already is the app role).
    pub db_role: Option<String>,
    /// `NUMBERING_DB_MAX_CONNECTIONS` (default 32).
    pub db_max_connections: u32,
    /// `NUMBERING_DATA_DIR`: where embedded services keep their state (default `.numbering`).
    pub data_dir: PathBuf,
    /// `NUMBERING_DEMO_DATA`: seed demo tenants and inventory (default: on for the embedded database).
    pub demo_data: bool,
    /// `NUMBERING_JWT_HS256_SECRET`, `NUMBERING_JWT_ISSUER`, `NUMBERING_JWT_AUDIENCE`.
    pub jwt: JwtConfig,
    /// `NUMBERING_RESERVATION_TTL`, `NUMBERING_HOLD_TTL`, `NUMBERING_LEASE_TERM`,
    /// `NUMBERING_COOLOFF_<KIND>_<REASON>` (e.g. `NUMBERING_COOLOFF_MSISDN_RELEASED=90d`).
    pub policy: LifecyclePolicy,
    /// `NUMBERING_AUDIT_SEAL_INTERVAL_MS` (default 250).
    pub audit_seal_interval_ms: u64,
    /// `NUMBERING_AUDIT_VERIFY_INTERVAL`, `NUMBERING_AUDIT_MAINTENANCE_INTERVAL`.
    pub audit_jobs: crate::audit_jobs::AuditJobsConfig,
    /// `NUMBERING_HTTP_BODY_LIMIT`: largest REST request body in bytes (default 65536).
    pub http_body_limit: usize,
    /// `NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE`: the access log keeps one in N
    /// hot-path requests (default 100; 0: none).
    pub access_log: numbering_http_edge::AccessLog,
    /// `NUMBERING_PORTAL_RATE_LIMIT` (requests per second per tenant, default 100)
    /// and `NUMBERING_PORTAL_RATE_BURST` (bucket size, default 200); a rate of 0 turns it off.
    pub portal_rate_limit: f64,
    pub portal_rate_burst: u32,
    /// `NATS_URL`; absent: a private `nats-server -js` under `data_dir`.
    pub nats_url: Option<String>,
    /// `NUMBERING_BILLING_URL`: billing-service gRPC (PreviewCharge); absent:
    /// renewals wait (billing counts as unreachable).
    pub billing_url: Option<String>,
    /// `NUMBERING_INBOUND_STREAM`: the existing JetStream stream holding the
    /// inbound compliance / sender-id / billing subjects; absent: the
    /// consumers create `NUMBERING_INBOUND` for them (embedded default).
    pub inbound_stream: Option<String>,
    /// `NUMBERING_SENDER_ID_REGISTRY_URL`: sender-id-registry-service gRPC
    /// (IsVerified), asked before every ALPHA assign; absent: ALPHA assigns
    /// are refused as unavailable.
    pub sender_id_registry_url: Option<String>,
    /// The hot path's read tiers.
    pub hot_path: HotPathConfig,
    /// mTLS for gRPC; when set, ValidateLease and Lookup are served only there.
    pub grpc_tls: Option<GrpcTlsConfig>,
}

/// `NUMBERING_LEASE_CACHE_TABLE` (DynamoDB tier on when set; endpoint,
/// region and credentials from the AWS SDK's standard variables such as
/// `AWS_ENDPOINT_URL`), `NUMBERING_CACHE_TTL_MS` (2000),
/// `NUMBERING_CACHE_NEGATIVE_TTL_MS` (500), `NUMBERING_CACHE_CAPACITY`
/// (1000000), `NUMBERING_DYNAMODB_DEADLINE_MS` (50),
/// `NUMBERING_POSTGRES_DEADLINE_MS` (500), `NUMBERING_DYNAMODB_ITEM_VALIDITY` (30s),
/// `NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS` (8).
#[derive(Debug, Clone)]
pub struct HotPathConfig {
    pub lease_cache_table: Option<String>,
    /// Size of the Postgres tier's own read-only pool.
    pub db_max_connections: u32,
    pub tiers: numbering_validate_lease::TierConfig,
    pub dynamo_item_validity: std::time::Duration,
}

/// `NUMBERING_GRPC_TLS_LISTEN`, `NUMBERING_TLS_CERT`, `NUMBERING_TLS_KEY`,
/// `NUMBERING_TLS_CLIENT_CA` (PEM files) and `NUMBERING_GRPC_ALLOWED_CALLERS`
/// (comma-separated `caller=identity`, the identity a SPIFFE ID or a DNS
/// name matched exactly; default: the six callers of SPEC §1 by their bare
/// names).
#[derive(Debug, Clone)]
pub struct GrpcTlsConfig {
    pub listen: SocketAddr,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    pub client_ca_pem: PathBuf,
    pub allowed_callers: numbering_validate_lease::mtls::CallerAllowlist,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub hs256_secret: Option<String>,
    /// `NUMBERING_JWT_JWKS_FILE`: a JWKS (RS256 / ES256 / EdDSA public keys) to accept tokens from.
    pub jwks_file: Option<PathBuf>,
    /// `NUMBERING_JWT_JWKS`: the same, inline.
    pub jwks: Option<String>,
    /// `NUMBERING_JWT_JWKS_URL`: the identity provider's JWKS endpoint,
    /// refetched every `NUMBERING_JWT_JWKS_MAX_AGE` (default 5m) and on an
    /// unknown `kid`.
    pub jwks_url: Option<String>,
    pub jwks_max_age: std::time::Duration,
    pub issuer: String,
    pub audience: String,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Parses configuration from any key lookup (the environment in
    /// production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let listen = get("NUMBERING_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen
            .parse()
            .with_context(|| format!("NUMBERING_LISTEN={listen:?} is not host:port"))?;
        let database_url = get("DATABASE_URL");
        let db_role = match get("NUMBERING_DB_ROLE") {
            Some(r) if r == "-" => None,
            Some(r) => Some(r),
            None => Some("numbering_app".into()),
        };
        let db_max_connections = parse_num(&get, "NUMBERING_DB_MAX_CONNECTIONS", 32)?;
        let data_dir = get("NUMBERING_DATA_DIR")
            .unwrap_or_else(|| ".numbering".into())
            .into();
        let demo_data = match get("NUMBERING_DEMO_DATA").as_deref() {
            None => database_url.is_none(),
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => bail!("NUMBERING_DEMO_DATA={other:?}: expected true or false"),
        };
        let jwt = JwtConfig {
            hs256_secret: get("NUMBERING_JWT_HS256_SECRET"),
            jwks_file: get("NUMBERING_JWT_JWKS_FILE").map(PathBuf::from),
            jwks: get("NUMBERING_JWT_JWKS"),
            jwks_url: get("NUMBERING_JWT_JWKS_URL"),
            jwks_max_age: match get("NUMBERING_JWT_JWKS_MAX_AGE") {
                Some(v) => parse_duration(&v)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .with_context(|| {
                        format!("NUMBERING_JWT_JWKS_MAX_AGE={v:?} is not a duration")
                    })?,
                None => numbering_http_edge::auth::DEFAULT_JWKS_MAX_AGE,
            },
            issuer: get("NUMBERING_JWT_ISSUER").unwrap_or_else(|| "numbering-dev".into()),
            audience: get("NUMBERING_JWT_AUDIENCE").unwrap_or_else(|| "numbering".into()),
        };
        let policy = LifecyclePolicy::from_lookup(get)?;
        let duration = |k: &str| -> Result<Option<chrono::Duration>> {
            get(k)
                .map(|v| parse_duration(&v).with_context(|| format!("{k}={v:?}")))
                .transpose()
        };
        let audit_seal_interval_ms = parse_num(&get, "NUMBERING_AUDIT_SEAL_INTERVAL_MS", 250)?;
        let audit_jobs = crate::audit_jobs::AuditJobsConfig::from_lookup(&get)?;
        let ms = |k: &str, default: u64| {
            parse_num(&get, k, default).map(std::time::Duration::from_millis)
        };
        let tiers = numbering_validate_lease::TierConfig {
            local_capacity: parse_num(&get, "NUMBERING_CACHE_CAPACITY", 1_000_000)?,
            local_ttl: ms("NUMBERING_CACHE_TTL_MS", 2000)?,
            negative_ttl: ms("NUMBERING_CACHE_NEGATIVE_TTL_MS", 500)?,
            dynamo_deadline: ms("NUMBERING_DYNAMODB_DEADLINE_MS", 50)?,
            postgres_deadline: ms("NUMBERING_POSTGRES_DEADLINE_MS", 500)?,
            dynamo_backoff: std::time::Duration::from_secs(1),
        };
        let dynamo_item_validity = duration("NUMBERING_DYNAMODB_ITEM_VALIDITY")?
            .and_then(|d| d.to_std().ok())
            .unwrap_or(std::time::Duration::from_secs(30));
        let hot_path = HotPathConfig {
            lease_cache_table: get("NUMBERING_LEASE_CACHE_TABLE"),
            db_max_connections: parse_num(&get, "NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS", 8)?,
            tiers,
            dynamo_item_validity,
        };
        let grpc_tls = match get("NUMBERING_GRPC_TLS_LISTEN") {
            None => None,
            Some(listen) => {
                let need = |k: &str| {
                    get(k)
                        .map(PathBuf::from)
                        .with_context(|| format!("NUMBERING_GRPC_TLS_LISTEN needs {k}"))
                };
                Some(GrpcTlsConfig {
                    listen: listen.parse().with_context(|| {
                        format!("NUMBERING_GRPC_TLS_LISTEN={listen:?} is not host:port")
                    })?,
                    cert_pem: need("NUMBERING_TLS_CERT")?,
                    key_pem: need("NUMBERING_TLS_KEY")?,
                    client_ca_pem: need("NUMBERING_TLS_CLIENT_CA")?,
                    allowed_callers: match get("NUMBERING_GRPC_ALLOWED_CALLERS") {
                        Some(v) => numbering_validate_lease::mtls::CallerAllowlist::parse(&v)
                            .context("NUMBERING_GRPC_ALLOWED_CALLERS")?,
                        None => Default::default(),
                    },
                })
            }
        };
        let http_body_limit = parse_num(&get, "NUMBERING_HTTP_BODY_LIMIT", 64 * 1024)?;
        let access_log =
            numbering_http_edge::AccessLog::from_lookup(get).map_err(anyhow::Error::msg)?;
        let portal_rate_limit = parse_num(&get, "NUMBERING_PORTAL_RATE_LIMIT", 100.0)?;
        let portal_rate_burst = parse_num(&get, "NUMBERING_PORTAL_RATE_BURST", 200)?;
        let nats_url = get("NATS_URL");
        let billing_url = get("NUMBERING_BILLING_URL");
        let inbound_stream = get("NUMBERING_INBOUND_STREAM");
        let sender_id_registry_url = get("NUMBERING_SENDER_ID_REGISTRY_URL");
        Ok(Self {
            nats_url,
            billing_url,
            inbound_stream,
            sender_id_registry_url,
            http_body_limit,
            access_log,
            portal_rate_limit,
            portal_rate_burst,
            listen,
            database_url,
            db_role,
            db_max_connections,
            data_dir,
            demo_data,
            jwt,
            policy,
            audit_seal_interval_ms,
            audit_jobs,
            hot_path,
            grpc_tls,
        })
    }
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> Result<T> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{key}={v:?} is not a number")),
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
        assert!(c.database_url.is_none());
        assert!(c.demo_data);
        assert_eq!(c.db_role.as_deref(), Some("numbering_app"));
    }

    #[test]
    fn cool_off_can_be_set_per_kind_and_reason_but_not_below_the_floor() {
        let c = config(&[("NUMBERING_COOLOFF_MSISDN_RELEASED", "120d")]).unwrap();
        let d = c
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
