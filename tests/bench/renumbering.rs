//! Bulk renumbering of a 100,000-number block in mixed states: the apply's
//! time, the peak memory of the Postgres backend that runs it and of this
//! process, its WAL and temp-file bytes, beside a plain `UPDATE` of the
//! same rows' identifiers (rolled back) in the same run.
//!
//! ```sh
//! cargo build -p numbering-tests --bin bench-renumbering
//! ./target/debug/bench-renumbering --numbers 100000
//! ```

use std::time::{Duration, Instant};

use chrono::Utc;
use numbering_shared::renumbering::RenumberingPlan;
use numbering_store::{PoolConfig, Store};
use numbering_tests::{TestDb, admin_ctx};
use sqlx::PgPool;

/// One connection, so that its backend is the one doing the work.
async fn single(db: &TestDb) -> anyhow::Result<(PgPool, i32)> {
    let mut config = PoolConfig::new(db.owner_url.clone());
    config.max_connections = 1;
    config.statement_timeout = Duration::from_secs(600);
    let pool = numbering_store::connect(&config).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    Ok((pool, pid))
}

/// `VmHWM` (peak resident set) of process `pid`, in MB.
fn peak_mb(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// WAL position and temp bytes written so far by the database.
async fn io(db: &TestDb) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, \
                (SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database())",
    )
    .fetch_one(&db.owner)
    .await?)
}

