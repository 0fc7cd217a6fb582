//! The hot path's configuration: its read tiers ([`HotPathConfig`]) and
//! mTLS listener ([`GrpcTlsConfig`]), which the host composes, and, for the
//! validate-lease Lambda, the database and the access log.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig, duration, millis, number};
use numbering_http_edge::AccessLog;
use numbering_store::{SnapshotReader, Store};

use numbering_clients::lease_cache::{self, LeaseCacheTable};

use crate::{
    LeaseReader, TierConfig,
    mtls::CallerAllowlist,
    replica::{Replica, ReplicaConfig},
};

/// `NUMBERING_LEASE_CACHE_TABLE` (DynamoDB tier on when set; endpoint,
/// region and credentials from the AWS SDK's standard variables such as
/// `AWS_ENDPOINT_URL`), `NUMBERING_CACHE_TTL_MS` (2000),
/// `NUMBERING_CACHE_NEGATIVE_TTL_MS` (500), `NUMBERING_CACHE_CAPACITY`
/// (1000000), `NUMBERING_CACHE_BUS_TTL_MS` (30000; 0: off),
/// `NUMBERING_DYNAMODB_DEADLINE_MS` (50),
/// `NUMBERING_POSTGRES_DEADLINE_MS` (500), `NUMBERING_DYNAMODB_ITEM_VALIDITY` (30s),
/// `NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS` (the deployable's default),
/// `DATABASE_REPLICA_URL` (none) and `NUMBERING_REPLICA_MAX_LAG` (2s).
#[derive(Debug, Clone)]
pub struct HotPathConfig {
    pub lease_cache_table: Option<String>,
    /// This region's hot standby, for the Postgres tier and Lookup.
    pub replica: Option<ReplicaConfig>,
    /// Size of the Postgres tier's own read-only pool.
    pub db_max_connections: u32,
    pub tiers: TierConfig,
    pub dynamo_item_validity: Duration,
}

impl HotPathConfig {
    /// The defaults are [`TierConfig::default`]'s; `default_pool` is the
    /// deployable's read-only pool size.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        default_pool: u32,
    ) -> Result<Self, ConfigError> {
        let d = TierConfig::default();
        let ms = |k: &str, default: Duration| millis(get, k, default.as_millis() as u64);
        Ok(Self {
            lease_cache_table: get("NUMBERING_LEASE_CACHE_TABLE"),
            replica: replica_config(get)?,
            db_max_connections: number(get, "NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS", default_pool)?,
            tiers: TierConfig {
                local_capacity: number(get, "NUMBERING_CACHE_CAPACITY", d.local_capacity)?,
                local_ttl: ms("NUMBERING_CACHE_TTL_MS", d.local_ttl)?,
                negative_ttl: ms("NUMBERING_CACHE_NEGATIVE_TTL_MS", d.negative_ttl)?,
                dynamo_deadline: ms("NUMBERING_DYNAMODB_DEADLINE_MS", d.dynamo_deadline)?,
                postgres_deadline: ms("NUMBERING_POSTGRES_DEADLINE_MS", d.postgres_deadline)?,
                dynamo_backoff: d.dynamo_backoff,
                bus_ttl: match ms("NUMBERING_CACHE_BUS_TTL_MS", d.bus_ttl.unwrap_or_default())? {
                    ttl if ttl.is_zero() => None,
                    ttl => Some(ttl),
                },
                bus_window: d.bus_window,
            },
            dynamo_item_validity: duration(
                get,
                "NUMBERING_DYNAMODB_ITEM_VALIDITY",
                Duration::from_secs(30),
            )?,
        })
    }

    /// The DynamoDB tier, when a table is configured.
    pub async fn dynamo_tier(&self) -> Option<LeaseCacheTable> {
        let table = self.lease_cache_table.as_ref()?;
        let client = lease_cache::client_from_env(self.tiers.dynamo_deadline).await;
        Some(LeaseCacheTable::new(
            client,
            table.clone(),
            self.dynamo_item_validity,
        ))
    }

    /// The read tiers over `store`: connects the hot path's read-only pool
    /// (`SET ROLE numbering_hot_path`) once, so a login that may not switch
    /// to it fails here.
    pub async fn reader(
        &self,
        store: &Store,
        dynamo: Option<LeaseCacheTable>,
    ) -> Result<LeaseReader, ConfigError> {
        let started = std::time::Instant::now();
        let snapshots = SnapshotReader::connect_like(store.pool(), self.db_max_connections)
            .await
            .map_err(|e| {
                ConfigError(format!(
                    "connecting the hot path's read-only pool (SET ROLE numbering_hot_path): {e}"
                ))
            })?;
        snapshots.follow(store);
        tracing::info!(
            connect_ms = started.elapsed().as_secs_f64() * 1e3,
            pool = "hot path (read-only)",
            "connected to Postgres"
        );
        let reader = LeaseReader::new(store.clone(), snapshots, dynamo, self.tiers.clone());
        let Some(replica) = &self.replica else {
            return Ok(reader);
        };
        let replica = Replica::start(replica, self.db_max_connections)
            .await
            .map_err(|e| ConfigError(format!("DATABASE_REPLICA_URL: {e}")))?;
        Ok(reader.with_replica(replica))
    }
}

