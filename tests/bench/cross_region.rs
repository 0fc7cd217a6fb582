//! Benchmark: cross-region staleness. A release, recall or suspension
//! committed through `kbl`'s primary; how long after the commit returned
//! `mzr`'s hot path (in-process tier on, replica tier on its own standby,
//! invalidations from its own NATS) stops answering OK: p50 / p95 / p99 /
//! max over `--changes` (500) changes, one at a time, `mzr` polled every
//! millisecond. Goal: p95 ≤ 250 ms on loopback (the seed accepts 2 s).
//!
//! Starts two regions on loopback (`numbering_tests::regions`: Postgres
//! primary + streaming standby, a NATS super-cluster), synchronous
//! replication (`remote_apply`) unless `--async 1`.
//!
//!     cargo run --release -p numbering-tests --bin bench-cross-region -- --changes 500
//!
//! The last line is the result as JSON (`result {…}`).

use std::time::{Duration, Instant};

use numbering_tests::{
    bench_arg,
    regions::Replication,
    replica_reads::{Change, ReadRegions, percentiles, staleness},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let changes = bench_arg("--changes", 500) as usize;
    let replication = match bench_arg("--async", 0) {
        0 => Replication::Synchronous,
        _ => Replication::Asynchronous,
    };
    let started = Instant::now();
    let rr = ReadRegions::start(replication).await;
    let (tenant, leases) = rr.leases("bench", changes).await;
    let mzr = rr.mzr_reader(Duration::from_secs(2), true, true).await;
    eprintln!(
        "{replication:?} replication, {changes} leases made in {:?}",
        started.elapsed()
    );
    rr.drained().await;
    let mut samples = Vec::with_capacity(changes);
    for (i, lease) in leases.iter().enumerate() {
        let change = Change::ALL[i % Change::ALL.len()];
        samples.push(staleness(&rr, &mzr, change, &tenant, lease).await);
    }
    let answered = mzr.reader().replica().map_or(0, |r| r.answered());
    let [p50, p95, p99, max] = percentiles(&mut samples);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "cross-region staleness, {changes} changes ({replication:?}): p50 {:.1} ms, p95 {:.1} ms, \
         p99 {:.1} ms, max {:.1} ms; standby reads answered {answered}",
        ms(p50),
        ms(p95),
        ms(p99),
        ms(max)
    );
    println!(
        "result {}",
        serde_json::json!({
            "changes": changes,
            "replication": format!("{replication:?}"),
            "p50_ms": ms(p50), "p95_ms": ms(p95), "p99_ms": ms(p99), "max_ms": ms(max),
            "replica_answered": answered,
        })
    );
    Ok(())
}
