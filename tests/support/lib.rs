//! Test support: real Postgres for every test.
//!
//! Without `DATABASE_URL` the harness starts a private throwaway cluster on a
//! free loopback port (once per test process; it stops when the process
//! exits), applies the migrations once into a template database, and gives
//! every test its own database cloned from that template, so tests run in
//! parallel without seeing each other. With `DATABASE_URL` (a superuser URL)
//! it does the same on that server.
//!
//! The private cluster is reached over its Unix-domain socket, as the run
//! command's embedded cluster is; `NUMBERING_TEST_PG_TCP=1` makes the
//! harness use its loopback TCP port instead (for comparing the two in a
//! benchmark).

pub mod affinity;
pub mod app;
pub mod backtest;
pub mod bench;
pub mod chromium;
pub mod proc_cpu;
pub mod regions;
pub mod replica_reads;
pub mod schema;
pub mod synthetic;

use std::{path::PathBuf, sync::OnceLock, time::Duration};

pub mod hot_path;
pub mod imports;
pub mod lambda_runtime;

use anyhow::{Context, Result};
use numbering::embedded::{Durability, EmbeddedPostgres};
use numbering_shared::{Identifier, IdentifierKind, LifecyclePolicy, TenantId, operator};
use numbering_store::{Actor, Ctx, PoolConfig, Store};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgPoolOptions};

struct Server {
    /// Superuser URL of the server, without a database name.
    base: String,
    /// The same over TCP, when the harness started the cluster.
    tcp_base: Option<String>,
    template: String,
    _cluster: Option<EmbeddedPostgres>,
}

impl Server {
    fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }
}

/// Superuser URL of test database `db` over loopback TCP, when the harness
/// runs its own cluster (`None` with `DATABASE_URL`).
pub fn tcp_url(db: &str) -> Option<String> {
    server().tcp_base.as_ref().map(|b| format!("{b}/{db}"))
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        // Runs on its own thread with its own runtime: the caller may be any
        // test's runtime, and pools must not outlive the runtime they use.
        std::thread::spawn(|| start_server().expect("test Postgres server"))
            .join()
            .expect("test server thread")
    })
}

fn start_server() -> Result<Server> {
    let (base, tcp_base, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(url);
            (base, None, None)
        }
        Err(_) => {
            remove_stale_clusters();
            let dir = std::env::temp_dir().join(format!("numbering-tests-{}", std::process::id()));
            let pg = EmbeddedPostgres::start(&dir, 0, Durability::Throwaway)?;
            let tcp = pg.tcp_server_url();
            let base = if std::env::var("NUMBERING_TEST_PG_TCP").is_ok_and(|v| v == "1") {
                tcp.clone()
            } else {
                pg.server_url()
            };
            (base, Some(tcp), Some(pg))
        }
    };
    let template = format!("numbering_template_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut conn = PgConnection::connect(&format!("{base}/postgres"))
            .await
            .context("connecting to test server")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {template}"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {template}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        numbering_store::migrate(&format!("{base}/{template}"))
            .await
            .context("migrating the template")?;
        anyhow::Ok(())
    })?;
    Ok(Server {
        base,
        tcp_base,
        template,
        _cluster: cluster,
    })
}

