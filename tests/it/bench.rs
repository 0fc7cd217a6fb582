//! Benchmarks of the outbox relay (BENCHMARKS.md), ignored by default:
//!
//! ```text
//! cargo test --release -p numbering-tests --test it bench -- --ignored --nocapture --test-threads 1
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use numbering_outbox_relay::{Relay, RelayConfig};
use numbering_tests::{TestDb, TestNats, eventually, lease_all, system_ctx};
use serde_json::Value;

use crate::relay::{spawn_relay, unpublished};

/// (identifier, version) → (transaction start, commit returned).
type Timings = HashMap<(String, i64), (Instant, Instant)>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run explicitly (see BENCHMARKS.md)"]
async fn bench_relay_max_throughput() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let n: i64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    sqlx::query(
        "INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         SELECT gen_random_uuid(), 'NUMBERING_EVENTS', 'number.suspended.v1', 'number', \
                '+9378' || lpad((i % 1000)::text, 7, '0'), 'acme', \
                json_build_object('identifier', '+9378' || lpad((i % 1000)::text, 7, '0'), 'version', i / 1000 + 2) \
         FROM generate_series(1, $1) AS i",
    )
    .bind(n)
    .execute(&db.owner)
    .await
    .unwrap();
    let relay = Relay::new(
        db.app.clone(),
        nats.client().await,
        RelayConfig {
            batch: 2000,
            ..Default::default()
        },
    );
    numbering_outbox_relay::ensure_streams(relay.jetstream())
        .await
        .unwrap();
    let start = Instant::now();
    let mut published = 0;
    while published < n as usize {
        published += relay.publish_pending().await.unwrap();
    }
    let elapsed = start.elapsed();
    println!(
        "BENCH relay max throughput: {n} events in {:.2} s = {:.0} events/s (commit already done; publish + ack + mark)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run explicitly (see BENCHMARKS.md)"]
async fn bench_outbox_lag_at_a_sustained_thousand_operations_per_second() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let rate: u64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tenant = db.pool_for("acme").await;
    let workers = 50usize;
    let raw: Vec<String> = (0..workers * 2).map(|i| format!("+937814{i:05}")).collect();
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    lease_all(&db, &tenant, &ids).await;
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, RelayConfig::default());
    eventually(Duration::from_secs(30), "setup published", || async {
        unpublished(&db).await == 0
    })
    .await;

    // commit time of every (identifier, version), and arrival on NATS
    let committed: Arc<Mutex<Timings>> = Arc::default();
    let arrived: Arc<Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let client = nats.client().await;
    let mut sub = client.subscribe("number.>").await.unwrap();
    client.flush().await.unwrap();
    let arrived_w = arrived.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let now = Instant::now();
            let e: Value = serde_json::from_slice(&m.payload).unwrap();
            let key = (
                e["subject"].as_str().unwrap().to_owned(),
                e["data"]["version"].as_i64().unwrap(),
            );
            arrived_w.lock().unwrap().insert(key, now);
        }
    });

    let per_worker = Duration::from_secs_f64(workers as f64 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = db.store.clone();
        let committed = committed.clone();
        let mine = [ids[2 * w].clone(), ids[2 * w + 1].clone()];
        tasks.push(tokio::spawn(async move {
            let mut next = Instant::now() + per_worker.mul_f64(w as f64 / workers as f64);
            let mut i = 0usize;
            while start.elapsed() < Duration::from_secs(seconds) {
                tokio::time::sleep_until(next.into()).await;
                next += per_worker;
                let id = &mine[i % 2];
                let began = Instant::now();
                let r = if (i / 2) % 2 == 0 {
                    store.suspend(&system_ctx(), id).await
                } else {
                    store.reinstate(&system_ctx(), id).await
                };
                let at = Instant::now();
                let n = r.expect("operation");
                committed
                    .lock()
                    .unwrap()
                    .insert((n.identifier.as_str().to_owned(), n.version), (began, at));
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ops = committed.lock().unwrap().len();
    let achieved = ops as f64 / start.elapsed().as_secs_f64();
    eventually(Duration::from_secs(60), "everything arrived", || {
        let done = arrived.lock().unwrap().len() >= ops;
        async move { done }
    })
    .await;
    let arrived = arrived.lock().unwrap();
    let committed = committed.lock().unwrap();
    // from the commit's return (a lower bound: the relay may have it before
    // the writer's task runs again; negatives count as 0) …
    let mut lags: Vec<Duration> = committed
        .iter()
        .map(|(k, (_, at))| arrived[k].saturating_duration_since(*at))
        .collect();
    lags.sort();
    // … and from the start of the transaction (an upper bound)
    let mut upper: Vec<Duration> = committed
        .iter()
        .map(|(k, (began, _))| arrived[k].saturating_duration_since(*began))
        .collect();
    upper.sort();
    println!(
        "BENCH outbox lag upper bound (transaction start -> arrival): p50 {:?} p95 {:?} p99 {:?} max {:?}",
        percentile(&upper, 0.50),
        percentile(&upper, 0.95),
        percentile(&upper, 0.99),
        upper.last().unwrap()
    );
    println!(
        "BENCH outbox lag at {achieved:.0} ops/s over {seconds} s ({ops} ops): p50 {:?} p95 {:?} p99 {:?} max {:?}",
        percentile(&lags, 0.50),
        percentile(&lags, 0.95),
        percentile(&lags, 0.99),
        lags.last().unwrap()
    );
}

/// `bench-lifecycle-mix` works: a few seconds of its random lifecycle load
/// are answered without one 5xx, and every operation it drives (reserve,
/// hold, assign, cancel, release, quarantine override) is answered. How
/// fast is for the benchmark itself (BENCHMARKS.md), not asserted here.
#[test]
fn the_lifecycle_mix_benchmark_runs_without_a_server_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bench-lifecycle-mix"))
        .args(["--clients", "8", "--seconds", "3", "--identifiers", "10"])
        // no latency bound in a test: a busy machine must not fail it
        .args(["--max-ms", "600000"])
        .output()
        .expect("run bench-lifecycle-mix");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("result "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| {
            panic!(
                "no result line:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(result["5xx"], 0, "{stdout}");
    assert_eq!(result["no_answer"], 0, "{stdout}");
    assert!(result["requests"].as_u64().unwrap() > 0, "{stdout}");
    for op in ["reserve", "assign", "override"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(op)),
            "{op} was driven:\n{stdout}"
        );
    }
}