/// `DATABASE_REPLICA_URL` and `NUMBERING_REPLICA_MAX_LAG` (`2s`; also
/// `500ms`), `None` without the URL.
fn replica_config(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ReplicaConfig>, ConfigError> {
    const MAX_LAG: &str = "NUMBERING_REPLICA_MAX_LAG";
    let max_lag = match get(MAX_LAG) {
        Some(v) if v.trim().ends_with("ms") => v
            .trim()
            .trim_end_matches("ms")
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| ConfigError(format!("{MAX_LAG}={v:?} is not a duration"))),
        _ => duration(get, MAX_LAG, ReplicaConfig::DEFAULT_MAX_LAG),
    }?;
    if max_lag.is_zero() {
        return Err(ConfigError(format!("{MAX_LAG} must be above zero")));
    }
    Ok(get("DATABASE_REPLICA_URL").map(|url| ReplicaConfig { url, max_lag }))
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
    pub allowed_callers: CallerAllowlist,
}

impl GrpcTlsConfig {
    /// `None` unless `NUMBERING_GRPC_TLS_LISTEN` is set; then the PEM files
    /// are required.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(listen) = get("NUMBERING_GRPC_TLS_LISTEN") else {
            return Ok(None);
        };
        let need = |k: &str| {
            get(k)
                .map(PathBuf::from)
                .ok_or_else(|| ConfigError(format!("NUMBERING_GRPC_TLS_LISTEN needs {k}")))
        };
        Ok(Some(Self {
            listen: listen.parse().map_err(|_| {
                ConfigError(format!(
                    "NUMBERING_GRPC_TLS_LISTEN={listen:?} is not host:port"
                ))
            })?,
            cert_pem: need("NUMBERING_TLS_CERT")?,
            key_pem: need("NUMBERING_TLS_KEY")?,
            client_ca_pem: need("NUMBERING_TLS_CLIENT_CA")?,
            allowed_callers: match get("NUMBERING_GRPC_ALLOWED_CALLERS") {
                Some(v) => CallerAllowlist::parse(&v)
                    .map_err(|e| ConfigError(format!("NUMBERING_GRPC_ALLOWED_CALLERS: {e}")))?,
                None => CallerAllowlist::default(),
            },
        }))
    }
}

