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

use numbering_http_edge::with_fallbacks;
use numbering_store::{PoolConfig, Store};
use numbering_tests::{
    TestDb,
    app::{edge, tenant_token},
};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = numbering_tests::bench_arg("--clients", 64);
    let seconds = numbering_tests::bench_arg("--seconds", 20);
    let stock = numbering_tests::bench_arg("--stock", 200_000);
    let db_connections = numbering_tests::bench_arg("--db-connections", 32) as u32;
    // 1: put back the NOTIFY trigger on the outbox that session 4 removed
    // (the wakeup inside the writing transaction), to compare in one run
    let notify_in_transaction = numbering_tests::bench_arg("--notify-in-transaction", 0) == 1;

    let db = TestDb::new().await;
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT '+9379' || lpad(g::text, 7, '0'), '+9379' || lpad(g::text, 7, '0'), 'MSISDN', 'roshan', '412', '20' \
         FROM generate_series(1, $1::int) g",
    )
    .bind(stock as i32)
    .execute(&db.owner)
    .await?;
    for c in 0..clients {
        sqlx::query(
            "INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ($1, $1, 1000000)",
        )
        .bind(format!("bench-{c}"))
        .execute(&db.owner)
        .await?;
    }
    sqlx::query("ANALYZE").execute(&db.owner).await?;
    if notify_in_transaction {
        sqlx::raw_sql(
            "CREATE FUNCTION numbering.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM pg_notify('numbering_outbox', ''); RETURN NULL; END $$; \
             CREATE TRIGGER outbox_notify AFTER INSERT ON numbering.outbox \
             FOR EACH STATEMENT EXECUTE FUNCTION numbering.notify_outbox();",
        )
        .execute(&db.owner)
        .await?;
    }
    let mut config = PoolConfig::new(db.owner_url.clone());
    config.max_connections = db_connections;
    let store = Store::new(numbering_store::connect(&config).await?, Default::default());
    let app = with_fallbacks(numbering::serve::rest_router(store, edge()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients as usize)
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
    let flows = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let (http, base, stop) = (http.clone(), base.clone(), stop.clone());
        let (flows, conflicts, failures) = (flows.clone(), conflicts.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
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
                    failures.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if status != 201 {
                    if body["code"] == "CONFLICT" {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
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
                    Ok(201) => {
                        flows.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(409) => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu_at_end = cpu_now();
    let flows_in_window = flows.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let flows = flows.load(Ordering::Relaxed);
    let conflicts = conflicts.load(Ordering::Relaxed);
    let failures = failures.load(Ordering::Relaxed);
    println!("clients            {clients}");
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
    Ok(())
}
