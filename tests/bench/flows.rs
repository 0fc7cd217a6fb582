//! Benchmark: complete reserve → assign flows per second over HTTP.
//!
//! Starts a throwaway PostgreSQL (or uses `DATABASE_URL`), fills a fresh
//! database with MSISDN stock and one pool per client tenant, serves the
//! REST APIs on 127.0.0.1 (the same routers the host serves), then runs
//! `--clients` concurrent clients for `--seconds`, each looping
//! "reserve any MSISDN" → "assign" with Idempotency-Keys. Prints flows/s,
//! request latency p50/p99 and the conflict rate.
//!
//!     cargo run --release -p numbering-tests --bin bench-flows -- --clients 64 --seconds 20
//!
//! `--notify-in-transaction 1` puts back the outbox's old NOTIFY trigger,
//! the baseline for the wakeup-after-commit change (run both against a
//! durable cluster through `DATABASE_URL`: see BENCHMARKS.md).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use numbering_tests::{TestDb, app::tenant_token, bench};
use serde_json::{Value, json};

/// The run's settings, from the command line.
struct Args {
    clients: u64,
    seconds: u64,
    stock: u64,
    db_connections: u32,
    /// 1: put back the NOTIFY trigger on the outbox that session 4 removed
    /// (the wakeup inside the writing transaction), to compare in one run
    notify_in_transaction: bool,
}

impl Args {
    fn parse() -> Self {
        Self {
            clients: numbering_tests::bench_arg("--clients", 64),
            seconds: numbering_tests::bench_arg("--seconds", 20),
            stock: numbering_tests::bench_arg("--stock", 200_000),
            db_connections: numbering_tests::bench_arg("--db-connections", 32) as u32,
            notify_in_transaction: numbering_tests::bench_arg("--notify-in-transaction", 0) == 1,
        }
    }
}

/// What the clients count as they go.
#[derive(Clone, Default)]
struct Counters {
    flows: Arc<AtomicU64>,
    conflicts: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
}

impl Counters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// CPU seconds so far: PostgreSQL's (when it runs here) and this process's.
type CpuReading = (Option<f64>, f64);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDb::new().await;
    seed(&db, &args).await?;
    let base = bench::serve_rest(&db, args.db_connections).await?;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients as usize)
        .build()?;
    // where the run's CPU goes: PostgreSQL's (when it runs here) and this
    // process's (the HTTP server and the clients), over the timed window
    let postmaster = numbering_tests::proc_cpu::local_postmaster(&db.owner).await;
    let cpu_now = || {
        (
            postmaster.and_then(numbering_tests::proc_cpu::tree_seconds),
            numbering_tests::proc_cpu::own_seconds(),
        )
    };
    let cpu_at_start = cpu_now();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Counters::default();
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..args.clients {
        let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
        tasks.push(tokio::spawn(client(c, http, base, stop, counters.clone())));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let cpu_at_end = cpu_now();
    let flows_in_window = counters.flows.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    report(&args, elapsed, &all, &counters);
    report_cpu(flows_in_window, cpu_at_start, cpu_at_end);
    Ok(())
}

/// MSISDN stock, one pool per client tenant, and optionally the old NOTIFY
/// trigger.
async fn seed(db: &TestDb, args: &Args) -> anyhow::Result<()> {
    bench::seed_msisdn_stock(db, args.stock as i32, "20").await?;
    bench::seed_tenant_pools(db, "bench", args.clients as usize).await?;
    sqlx::query("ANALYZE").execute(&db.owner).await?;
    if args.notify_in_transaction {
        sqlx::raw_sql(
            "CREATE FUNCTION numbering.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('numbering_outbox', ''); RETURN NULL; END $$; \
             CREATE TRIGGER outbox_notify AFTER INSERT ON numbering.outbox \
             FOR EACH STATEMENT EXECUTE FUNCTION numbering.notify_outbox();",
        )
        .execute(&db.owner)
        .await?;
    }
    Ok(())
}

/// Client `c`: "reserve any MSISDN" → "assign" until `stop`; returns each
/// request's latency.
async fn client(
    c: u64,
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    counters: Counters,
) -> Vec<Duration> {
    let token = tenant_token(&format!("bench-{c}"));
    let mut latencies = Vec::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
    };
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = post(
            "/v1/portal/numbering/reservations",
            json!({ "criteria": { "kind": "MSISDN" } }),
        )
        .await;
        latencies.push(t.elapsed());
        let Ok(r) = r else {
            Counters::count(&counters.failures);
            continue;
        };
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status != 201 {
            if body["code"] == "CONFLICT" {
                Counters::count(&counters.conflicts);
            } else {
                Counters::count(&counters.failures);
            }
            continue;
        }
        let t = Instant::now();
        let a = post(
            "/v1/portal/numbering/leases",
            json!({ "reservation_id": body["id"] }),
        )
        .await;
        latencies.push(t.elapsed());
        match a.map(|a| a.status().as_u16()) {
            Ok(201) => Counters::count(&counters.flows),
            Ok(409) => Counters::count(&counters.conflicts),
            _ => Counters::count(&counters.failures),
        }
    }
    latencies
}

/// Flows/s, latency percentiles (`all` sorted) and the conflict rate.
fn report(args: &Args, elapsed: f64, all: &[Duration], counters: &Counters) {
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let flows = counters.flows.load(Ordering::Relaxed);
    let conflicts = counters.conflicts.load(Ordering::Relaxed);
    let failures = counters.failures.load(Ordering::Relaxed);
    println!("clients            {}", args.clients);
    println!("duration           {elapsed:.1} s");
    println!("flows completed    {flows}");
    println!("flows/s            {:.0}", flows as f64 / elapsed);
    println!("requests           {}", all.len());
    println!("latency p50        {:.1} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("latency p99        {:.1} ms", pct(0.99).as_secs_f64() * 1e3);
    println!(
        "conflicts          {conflicts} ({:.3}% of flows attempted)",
        100.0 * conflicts as f64 / (flows + conflicts + failures).max(1) as f64
    );
    println!("other failures     {failures}");
}

/// CPU per flow over the timed window.
fn report_cpu(flows_in_window: u64, cpu_at_start: CpuReading, cpu_at_end: CpuReading) {
    let per_flow = |seconds: f64| seconds * 1e3 / flows_in_window.max(1) as f64;
    let own = per_flow(cpu_at_end.1 - cpu_at_start.1);
    match (cpu_at_start.0, cpu_at_end.0) {
        (Some(a), Some(b)) => {
            let pg = per_flow(b - a);
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            // at 1,000 flows/s each CPU gives each flow 1 ms
            println!(
                "cpu per flow       PostgreSQL {pg:.2} ms + this process {own:.2} ms = {:.2} ms \
                 (1,000 flows/s on {cpus} CPUs allows {cpus}.00 ms)",
                pg + own,
            );
        }
        _ => println!(
            "cpu per flow       this process {own:.2} ms (PostgreSQL is not on this machine)"
        ),
    }
}