/// The validate-lease Lambda's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 2.
    pub store: StoreConfig,
    /// The read tiers, with a read-only pool of 2.
    pub hot_path: HotPathConfig,
    /// `NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE` (default 100).
    pub access_log: AccessLog,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            hot_path: HotPathConfig::from_lookup(get, 2)?,
            access_log: AccessLog::from_lookup(get).map_err(ConfigError)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::{from_pairs, lambda_config};

    fn hot_path(pairs: &[(&str, &str)]) -> Result<HotPathConfig, ConfigError> {
        HotPathConfig::from_lookup(&from_pairs(pairs), 8)
    }

    fn tls(extra: &[(&str, &str)]) -> Result<Option<GrpcTlsConfig>, ConfigError> {
        let mut vars = vec![
            ("NUMBERING_GRPC_TLS_LISTEN", "127.0.0.1:8443"),
            ("NUMBERING_TLS_CERT", "c.pem"),
            ("NUMBERING_TLS_KEY", "k.pem"),
            ("NUMBERING_TLS_CLIENT_CA", "ca.pem"),
        ];
        vars.extend_from_slice(extra);
        GrpcTlsConfig::from_lookup(&from_pairs(&vars))
    }

    #[test]
    fn the_lambda_pools_two_connections_for_each_pool() {
        let c: Config = lambda_config(&[]).unwrap();
        assert_eq!(
            (c.store.db_max_connections, c.hot_path.db_max_connections),
            (2, 2)
        );
    }

    #[test]
    fn the_replica_url_turns_the_replica_tier_on_with_a_two_second_bound_by_default() {
        assert_eq!(hot_path(&[]).unwrap().replica, None);
        let url = "postgres://u@h1:5432,h2:5433/numbering?target_session_attrs=standby";
        let c = hot_path(&[("DATABASE_REPLICA_URL", url)]).unwrap();
        assert_eq!(
            c.replica,
            Some(ReplicaConfig {
                url: url.into(),
                max_lag: Duration::from_secs(2)
            })
        );
        let lag = |v: &str| {
            hot_path(&[
                ("DATABASE_REPLICA_URL", url),
                ("NUMBERING_REPLICA_MAX_LAG", v),
            ])
            .map(|c| c.replica.unwrap().max_lag)
        };
        assert_eq!(lag("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(lag("750ms").unwrap(), Duration::from_millis(750));
        assert!(lag("0s").is_err());
        assert!(lag("soon").is_err());
    }

    #[test]
    fn lease_cache_table_turns_the_dynamodb_tier_on() {
        assert_eq!(hot_path(&[]).unwrap().lease_cache_table, None);
        let c = hot_path(&[("NUMBERING_LEASE_CACHE_TABLE", "leases")]).unwrap();
        assert_eq!(c.lease_cache_table.as_deref(), Some("leases"));
    }

    #[test]
    fn hot_path_db_max_connections_defaults_per_deployable() {
        assert_eq!(hot_path(&[]).unwrap().db_max_connections, 8);
        let c = hot_path(&[("NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS", "3")]).unwrap();
        assert_eq!(c.db_max_connections, 3);
    }

    #[test]
    fn cache_ttl_negative_ttl_and_capacity_default_to_the_tier_defaults() {
        let c = hot_path(&[]).unwrap().tiers;
        let d = TierConfig::default();
        assert_eq!(
            (c.local_ttl, c.negative_ttl, c.local_capacity),
            (d.local_ttl, d.negative_ttl, d.local_capacity)
        );
        let c = hot_path(&[
            ("NUMBERING_CACHE_TTL_MS", "100"),
            ("NUMBERING_CACHE_NEGATIVE_TTL_MS", "10"),
            ("NUMBERING_CACHE_CAPACITY", "5"),
        ])
        .unwrap()
        .tiers;
        assert_eq!(c.local_ttl, Duration::from_millis(100));
        assert_eq!(c.negative_ttl, Duration::from_millis(10));
        assert_eq!(c.local_capacity, 5);
    }

    #[test]
    fn dynamodb_and_postgres_deadlines_are_milliseconds() {
        let c = hot_path(&[
            ("NUMBERING_DYNAMODB_DEADLINE_MS", "20"),
            ("NUMBERING_POSTGRES_DEADLINE_MS", "200"),
        ])
        .unwrap()
        .tiers;
        assert_eq!(
            (c.dynamo_deadline, c.postgres_deadline),
            (Duration::from_millis(20), Duration::from_millis(200))
        );
        let err = hot_path(&[("NUMBERING_POSTGRES_DEADLINE_MS", "1s")]).unwrap_err();
        assert!(err.0.contains("NUMBERING_POSTGRES_DEADLINE_MS"), "{err}");
    }

    #[test]
    fn dynamodb_item_validity_defaults_to_30_seconds() {
        assert_eq!(
            hot_path(&[]).unwrap().dynamo_item_validity,
            Duration::from_secs(30)
        );
        let c = hot_path(&[("NUMBERING_DYNAMODB_ITEM_VALIDITY", "1m")]).unwrap();
        assert_eq!(c.dynamo_item_validity, Duration::from_secs(60));
    }

    #[test]
    fn grpc_tls_listen_needs_the_pem_files() {
        assert!(
            GrpcTlsConfig::from_lookup(&from_pairs(&[]))
                .unwrap()
                .is_none()
        );
        assert!(tls(&[]).unwrap().is_some());
        let get = from_pairs(&[("NUMBERING_GRPC_TLS_LISTEN", "127.0.0.1:8443")]);
        let err = GrpcTlsConfig::from_lookup(&get).unwrap_err();
        assert!(err.0.contains("NUMBERING_TLS_CERT"), "{err}");
        let err = tls(&[("NUMBERING_GRPC_TLS_LISTEN", "nowhere")]).unwrap_err();
        assert!(err.0.contains("NUMBERING_GRPC_TLS_LISTEN"), "{err}");
    }

    #[test]
    fn allowed_callers_are_exact_identities_and_a_pattern_is_refused() {
        let with = |callers: &str| tls(&[("NUMBERING_GRPC_ALLOWED_CALLERS", callers)]);
        assert_eq!(tls(&[]).unwrap().unwrap().allowed_callers.len(), 6);
        let c = with("sms-orchestrator=spiffe://ghasi.af/ns/sms/sms-orchestrator,routing-engine")
            .unwrap();
        assert_eq!(c.unwrap().allowed_callers.len(), 2);
        for pattern in ["*.ghasi.af", "sms-orchestrator=https://ghasi.af/x", ","] {
            let err = with(pattern).unwrap_err();
            assert!(
                err.0.contains("NUMBERING_GRPC_ALLOWED_CALLERS"),
                "{pattern}: {err}"
            );
        }
    }
}
