//! Real hosts for the failover drill: a `numbering serve` process per
//! region, configured through the contract of issue 16 (`NUMBERING_REGION`,
//! a multi-host `DATABASE_URL`, the region's own `NATS_URL`), plus the data
//! they work on. Minimal on purpose: `tests/support/regions/hosts.rs` will
//! be the full one.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use numbering_shared::{Identifier, IdentifierKind, operator};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use super::{Region, Regions};

/// The HS256 secret every drill host accepts tokens of.
pub const SECRET: &str = "regions-drill-secret-0123456789abcdef";

/// Generous bound on a host's start (a loaded CI machine).
const START: Duration = Duration::from_secs(120);

/// A running `numbering serve`; stopped (SIGTERM, then waited for) when dropped.
pub struct DrillHost {
    pub region: Region,
    child: Child,
    port: u16,
    /// Its log (stderr), in the regions' directory.
    pub log: PathBuf,
}

impl DrillHost {
    /// Starts `numbering serve` for `region` on `database_url`, with the
    /// region's NATS, and waits until it answers `/healthz` (not `/readyz`:
    /// a host on a standby never gets ready).
    pub async fn start(regions: &Regions, region: Region, database_url: &str) -> Self {
        let dir = regions.dir().join(format!("host-{}", region.as_str()));
        std::fs::create_dir_all(&dir).expect("host dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join("numbering.log");
        let child = Command::new(numbering_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NUMBERING_DATA_DIR", &dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .env("NUMBERING_REGION", region.as_str())
            .env("DATABASE_URL", database_url)
            .env("NATS_URL", regions.nats_url(region))
            .env("NUMBERING_JWT_HS256_SECRET", SECRET)
            .env("NUMBERING_PORTAL_RATE_LIMIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("host log"))
            .spawn()
            .expect("numbering serve");
        let mut host = Self {
            region,
            child,
            port,
            log,
        };
        host.wait_healthy().await;
        host
    }

    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + START;
        loop {
            let up = http.get(self.url("/healthz")).send().await;
            if up.is_ok_and(|r| r.status() == 200) {
                return;
            }
            let exited = self.child.try_wait().expect("host status");
            assert!(
                exited.is_none() && tokio::time::Instant::now() < deadline,
                "{} host did not come up ({exited:?}):\n{}",
                self.region.as_str(),
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/readyz`: the status and the body.
    pub async fn readyz(&self) -> (u16, Value) {
        let r = reqwest::get(self.url("/readyz")).await.expect("readyz");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `/readyz` answers `status`.
    pub async fn wait_ready(&self, status: u16) {
        let deadline = tokio::time::Instant::now() + START;
        loop {
            let (got, body) = self.readyz().await;
            if got == status {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} /readyz stayed {got} {body}:\n{}",
                self.region.as_str(),
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of `numbering_singleton_running{job="<job>"}` at `/metrics`.
    pub async fn singleton_running(&self, job: &str) -> Option<f64> {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let label = format!("job=\"{job}\"");
        text.lines()
            .filter(|l| l.starts_with("numbering_singleton_running{") && l.contains(&label))
            .find_map(|l| l.rsplit(' ').next())
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for DrillHost {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The `numbering` binary beside this one (a benchmark in `target/<profile>/`)
/// or beside the test binary's `deps/`.
fn numbering_bin() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("numbering")));
    match beside {
        Some(bin) if bin.exists() => bin,
        _ => crate::numbering_bin(),
    }
}

/// The singleton jobs a host gates on the primary.
pub const SINGLETONS: [&str; 4] = ["audit_sealer", "audit_jobs", "export_schedule", "events"];

/// A development token of `tenant` for the portal.
pub fn token(tenant: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": "drill", "tenant_id": tenant, "roles": ["tenant_pool_admin"],
                 "iss": "numbering-dev", "aud": "numbering",
                 "iat": now, "nbf": now, "exp": now + 3600 }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

/// Migrates the primary, creates `tenant`'s pool (quotas far beyond the
/// drill) and `count` AVAILABLE MSISDNs starting at `+93790{first}`;
/// returns them.
pub async fn prepare(regions: &Regions, tenant: &str, first: u32, count: u32) -> Vec<String> {
    numbering_store::migrate(&regions.primary_url())
        .await
        .expect("migrate the primary");
    let mut conn = PgConnection::connect(&regions.primary_url())
        .await
        .expect("primary");
    sqlx::query(
        "INSERT INTO numbering.tenant_pools \
             (tenant_id, display_name, quota_msisdn, quota_short_code, quota_alpha, allowed_operators, vanity_allowed) \
         VALUES ($1, $1, 100000, 10, 10, '{}', true) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .execute(&mut conn)
    .await
    .expect("tenant pool");
    let ids: Vec<Identifier> = (first..first + count)
        .map(|n| Identifier::parse(&format!("+93790{n:06}")).expect("msisdn"))
        .collect();
    let op = operator::operator_for_msisdn(&ids[0]).expect("operator");
    assert!(ids.iter().all(|i| i.kind() == IdentifierKind::Msisdn));
    let raw: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    let keys: Vec<String> = ids.iter().map(|i| i.key().to_owned()).collect();
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT i, k, 'MSISDN', $3, $4, $5 FROM unnest($1::text[], $2::text[]) AS t(i, k)",
    )
    .bind(&raw)
    .bind(&keys)
    .bind(op.id)
    .bind(op.mcc)
    .bind(op.mncs[0])
    .execute(&mut conn)
    .await
    .expect("inventory");
    conn.close().await.ok();
    raw
}
