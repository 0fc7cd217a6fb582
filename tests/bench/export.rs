//! Benchmark: the regulator export of a month over 1,000,000 numbers.
//!
//! Starts a throwaway PostgreSQL (or uses `DATABASE_URL`), fills a fresh
//! database with `--numbers` MSISDNs created before last month, of which
//! `--leased` were reserved and assigned during last month (a lease and two
//! audit entries each) and `--changed` of those changed again after it (so
//! their state at the period's end comes from the audit trail), seals the
//! audit chain (the sealer keeps it sealed in production), then runs the
//! export of last month in a child process (this binary with `--child`),
//! with a local Ed25519 key and a local WORM directory, and reports its
//! wall time and its peak RSS (`VmHWM`).
//!
//!     cargo build --profile perf -p numbering-tests --bin bench-export
//!     target/perf/bench-export --numbers 1000000

use std::time::{Duration, Instant};

use numbering_export::{Exporter, Outcome, Period, signer::LocalSigner, worm::LocalDirWorm};
use numbering_store::{Actor, Ctx, PoolConfig};
use numbering_tests::TestDb;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The command line: `--numbers`, `--leased`, `--changed`.
struct Settings {
    numbers: u64,
    leased: u64,
    changed: u64,
}

impl Settings {
    fn from_args() -> Self {
        let numbers = numbering_tests::bench_arg("--numbers", 1_000_000);
        Self {
            numbers,
            leased: numbering_tests::bench_arg("--leased", numbers * 3 / 10),
            changed: numbering_tests::bench_arg("--changed", numbers / 20),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--child") {
        return child().await;
    }
    let settings = Settings::from_args();
    let period = Period::previous(chrono::Utc::now());

    let db = TestDb::new().await;
    let setup = Instant::now();
    seed(&db, &settings, period).await?;
    sqlx::query("ANALYZE").execute(&db.owner).await?;
    let sealed = numbering_store::audit::seal_all(&db.app).await?;
    let Settings {
        numbers,
        leased,
        changed,
    } = settings;
    println!(
        "setup: {numbers} numbers, {leased} leased in {period}, {changed} changed after it, {sealed} audit entries sealed ({:.1} s)",
        setup.elapsed().as_secs_f64()
    );
    run_child(&db, period)
}

/// Every number exists from before the period; the first `leased` were
/// reserved and assigned during it, and `changed` of those suspended after
/// its end.
async fn seed(db: &TestDb, settings: &Settings, period: Period) -> anyhow::Result<()> {
    let (start, end) = (period.start(), period.end());
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc, created_at, state_changed_at) \
         SELECT '+937' || lpad(g::text, 8, '0'), '+937' || lpad(g::text, 8, '0'), 'MSISDN', 'roshan', '412', '20', \
                $2 - interval '1 day', $2 - interval '1 day' \
         FROM generate_series(1, $1::int) g",
    )
    .bind(settings.numbers as i32)
    .bind(start)
    .execute(&db.owner)
    .await?;
    sqlx::query(
        "WITH t AS (SELECT id, identifier, 'tenant-' || (id % 50) AS tenant, \
                           $2 + (id % 600000) * interval '1 second' AS at FROM numbering.numbers WHERE id <= $1), \
              n AS (UPDATE numbering.numbers n SET state = 'ASSIGNED', tenant_id = t.tenant, version = 3, \
                           state_changed_at = t.at FROM t WHERE n.id = t.id), \
              l AS (INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, started_at, term_end) \
                    SELECT gen_random_uuid(), id, identifier, 'MSISDN', tenant, at, at + interval '30 days' FROM t) \
         INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after) \
         SELECT at - interval '1 minute', 'tenant:' || tenant || ':u', 'reserve', tenant, identifier, \
                '{\"state\":\"AVAILABLE\",\"tenant_id\":null,\"version\":1}'::json, '{\"state\":\"RESERVED\",\"version\":2}'::json FROM t \
         UNION ALL \
         SELECT at, 'tenant:' || tenant || ':u', 'assign', tenant, identifier, \
                '{\"state\":\"RESERVED\",\"version\":2}'::json, '{\"state\":\"ASSIGNED\",\"version\":3}'::json FROM t",
    )
    .bind(settings.leased as i64)
    .bind(start)
    .execute(&db.owner)
    .await?;
    sqlx::query(
        "WITH t AS (SELECT id, identifier, tenant_id FROM numbering.numbers WHERE id <= $1), \
              n AS (UPDATE numbering.numbers n SET state = 'SUSPENDED', version = 4, state_changed_at = $2 + interval '1 hour' \
                    FROM t WHERE n.id = t.id) \
         INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after) \
         SELECT $2 + interval '1 hour', 'admin:ops', 'suspend', tenant_id, identifier, \
                '{\"state\":\"ASSIGNED\",\"version\":3}'::json, '{\"state\":\"SUSPENDED\",\"version\":4}'::json FROM t",
    )
    .bind(settings.changed as i64)
    .bind(end)
    .execute(&db.owner)
    .await?;
    Ok(())
}

/// Runs the export of `period` in a child process (this binary with
/// `--child`), passes its output through and reports its wall time.
fn run_child(db: &TestDb, period: Period) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bench-export-{}", uuid::Uuid::new_v4().simple()));
    let started = Instant::now();
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("--child")
        .env("BENCH_EXPORT_DATABASE_URL", &db.owner_url)
        .env("BENCH_EXPORT_PERIOD", period.to_string())
        .env("BENCH_EXPORT_DIR", &work)
        .output()?;
    let wall = started.elapsed();
    std::fs::remove_dir_all(&work).ok();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    anyhow::ensure!(output.status.success(), "the export failed");
    println!(
        "child process wall time (start, connect, export, exit): {:.2} s",
        wall.as_secs_f64()
    );
    Ok(())
}

/// The export itself, in its own process so its peak RSS is its own.
async fn child() -> anyhow::Result<()> {
    let url = std::env::var("BENCH_EXPORT_DATABASE_URL")?;
    let period = Period::parse(&std::env::var("BENCH_EXPORT_PERIOD")?)?;
    let dir = std::path::PathBuf::from(std::env::var("BENCH_EXPORT_DIR")?);
    let mut config = PoolConfig::new(url);
    config.max_connections = 4;
    config.acquire_timeout = Duration::from_secs(30);
    let pool = numbering_store::connect(&config).await?;
    let exporter = Exporter::new(
        pool,
        std::sync::Arc::new(LocalSigner::load_or_generate(&dir.join("key.pem"))?),
        std::sync::Arc::new(LocalDirWorm::new(dir.join("worm"))),
    )
    .with_work_dir(&dir);
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    let outcome = exporter
        .generate(period, &Ctx::new(Actor::system("bench")), false)
        .await?;
    let took = started.elapsed();
    let Outcome::Generated(record, manifest) = outcome else {
        anyhow::bail!("not generated");
    };
    for file in &manifest.files {
        println!(
            "  {}: {} rows, {:.1} MB",
            file.name,
            file.rows,
            file.bytes as f64 / 1e6
        );
    }
    println!(
        "export of {period} (version {}): {:.2} s; peak RSS {:.1} MB (before the export: {:.1} MB)",
        record.version,
        took.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        rss_before as f64 / 1024.0,
    );
    Ok(())
}
