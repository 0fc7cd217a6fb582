//! Benchmark: audit chain verification, entries per second.
//!
//! Starts a throwaway PostgreSQL (or uses `DATABASE_URL`), writes
//! `--entries` audit entries shaped like lifecycle entries (SQL
//! `generate_series`), seals them into the hash chain, then times
//! `numbering_store::audit::verify` over the whole chain `--runs` times and
//! prints entries/s for each run and the best.
//!
//!     cargo build --profile perf -p numbering-tests --bin bench-audit-verify
//!     target/perf/bench-audit-verify --entries 1000000 --runs 3

use std::time::Instant;

use numbering_store::audit;
use numbering_tests::TestDb;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let entries = numbering_tests::bench_arg("--entries", 1_000_000) as i64;
    let runs = numbering_tests::bench_arg("--runs", 3);

    let db = TestDb::new().await;
    let started = Instant::now();
    write_entries(&db, entries).await?;
    let sealed = seal_and_analyze(&db).await?;
    println!(
        "setup: {entries} entries written and {sealed} sealed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    verify_runs(&db, runs, sealed).await?;
    verify_broken_at_the_end(&db, sealed).await
}

/// `entries` audit entries shaped like lifecycle entries, in batches.
async fn write_entries(db: &TestDb, entries: i64) -> anyhow::Result<()> {
    let batch = 100_000;
    let mut written = 0;
    while written < entries {
        let n = batch.min(entries - written);
        sqlx::query(
            "INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
             SELECT 'tenant:acme:bench-user', 'reserve', 'acme', '+9379' || lpad(g::text, 7, '0'), \
                    ('{\"state\":\"AVAILABLE\",\"tenant_id\":null,\"version\":' || g || '}')::json, \
                    ('{\"state\":\"RESERVED\",\"version\":' || (g + 1) || ',\"reservation_id\":\"' || gen_random_uuid() || \
                    '\",\"reserved_until\":\"2026-11-26T10:00:00Z\"}')::json, \
                    'req-' || g \
             FROM generate_series($1::bigint, $2::bigint) g",
        )
        .bind(written + 1)
        .bind(written + n)
        .execute(&db.owner)
        .await?;
        written += n;
    }
    Ok(())
}

/// Seals every entry into the chain, then refreshes the statistics;
/// returns how many were sealed.
async fn seal_and_analyze(db: &TestDb) -> anyhow::Result<u64> {
    let mut sealed = 0;
    loop {
        let n = audit::seal(&db.app, 200_000).await?;
        sealed += n;
        if n == 0 {
            break;
        }
    }
    sqlx::query("VACUUM ANALYZE numbering.audit_log")
        .execute(&db.owner)
        .await?;
    sqlx::query("VACUUM ANALYZE numbering.audit_chain")
        .execute(&db.owner)
        .await?;
    Ok(sealed)
}

/// Verifies the whole chain `runs` times, printing entries/s for each run
/// and the best.
async fn verify_runs(db: &TestDb, runs: u64, sealed: u64) -> anyhow::Result<()> {
    let mut best = 0.0f64;
    for run in 1..=runs {
        let t = Instant::now();
        let report = audit::verify(&db.app).await?;
        let secs = t.elapsed().as_secs_f64();
        anyhow::ensure!(report.is_intact(), "the chain must verify: {report:?}");
        anyhow::ensure!(report.checked == sealed, "every link is checked");
        let rate = report.checked as f64 / secs;
        best = best.max(rate);
        println!(
            "run {run}: {} entries verified in {secs:.3} s = {rate:.0} entries/s",
            report.checked
        );
    }
    println!("best: {best:.0} entries/s (goal >= 1000000)");
    Ok(())
}

/// For comparison: a chain broken at its very last link is proven broken
/// by the fast path and then walked exactly (join + allocation per row).
async fn verify_broken_at_the_end(db: &TestDb, sealed: u64) -> anyhow::Result<()> {
    let mut tx = db.owner.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE numbering.audit_log SET actor = 'tampered' \
         WHERE id = (SELECT entry_id FROM numbering.audit_chain ORDER BY seq DESC LIMIT 1)",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let t = Instant::now();
    let report = audit::verify(&db.app).await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.first_break.as_ref().map(|b| b.position) == Some(sealed as i64),
        "the last link is reported: {report:?}"
    );
    println!("broken at the last link (fast path, then the exact walk): {secs:.3} s");
    Ok(())
}
