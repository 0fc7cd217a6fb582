use std::{sync::Arc, time::Duration};

use sqlx::{
    ConnectOptions, Connection, Executor, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

use crate::primary::{self, Primary, Probed};

/// How the application connects to Postgres.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub url: String,
    pub max_connections: u32,
    /// Role every connection switches to (`SET ROLE`) when the login role is
    /// a migration owner or superuser, so that row-level security and the
    /// append-only grants bind the application. `None` when the login role
    /// already is the application role.
    pub set_role: Option<String>,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Start even when every listed server is in recovery (`serve`: not
    /// ready until one is promoted); otherwise that is an error.
    pub wait_for_primary: bool,
}

impl PoolConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            set_role: Some("numbering_app".into()),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            wait_for_primary: false,
        }
    }
}

/// The options of a `DATABASE_URL`, TLS included: `sslmode` `disable`,
/// `allow`, `prefer` (sqlx's default), `require` or `verify-full`, with
/// `sslrootcert` (the CA that signed the server's certificate; default the
/// system's roots) and optionally `sslcert` / `sslkey`. `verify-ca` is
/// refused: with the rustls it is built on, sqlx 0.8 checks the host name
/// there too (sqlx issue 3793), so it would fail against a server whose
/// certificate does not name the host, where `verify-ca` should pass.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    if matches!(options.get_ssl_mode(), PgSslMode::VerifyCa) {
        return Err(sqlx::Error::Configuration(
            "sslmode=verify-ca is not supported: use sslmode=verify-full (the URL's host must \
             be a name in the server's certificate) or sslmode=require"
                .into(),
        ));
    }
    Ok(options)
}

/// Opens the application's pool on the read-write server of the URL (see
/// [`crate::primary`]): an error when no listed server is read-write,
/// unless [`PoolConfig::wait_for_primary`].
pub async fn connect(config: &PoolConfig) -> Result<PgPool, sqlx::Error> {
    open(config, false).await.map(|(pool, _)| pool)
}

/// [`connect`], and the view of the primary when the URL lists several
/// servers (then watched: what every Lambda's store carries).
pub async fn connect_multi_host(
    config: &PoolConfig,
) -> Result<(PgPool, Option<Primary>), sqlx::Error> {
    open(config, false).await
}

/// [`connect`], and the watcher's view of the primary. A URL of one server
/// is watched only when asked for a [`Primary`] this way: a pool from
/// [`connect`] with one server has nothing to fail over to.
pub async fn connect_following(config: &PoolConfig) -> Result<(PgPool, Primary), sqlx::Error> {
    let (pool, primary) = open(config, true).await?;
    Ok((pool, primary.expect("a watched pool has a primary")))
}

/// Opens the pool; watches the primary when `watch` or when the URL lists
/// several servers.
async fn open(config: &PoolConfig, watch: bool) -> Result<(PgPool, Option<Primary>), sqlx::Error> {
    let role = config.set_role.clone();
    if let Some(role) = &role {
        if !role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(sqlx::Error::Configuration(
                format!("invalid role name {role:?}").into(),
            ));
        }
    }
    let candidates: Vec<_> = primary::candidates(&config.url)?
        .into_iter()
        .map(|(h, o)| (h, app_options(o, config)))
        .collect();
    let current = find_primary(&candidates, role.as_deref(), config).await?;
    let switch = primary::Switch::new();
    let start = current.unwrap_or(0);
    let pool = pool_options(config, role.clone(), switch.clone())
        .connect_lazy_with(candidates[start].1.clone());
    if !watch && candidates.len() == 1 {
        return Ok((pool, None));
    }
    let watched = primary::Watcher {
        pool: pool.clone(),
        candidates,
        role,
        switch,
        current,
    };
    Ok((pool, Some(watched.spawn())))
}

/// The application's settings on one server's options.
fn app_options(options: PgConnectOptions, config: &PoolConfig) -> PgConnectOptions {
    options.application_name("numbering").options([(
        "statement_timeout",
        format!("{}ms", config.statement_timeout.as_millis()),
    )])
}

