//! The settings every deployable shares, parsed from a key lookup (the
//! environment in production, a map in tests): the database and the
//! lifecycle policy ([`StoreConfig`]), and the helpers each crate's own
//! `config.rs` parses its variables with. One parser, one default per
//! variable: the host's configuration composes the functions' ones.

use std::{str::FromStr, time::Duration};

use numbering_shared::{LifecyclePolicy, policy::parse_duration};
use numbering_store::{PoolConfig, Store};

/// A variable that is set but not usable; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A key lookup that treats an empty or blank value as unset.
pub fn non_empty(get: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |k| get(k).filter(|v| !v.trim().is_empty())
}

/// A deployable's configuration, parsed from a key lookup.
pub trait FromLookup: Sized {
    /// Parses it from `get` (blank values already unset).
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Parses it from the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&non_empty(env))
    }
}

/// A Lambda's configuration from `pairs` and a `DATABASE_URL`: what the
/// functions' unit tests parse.
pub fn lambda_config<C: FromLookup>(pairs: &[(&str, &str)]) -> Result<C, ConfigError> {
    let mut all = vec![("DATABASE_URL", "postgres://db/numbering")];
    all.extend_from_slice(pairs);
    C::from_lookup(&from_pairs(&all))
}

/// The process environment, as a lookup.
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// `key` as a number, or `default` when unset.
pub fn number<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> Result<T, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{key}={v:?} is not a number"))),
    }
}

/// `key` in milliseconds, or `default_ms` when unset.
pub fn millis(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    number(get, key, default_ms).map(Duration::from_millis)
}

/// `key` as a duration (`30s`, `5m`, `90d`), or `default` when unset.
pub fn duration(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(v) => parse_duration(&v)
            .ok()
            .and_then(|d| d.to_std().ok())
            .ok_or_else(|| ConfigError(format!("{key}={v:?} is not a duration"))),
    }
}

/// The database and the lifecycle policy: `DATABASE_URL`,
/// `DATABASE_URL_SECRET_ARN`, `DATABASE_CREDENTIALS`, `NUMBERING_DB_ROLE`,
/// `NUMBERING_DB_MAX_CONNECTIONS` and the policy's variables
/// ([`LifecyclePolicy::from_lookup`]).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `DATABASE_URL`, with the login of `DATABASE_CREDENTIALS` (a secret's
    /// value, as ECS injects it: [`crate::db_secret`]) put into it; the host
    /// runs an embedded cluster without either, a Lambda refuses to start
    /// ([`StoreConfig::required`]).
    pub database_url: Option<String>,
    /// `DATABASE_URL_SECRET_ARN`: the Secrets Manager secret with the login,
    /// read once when connecting ([`StoreConfig::url`]) and put into
    /// `DATABASE_URL` (or, without one, the whole address).
    pub database_url_secret_arn: Option<String>,
    /// `NUMBERING_DB_ROLE`: the role to `SET ROLE` to after connecting
    /// (default `numbering_app`; `-`: none, the login already is the app role).
    pub db_role: Option<String>,
    /// `NUMBERING_DB_MAX_CONNECTIONS` (the deployable's default).
    pub db_max_connections: u32,
    pub policy: LifecyclePolicy,
}

impl StoreConfig {
    /// Parses the variables; `default_max_connections` is the deployable's
    /// pool size when `NUMBERING_DB_MAX_CONNECTIONS` is unset.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        default_max_connections: u32,
    ) -> Result<Self, ConfigError> {
        let mut database_url = get("DATABASE_URL");
        if let Some(credentials) = get("DATABASE_CREDENTIALS") {
            let url = crate::db_secret::database_url(
                database_url.as_deref(),
                &credentials,
                "DATABASE_CREDENTIALS",
            )?;
            database_url = Some(url);
        }
        Ok(Self {
            database_url,
            database_url_secret_arn: get("DATABASE_URL_SECRET_ARN"),
            db_role: match get("NUMBERING_DB_ROLE") {
                Some(r) if r.trim() == "-" => None,
                Some(r) => Some(r),
                None => Some("numbering_app".into()),
            },
            db_max_connections: number(
                get,
                "NUMBERING_DB_MAX_CONNECTIONS",
                default_max_connections,
            )?,
            policy: LifecyclePolicy::from_lookup(get).map_err(|e| ConfigError(e.to_string()))?,
        })
    }

    /// This configuration, if it names a database (what a Lambda needs).
    pub fn required(self) -> Result<Self, ConfigError> {
        match (&self.database_url, &self.database_url_secret_arn) {
            (None, None) => Err(ConfigError("DATABASE_URL is not set".into())),
            _ => Ok(self),
        }
    }

    /// Whether a database is named at all (a URL or a secret).
    pub fn names_a_database(&self) -> bool {
        self.database_url.is_some() || self.database_url_secret_arn.is_some()
    }

    /// The database URL with its login: `DATABASE_URL`, or, with
    /// `DATABASE_URL_SECRET_ARN`, the secret read now from Secrets Manager
    /// and put into it. `None`: no database is named.
    pub async fn url(&self) -> Result<Option<String>, ConfigError> {
        let Some(arn) = &self.database_url_secret_arn else {
            return Ok(self.database_url.clone());
        };
        let secret = crate::db_secret::fetch(arn).await?;
        let from = format!("the secret {arn}");
        crate::db_secret::database_url(self.database_url.as_deref(), &secret, &from).map(Some)
    }

    /// The pool's settings for `url`.
    pub fn pool(&self, url: &str) -> PoolConfig {
        let mut pool = PoolConfig::new(url);
        pool.max_connections = self.db_max_connections;
        pool.set_role = self.db_role.clone();
        pool
    }

    /// Connects to `DATABASE_URL` (its login read from the secret first,
    /// when there is one: [`StoreConfig::url`]; once, so that a database
    /// that cannot be reached fails here with its cause) and logs how long
    /// it took. With several servers listed, to the read-write one (none:
    /// an error).
    pub async fn connect(&self) -> Result<Store, ConfigError> {
        let url = self
            .url()
            .await?
            .ok_or_else(|| ConfigError("DATABASE_URL is not set".into()))?;
        let started = std::time::Instant::now();
        // several servers (libpq's multi-host form): the pool follows the
        // read-write one through failovers
        let (pool, primary) = numbering_store::connect_multi_host(&self.pool(&url))
            .await
            .map_err(|e| ConfigError(format!("connecting to Postgres: {e}")))?;
        tracing::info!(
            connect_ms = started.elapsed().as_secs_f64() * 1e3,
            "connected to Postgres"
        );
        let store = Store::new(pool, self.policy);
        Ok(match primary {
            Some(primary) => store.with_primary(primary),
            None => store,
        })
    }
}