/// `n` numbers `+937913…` in the states of the integration test's mixed
/// block (i % 8), their leases, reservations and quarantines, written in
/// SQL (a fixture: the lifecycle would take minutes for 100,000).
async fn fixture(db: &TestDb, n: u64) -> anyhow::Result<()> {
    for t in ["acme", "globex", "initech"] {
        db.pool_with(t, 1_000_000, 0, 0, &[], true).await;
    }
    let create = format!(
        "CREATE TEMP TABLE f AS SELECT i, '+937913' || lpad(i::text, 5, '0') AS identifier, \
             (ARRAY['AVAILABLE','AVAILABLE','RESERVED','HELD','ASSIGNED','ASSIGNED','SUSPENDED','QUARANTINED'])[i % 8 + 1] AS state, \
             (ARRAY['acme','globex','initech'])[i % 3 + 1] AS tenant \
         FROM generate_series(0, {last}) i",
        last = n - 1
    );
    let statements = [
        create.as_str(),
        "ANALYZE f",
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, state, tenant_id, reserved_until, operator_id, mcc, mnc) \
         SELECT identifier, identifier, 'MSISDN', state::numbering.number_state, \
                CASE WHEN state IN ('AVAILABLE', 'QUARANTINED') THEN NULL ELSE tenant END, \
                CASE WHEN state IN ('RESERVED', 'HELD') THEN now() + interval '1 hour' END, 'roshan', '412', '40' FROM f",
        "INSERT INTO numbering.reservations (id, number_id, identifier, kind, tenant_id, status, expires_at, ended_at) \
         SELECT gen_random_uuid(), n.id, f.identifier, 'MSISDN', f.tenant, \
                (CASE WHEN f.state IN ('RESERVED', 'HELD') THEN f.state ELSE 'CONSUMED' END)::numbering.reservation_status, \
                now() + interval '1 hour', CASE WHEN f.state IN ('RESERVED', 'HELD') THEN NULL ELSE now() END \
         FROM f JOIN numbering.numbers n ON n.identity_key = f.identifier WHERE f.state <> 'AVAILABLE'",
        "INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, status, term_end, ended_at, end_reason, suspended_by) \
         SELECT gen_random_uuid(), n.id, f.identifier, 'MSISDN', f.tenant, \
                (CASE f.state WHEN 'QUARANTINED' THEN 'ENDED' WHEN 'SUSPENDED' THEN 'SUSPENDED' ELSE 'ACTIVE' END)::numbering.lease_status, \
                now() + interval '30 days', CASE WHEN f.state = 'QUARANTINED' THEN now() END, \
                CASE WHEN f.state = 'QUARANTINED' THEN 'RELEASED'::numbering.quarantine_reason END, \
                CASE WHEN f.state = 'SUSPENDED' THEN 'admin:bench' END \
         FROM f JOIN numbering.numbers n ON n.identity_key = f.identifier \
         WHERE f.state IN ('ASSIGNED', 'SUSPENDED', 'QUARANTINED')",
        "INSERT INTO numbering.quarantine_records (id, number_id, identifier, kind, previous_tenant_id, lease_id, reason, ends_at) \
         SELECT gen_random_uuid(), n.id, f.identifier, 'MSISDN', f.tenant, l.id, 'RELEASED', now() + interval '90 days' \
         FROM f JOIN numbering.numbers n ON n.identity_key = f.identifier \
         JOIN numbering.leases l ON l.number_id = n.id WHERE f.state = 'QUARANTINED'",
        "ANALYZE numbering.numbers",
        "ANALYZE numbering.leases",
        "ANALYZE numbering.reservations",
        "ANALYZE numbering.quarantine_records",
    ];
    let mut conn = db.owner.acquire().await?;
    for s in statements {
        sqlx::query(s).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The baseline: `UPDATE numbers SET identifier = …` of the same rows, on
/// a connection of its own, rolled back. (time, backend peak MB)
async fn plain_update(db: &TestDb) -> anyhow::Result<(Duration, f64, u64)> {
    let (pool, pid) = single(db).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('numbering.scope', 'platform', true)")
        .execute(&mut *tx)
        .await?;
    let t = Instant::now();
    let rows = sqlx::query(
        "UPDATE numbering.numbers SET identifier = '+937223' || substr(identifier, 8), \
             identity_key = '+937223' || substr(identifier, 8) \
         WHERE kind = 'MSISDN' AND operator_id = 'roshan' AND state <> 'RETIRED' \
           AND left(identifier, 7) = '+937913'",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let took = t.elapsed();
    tx.rollback().await?;
    let peak = peak_mb(&pid.to_string());
    pool.close().await;
    Ok((took, peak, rows))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = numbering_tests::bench_arg("--numbers", 100_000).min(100_000);
    let db = TestDb::new().await;
    let t = Instant::now();
    fixture(&db, n).await?;
    println!(
        "fixture: {n} numbers in 8 states with their leases etc., {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (update, update_peak, updated) = plain_update(&db).await?;
    assert_eq!(updated, n);

    let (pool, pid) = single(&db).await?;
    let store = Store::new(pool, *db.store.policy());
    let plan = RenumberingPlan::new(
        "roshan",
        "+937913",
        "+937223",
        Utc::now() - chrono::Duration::minutes(1),
        Some(Utc::now() + chrono::Duration::days(7)),
    )?;
    let ctx = admin_ctx();
    let r = store.plan_renumbering(&ctx, &plan).await?;
    let t = Instant::now();
    let dry = store.renumbering_dry_run(r.id).await?;
    let dry_took = t.elapsed();
    assert_eq!(dry.total as u64, n);
    let (wal0, temp0) = io(&db).await?;
    let t = Instant::now();
    let applied = store.apply_renumbering(&ctx, r.id).await?;
    let apply = t.elapsed();
    let (wal1, temp1) = io(&db).await?;
    let backend_peak = peak_mb(&pid.to_string());
    assert_eq!(applied.renumbering().moved, Some(n as i32));
    assert_eq!(db.count("numbering.identifier_links").await as u64, n);
    println!("dry run: {:.2} s", dry_took.as_secs_f64());
    println!(
        "apply: {:.2} s ({:.0} numbers/s), backend peak RSS {backend_peak:.0} MB, WAL {:.0} MB, temp files {:.0} MB",
        apply.as_secs_f64(),
        n as f64 / apply.as_secs_f64(),
        (wal1 - wal0) as f64 / 1e6,
        (temp1 - temp0) as f64 / 1e6,
    );
    println!(
        "plain UPDATE of the same rows' identifiers: {:.2} s, backend peak RSS {update_peak:.0} MB",
        update.as_secs_f64()
    );
    println!(
        "ratio apply / UPDATE: {:.1} ×; this process's peak RSS {:.0} MB",
        apply.as_secs_f64() / update.as_secs_f64(),
        peak_mb("self")
    );
    Ok(())
}
