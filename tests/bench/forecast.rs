//! Benchmark and backtest of the scarcity forecast (issue 20, seed 4.3).
//!
//! Starts a throwaway PostgreSQL (or uses `DATABASE_URL`), writes a
//! synthetic year (`numbering_tests::synthetic`) of `--blocks` blocks of
//! `--size` MSISDNs each (default 100 × 10,000 = 1,000,000 numbers): block
//! `b` loses `3 + b % 25` a day, every fourth doubles its rate from day
//! 240, and each has 2 reservations a day that are cancelled again. Then:
//!
//! - the forecast of every block, as `GET /v1/admin/numbering/forecast`
//!   computes it (`Store::scarcity_forecast`), `--runs` times: wall time,
//!   and this process's peak RSS during it (`VmHWM`, reset before);
//! - the pure model alone over the same number of blocks (the rest is SQL);
//! - the backtest with the last 30 and 60 days held out
//!   (`numbering_tests::backtest`).
//!
//! ```sh
//! cargo build -p numbering-tests --bin bench-forecast
//! target/debug/bench-forecast --blocks 100 --size 10000
//! ```

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use numbering_shared::forecast::{self, HORIZON_DAYS, Series};
use numbering_store::forecast::ForecastFilter;
use numbering_tests::{
    TestDb,
    backtest::backtest,
    synthetic::{BlockSpec, Rate, write_year},
};

const YEAR: u32 = 365;

fn vm_hwm_kib() -> u64 {
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

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn blocks(count: u64, size: u64) -> Vec<BlockSpec> {
    (0..count)
        .map(|b| {
            let rate = 3.0 + (b % 25) as f64;
            BlockSpec {
                contract_ref: format!("BENCH-{b:03}"),
                prefix: format!("+9379{:02}", b % 100),
                size: size as u32,
                rate: if b % 4 == 3 {
                    Rate::Doubles {
                        rate: rate / 2.0,
                        from_day: 240,
                    }
                } else {
                    Rate::Constant(rate)
                },
                churn: 2.0,
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count = numbering_tests::bench_arg("--blocks", 100).min(100);
    let size = numbering_tests::bench_arg("--size", 10_000).min(99_999);
    let runs = numbering_tests::bench_arg("--runs", 3).max(1);
    let db = TestDb::new().await;
    let t = Instant::now();
    let generated = write_year(&db.owner, &blocks(count, size), YEAR, 2026).await;
    sqlx::query("VACUUM ANALYZE").execute(&db.owner).await?;
    let numbers = db.count("numbering.numbers").await;
    let audit = db.count("numbering.audit_log").await;
    println!(
        "synthetic year: {count} blocks, {numbers} numbers, {audit} audit entries, written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        reset_hwm();
        let t = Instant::now();
        let r = db
            .store
            .scarcity_forecast(&ForecastFilter::default(), 90)
            .await?;
        times.push(t.elapsed());
        peak = peak.max(vm_hwm_kib());
        let flagged = r.blocks.iter().filter(|b| b.forecast.flagged).count();
        println!(
            "forecast: {} blocks ({flagged} flagged) in {:.0} ms, VmHWM {:.1} MiB",
            r.blocks.len(),
            t.elapsed().as_secs_f64() * 1e3,
            vm_hwm_kib() as f64 / 1024.0
        );
    }
    times.sort();
    let model = time_model(count as usize);
    println!(
        "forecast over {numbers} numbers and {audit} audit entries: median {:.0} ms (min {:.0} ms) \
         of {runs}; the model alone {:.1} ms; peak RSS during it {:.1} MiB",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        model.as_secs_f64() * 1e3,
        peak as f64 / 1024.0
    );
    explain(&db).await?;
    for holdout in [30, 60] {
        let b = backtest(&db.store, &generated, YEAR, holdout).await;
        println!("backtest: {b}");
    }
    Ok(())
}

/// The pure model over `blocks` series of a year (Poisson-like noise).
fn time_model(blocks: usize) -> Duration {
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    let last = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let mut rng = numbering_tests::synthetic::Rng(1);
    let series: Vec<Vec<f64>> = (0..blocks)
        .map(|b| {
            (0..YEAR)
                .map(|_| f64::from(rng.poisson(3.0 + (b % 25) as f64)))
                .collect()
        })
        .collect();
    let t = Instant::now();
    for net in &series {
        let s = Series {
            last_day: last,
            net,
        };
        std::hint::black_box(forecast::forecast(&s, 2000, now, HORIZON_DAYS));
    }
    t.elapsed()
}

/// The two statements' own execution times (`EXPLAIN ANALYZE`), as the
/// store runs them: the blocks with their stock, and the year's days.
async fn explain(db: &TestDb) -> anyhow::Result<()> {
    use numbering_store::forecast::{BLOCKS, DAYS};
    let mut tx = db.app.begin().await?;
    sqlx::query(
        "SELECT set_config('numbering.scope', 'platform', true), \
           set_config('numbering.tenant_id', '', true)",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    let blocks: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE) {BLOCKS}"))
        .bind(None::<String>)
        .bind(None::<String>)
        .fetch_all(&mut *tx)
        .await?;
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM numbering.lease_contracts")
        .fetch_all(&mut *tx)
        .await?;
    let since = Utc::now() - chrono::Duration::days(i64::from(YEAR));
    let days: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE) {DAYS}"))
        .bind(since)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    for (name, plan) in [("blocks", blocks), ("days", days)] {
        let time = plan.iter().find(|l| l.contains("Execution Time"));
        println!("{name} statement: {}", time.map_or("?", |t| t.trim()));
    }
    tx.rollback().await?;
    Ok(())
}