/// A lookup over `pairs`, blank values unset: what the configurations'
/// unit tests parse instead of the environment.
pub fn from_pairs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    non_empty(move |k| map.get(k).cloned())
}

#[cfg(test)]
mod tests {
    use super::{from_pairs as lookup, *};

    #[test]
    fn database_url_is_optional_until_required() {
        let c = StoreConfig::from_lookup(&lookup(&[]), 2).unwrap();
        assert!(c.database_url.is_none());
        let err = c.required().unwrap_err();
        assert_eq!(err.to_string(), "DATABASE_URL is not set");
        let c = StoreConfig::from_lookup(&lookup(&[("DATABASE_URL", "postgres://x/y")]), 2);
        assert_eq!(
            c.unwrap().required().unwrap().database_url.as_deref(),
            Some("postgres://x/y")
        );
    }

    #[test]
    fn a_secret_arn_names_a_database_and_injected_credentials_fill_the_url() {
        let arn = "arn:aws:secretsmanager:eu-central-1:000000000000:secret:db";
        let c = StoreConfig::from_lookup(&lookup(&[("DATABASE_URL_SECRET_ARN", arn)]), 2);
        let c = c.unwrap().required().unwrap();
        assert_eq!(c.database_url_secret_arn.as_deref(), Some(arn));
        assert!(c.names_a_database());
        let get = lookup(&[
            (
                "DATABASE_URL",
                "postgres://proxy/numbering?sslmode=verify-full",
            ),
            (
                "DATABASE_CREDENTIALS",
                r#"{"username":"svc","password":"pw"}"#,
            ),
        ]);
        let c = StoreConfig::from_lookup(&get, 2).unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://svc:pw@proxy/numbering?sslmode=verify-full")
        );
        let get = lookup(&[("DATABASE_CREDENTIALS", "{not json")]);
        let err = StoreConfig::from_lookup(&get, 2).unwrap_err();
        assert!(
            err.0.starts_with("DATABASE_CREDENTIALS is neither"),
            "{err}"
        );
    }

    #[test]
    fn db_role_defaults_to_the_app_role_and_a_dash_means_none() {
        let role = |v: &str| {
            StoreConfig::from_lookup(&lookup(&[("NUMBERING_DB_ROLE", v)]), 2)
                .unwrap()
                .db_role
        };
        assert_eq!(role("").as_deref(), Some("numbering_app"));
        assert_eq!(role("-"), None);
        assert_eq!(role("numbering_ro").as_deref(), Some("numbering_ro"));
    }

    #[test]
    fn db_max_connections_defaults_per_deployable_and_must_be_a_number() {
        let c = StoreConfig::from_lookup(&lookup(&[]), 4).unwrap();
        assert_eq!(c.db_max_connections, 4);
        let get = lookup(&[("NUMBERING_DB_MAX_CONNECTIONS", "9")]);
        assert_eq!(
            StoreConfig::from_lookup(&get, 4)
                .unwrap()
                .db_max_connections,
            9
        );
        let get = lookup(&[("NUMBERING_DB_MAX_CONNECTIONS", "many")]);
        let err = StoreConfig::from_lookup(&get, 4).unwrap_err();
        assert!(err.0.contains("NUMBERING_DB_MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn the_lifecycle_policy_is_read_and_a_bad_value_names_its_variable() {
        let get = lookup(&[("NUMBERING_LEASE_TERM", "60d")]);
        let c = StoreConfig::from_lookup(&get, 2).unwrap();
        assert_eq!(c.policy.lease_term, chrono::Duration::days(60));
        let get = lookup(&[("NUMBERING_HOLD_TTL", "3 weeks")]);
        let err = StoreConfig::from_lookup(&get, 2).unwrap_err();
        assert!(err.0.contains("NUMBERING_HOLD_TTL"), "{err}");
    }

    #[test]
    fn numbers_and_durations_name_their_variable_when_malformed() {
        let get = lookup(&[("A", "x"), ("B", "soon")]);
        assert!(number::<u32>(&get, "A", 1).unwrap_err().0.contains("A="));
        assert!(millis(&get, "A", 1).unwrap_err().0.contains("A="));
        assert!(
            duration(&get, "B", Duration::ZERO)
                .unwrap_err()
                .0
                .contains("B=")
        );
        assert_eq!(number(&get, "C", 7u32), Ok(7));
        assert_eq!(
            duration(&get, "C", Duration::from_secs(30)),
            Ok(Duration::from_secs(30))
        );
    }
}