/// Removes the data directories of earlier test processes that are gone.
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("numbering-tests-")
            .or_else(|| name.strip_prefix("numbering-nats-")?.split('-').next())
            .or_else(|| name.strip_prefix("numbering-exports-")?.split('-').next());
        if let Some(pid) = pid {
            if !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// One test's own database.
pub struct TestDb {
    /// Database name.
    pub name: String,
    /// Superuser URL of this database (migration owner; bypasses RLS).
    pub owner_url: String,
    /// Superuser pool: for setting up fixtures and for playing the attacker.
    pub owner: PgPool,
    /// Application pool (SET ROLE numbering_app), as the service uses it.
    pub app: PgPool,
    pub store: Store,
}

impl TestDb {
    /// A fresh, migrated database with the default lifecycle policy.
    pub async fn new() -> Self {
        Self::with_policy(LifecyclePolicy::default()).await
    }

    pub async fn with_policy(policy: LifecyclePolicy) -> Self {
        let server = server();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&server.url("postgres"))
            .await
            .expect("connect to test server");
        sqlx::query(&format!(
            "CREATE DATABASE {name} TEMPLATE {}",
            server.template
        ))
        .execute(&mut conn)
        .await
        .expect("create test database");
        conn.close().await.ok();
        let owner_url = server.url(&name);
        let owner = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&owner_url)
            .await
            .expect("owner pool");
        let mut config = PoolConfig::new(owner_url.clone());
        config.max_connections = 20;
        config.acquire_timeout = Duration::from_secs(30);
        let app = numbering_store::connect(&config).await.expect("app pool");
        let store = Store::new(app.clone(), policy);
        Self {
            name,
            owner_url,
            owner,
            app,
            store,
        }
    }

    /// Creates `tenant`'s pool with generous quotas for every kind.
    pub async fn pool_for(&self, tenant: &str) -> TenantId {
        self.pool_with(tenant, 100, 100, 100, &[], true).await
    }

    /// Creates `tenant`'s pool with the given quotas, operator allowlist
    /// (empty: all) and vanity flag.
    pub async fn pool_with(
        &self,
        tenant: &str,
        msisdn: i32,
        short_code: i32,
        alpha: i32,
        operators: &[&str],
        vanity: bool,
    ) -> TenantId {
        sqlx::query(
            "INSERT INTO numbering.tenant_pools \
                 (tenant_id, display_name, quota_msisdn, quota_short_code, quota_alpha, allowed_operators, vanity_allowed) \
             VALUES ($1, $1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant)
        .bind(msisdn)
        .bind(short_code)
        .bind(alpha)
        .bind(operators.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .bind(vanity)
        .execute(&self.owner)
        .await
        .expect("insert pool");
        TenantId::parse(tenant).unwrap()
    }

    /// Adds identifiers to inventory (AVAILABLE), as an import would.
    pub async fn inventory(&self, identifiers: &[&str]) -> Vec<Identifier> {
        let mut out = Vec::new();
        for raw in identifiers {
            let id = Identifier::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let (op, mcc, mnc) = match id.kind() {
                IdentifierKind::Msisdn => {
                    let op = operator::operator_for_msisdn(&id).expect("known operator prefix");
                    (Some(op.id), Some(op.mcc), Some(op.mncs[0]))
                }
                _ => (None, None, None),
            };
            sqlx::query(
                "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
                 VALUES ($1, $2, $3::numbering.identifier_kind, $4, $5, $6)",
            )
            .bind(id.as_str())
            .bind(id.key())
            .bind(id.kind().as_str())
            .bind(op)
            .bind(mcc)
            .bind(mnc)
            .execute(&self.owner)
            .await
            .expect("insert number");
            out.push(id);
        }
        out
    }

    /// Rows in a table (as superuser, so across tenants).
    pub async fn count(&self, sql_from_where: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {sql_from_where}"))
            .fetch_one(&self.owner)
            .await
            .unwrap_or_else(|e| panic!("count {sql_from_where}: {e}"))
    }
}

/// A tenant's user acting in its own tenant.
pub fn tenant_ctx(tenant: &TenantId) -> Ctx {
    Ctx::new(Actor::tenant(tenant, "test-user"))
}

pub fn admin_ctx() -> Ctx {
    Ctx::new(Actor::admin("test-admin"))
}

pub fn system_ctx() -> Ctx {
    Ctx::new(Actor::system("test"))
}

/// The `numbering` binary built beside the test binary. `./dev test` builds
/// it first (`cargo test` alone builds only the test harness of a binary).
pub fn numbering_bin() -> PathBuf {
    workspace_bin("numbering")
}

/// A binary of the workspace built beside the test binary (`./dev test`
/// builds `numbering` and the six Lambdas first).
pub fn workspace_bin(name: &str) -> PathBuf {
    // target/<profile>/deps/it-… → target/<profile>/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join(name);
    assert!(
        bin.exists(),
        "{} is built by `./dev test` (`cargo build --bin {name}`)",
        bin.display()
    );
    bin
}

// ----- NATS ------------------------------------------------------------------

/// A private `nats-server -js` on a free loopback port with a throwaway
/// JetStream store, one per test; stopped and removed when dropped.
pub struct TestNats {
    server: numbering::nats::EmbeddedNats,
    dir: PathBuf,
}

impl TestNats {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "numbering-nats-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let server = numbering::nats::EmbeddedNats::start(&dir, 0).expect("test nats-server");
        Self { server, dir }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A client that keeps reconnecting while the server is stopped.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|_| Duration::from_millis(200))
            .connect(self.url())
            .await
            .expect("connect to test nats-server")
    }

    /// Stops the server (its JetStream store is kept).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.server.restart().expect("restart nats-server");
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every message of a stream so far (from the first), through an ephemeral
/// pull consumer, waiting up to `within` for at least `at_least` of them.
pub async fn read_stream(
    client: &async_nats::Client,
    stream: &str,
    filter: &str,
    at_least: usize,
    within: Duration,
) -> Vec<async_nats::jetstream::Message> {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
    use futures_util::StreamExt;
    let js = async_nats::jetstream::new(client.clone());
    let deadline = tokio::time::Instant::now() + within;
    let stream = loop {
        match js.get_stream(stream).await {
            Ok(s) => break s,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("stream {stream}: {e}"),
        }
    };
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            filter_subject: filter.to_owned(),
            ..Default::default()
        })
        .await
        .expect("ephemeral consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    while out.len() < at_least {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, messages.next()).await {
            Ok(Some(Ok(m))) => out.push(m),
            Ok(Some(Err(e))) => panic!("reading {filter}: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    // anything beyond (duplicates would show here)
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(Duration::from_millis(300), messages.next()).await
    {
        out.push(m);
    }
    out
}

/// Reserves and assigns each identifier to `tenant`.
pub async fn lease_all(
    db: &TestDb,
    tenant: &TenantId,
    ids: &[Identifier],
) -> Vec<numbering_store::Lease> {
    let mut out = Vec::new();
    for id in ids {
        let r = db
            .store
            .reserve(&tenant_ctx(tenant), tenant, id)
            .await
            .expect("reserve");
        out.push(
            db.store
                .assign(&tenant_ctx(tenant), tenant, r.id, true)
                .await
                .expect("assign"),
        );
    }
    out
}

/// Waits until `check` is true, polling every 50 ms, panicking after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A benchmark's numeric option: the value after `name` on the command line
/// (`--rows 1000000`), or `default` when absent or not a number.
pub fn bench_arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