/// The index of the read-write server, `None` when every server answered
/// but none is read-write and the caller waits for one. One server is
/// connected to as before (retrying while it starts, failing with the
/// driver's own error); several are probed at once.
async fn find_primary(
    candidates: &[primary::Candidate],
    role: Option<&str>,
    config: &PoolConfig,
) -> Result<Option<usize>, sqlx::Error> {
    let probed = if let [(_, options)] = candidates {
        // the pool retries a refused connection (or a failed SET ROLE)
        // until its acquire timeout and then reports only PoolTimedOut:
        // connect once first, so that a start that cannot connect says why
        let mut conn = first_connection(options, role, config.acquire_timeout).await?;
        let ok = primary::refuse_read_only(&mut conn).await.is_ok();
        conn.close().await.ok();
        vec![if ok {
            Probed::ReadWrite
        } else {
            Probed::ReadOnly
        }]
    } else {
        primary::probe_all(candidates, role, config.acquire_timeout).await
    };
    match primary::first_read_write(candidates, &probed) {
        Ok(i) => Ok(Some(i)),
        Err(why) if config.wait_for_primary && probed.iter().any(answered) => {
            tracing::warn!(reason = %why, "no read-write primary: waiting for one");
            Ok(None)
        }
        Err(why) => Err(sqlx::Error::Configuration(why.into())),
    }
}

fn answered(p: &Probed) -> bool {
    matches!(p, Probed::ReadOnly)
}

/// The pool's settings: `SET ROLE` and the primary check on every new
/// connection, connections older than the last switch of server dropped.
fn pool_options(
    config: &PoolConfig,
    role: Option<String>,
    switch: Arc<primary::Switch>,
) -> PgPoolOptions {
    let released = switch.clone();
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // No ping before every checkout: it is a round trip on every query
        // and transaction (the hot path's Postgres tier most of all). A
        // connection that died while idle fails its next statement and is
        // dropped; callers see a clear error (the hot path fails closed),
        // and idle connections are recycled before servers time them out.
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .before_acquire(move |_, meta| {
            let fresh = !switch.is_stale(meta.age);
            Box::pin(async move { Ok(fresh) })
        })
        .after_release(move |_, meta| {
            let fresh = !released.is_stale(meta.age);
            Box::pin(async move { Ok(fresh) })
        })
        .after_connect(move |conn, _| {
            let role = role.clone();
            Box::pin(async move {
                if let Some(role) = role {
                    conn.execute(format!("SET ROLE {role}").as_str()).await?;
                }
                primary::refuse_read_only(conn).await
            })
        })
}

/// One connection (as `role`, if any), retrying what sqlx's pool retries
/// (a refused connection: the server may be starting; a database error that
/// is transient while connecting) until `timeout`, and otherwise failing at
/// once. The error is the last connect error, never a bare timeout: refused,
/// DNS, TLS, authentication or SET ROLE, as the driver reported it.
pub async fn first_connection(
    options: &PgConnectOptions,
    role: Option<&str>,
    timeout: Duration,
) -> Result<PgConnection, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Duration::from_millis(10);
    let mut last: Option<sqlx::Error> = None;
    loop {
        let attempt = async {
            let mut conn = options.connect().await?;
            if let Some(role) = role {
                conn.execute(format!("SET ROLE {role}").as_str()).await?;
            }
            Ok::<_, sqlx::Error>(conn)
        };
        let error = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) if retried(&e) => e,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(last.unwrap_or_else(|| {
                    sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no answer from {}:{} within {timeout:?}",
                            options.get_host(),
                            options.get_port()
                        ),
                    ))
                }));
            }
        };
        if tokio::time::Instant::now() + backoff >= deadline {
            return Err(error);
        }
        last = Some(error);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// What sqlx's pool retries while connecting.
fn retried(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        sqlx::Error::Database(e) => e.is_transient_in_connect_phase(),
        _ => false,
    }
}

/// Applies the embedded migrations with the owner's credentials at `url`
/// (its read-write server), over one connection (a failed connect reports
/// its cause).
pub async fn migrate(url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = primary::connect_read_write(url, Duration::from_secs(5)).await?;
    crate::MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The lifecycle policy from the environment
/// ([`numbering_shared::LifecyclePolicy::from_lookup`]): what every
/// function's entry point gives its [`crate::Store`], so that the host and
/// each Lambda apply the same TTLs, lease term and cool-offs.
pub fn policy_from_env()
-> Result<numbering_shared::LifecyclePolicy, numbering_shared::policy::PolicyVarError> {
    numbering_shared::LifecyclePolicy::from_lookup(|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })
}
