//! Benchmark: random lifecycle operations on a few identifiers, over HTTP.
//!
//! The load of the service's acceptance criterion: `--clients` (64)
//! concurrent clients for `--seconds` (60) doing random lifecycle
//! operations on `--identifiers` (40) MSISDNs — tenants reserving, holding,
//! assigning, cancelling and releasing, admins overriding quarantine — so
//! that most attempts collide with one another and are refused. Every
//! answer's status is counted; the run fails (exit code 1) on any 5xx, any
//! request slower than `--max-ms` (2000) or any request that got no answer.
//!
//! Starts a throwaway PostgreSQL (or uses `DATABASE_URL`) and serves the
//! REST APIs on 127.0.0.1 with the routers the host serves, as bench-flows.
//!
//!     cargo run --release -p numbering-tests --bin bench-lifecycle-mix -- --clients 64 --seconds 60
//!
//! The last line is the result as JSON (`result {…}`), for scripts and the
//! smoke test.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use numbering_http_edge::with_fallbacks;
use numbering_store::{PoolConfig, Store};
use numbering_tests::{
    TestDb,
    app::{admin_token, edge, tenant_token},
};
use serde_json::{Value, json};

const PORTAL: &str = "/v1/portal/numbering";
const ADMIN: &str = "/v1/admin/numbering";

/// What each tenant's clients have learnt from answers: the newest
/// reservation and lease a tenant got per identifier (often stale: that is
/// the point — the tenant's other clients act on it concurrently, so
/// transitions collide and are refused).
#[derive(Default)]
struct Known {
    /// (tenant, identifier index) → reservation id
    reservations: HashMap<(String, usize), String>,
    /// (tenant, identifier index) → lease id
    leases: HashMap<(String, usize), String>,
}

/// One client's tally.
#[derive(Default)]
struct Tally {
    /// (operation, status) → answers
    statuses: BTreeMap<(&'static str, u16), u64>,
    /// 5xx answers: operation, status, body
    server_errors: Vec<String>,
    /// requests that got no answer
    no_answer: Vec<String>,
    latencies: Vec<Duration>,
    slowest: (Duration, &'static str),
}

/// xorshift64*: enough randomness for picking operations, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = numbering_tests::bench_arg("--clients", 64) as usize;
    let seconds = numbering_tests::bench_arg("--seconds", 60);
    let identifiers = numbering_tests::bench_arg("--identifiers", 40) as usize;
    let tenants = numbering_tests::bench_arg("--tenants", 8) as usize;
    let max_ms = numbering_tests::bench_arg("--max-ms", 2000);
    let db_connections = numbering_tests::bench_arg("--db-connections", 32) as u32;

    let db = TestDb::new().await;
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT '+9379' || lpad(g::text, 7, '0'), '+9379' || lpad(g::text, 7, '0'), 'MSISDN', 'roshan', '412', '40' \
         FROM generate_series(1, $1::int) g",
    )
    .bind(identifiers as i32)
    .execute(&db.owner)
    .await?;
    for t in 0..tenants {
        sqlx::query(
            "INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ($1, $1, 1000000)",
        )
        .bind(format!("mix-{t}"))
        .execute(&db.owner)
        .await?;
    }
    let ids: Arc<Vec<String>> =
        Arc::new((1..=identifiers).map(|g| format!("+9379{g:07}")).collect());
    let mut config = PoolConfig::new(db.owner_url.clone());
    config.max_connections = db_connections;
    let store = Store::new(numbering_store::connect(&config).await?, Default::default());
    let app = with_fallbacks(numbering::serve::rest_router(store, edge()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(60))
        .build()?;
    let known = Arc::new(Mutex::new(Known::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let admin = admin_token();
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..clients {
        let tenant = format!("mix-{}", c % tenants);
        let token = tenant_token(&tenant);
        let (http, base, stop, known, ids, admin) = (
            http.clone(),
            base.clone(),
            stop.clone(),
            known.clone(),
            ids.clone(),
            admin.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng =
                Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
            let mut tally = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let i = rng.below(ids.len());
                let id = &ids[i];
                let key = (tenant.clone(), i);
                let reservation = known.lock().unwrap().reservations.get(&key).cloned();
                let lease = known.lock().unwrap().leases.get(&key).cloned();
                let (op, method, path, body, as_admin) = match rng.below(10) {
                    0..=2 => (
                        "reserve",
                        "POST",
                        format!("{PORTAL}/reservations"),
                        json!({ "identifier": id }),
                        false,
                    ),
                    3 => match &reservation {
                        Some(r) => (
                            "hold",
                            "POST",
                            format!("{PORTAL}/reservations/{r}/hold"),
                            json!({}),
                            false,
                        ),
                        None => continue,
                    },
                    4..=5 => match &reservation {
                        Some(r) => (
                            "assign",
                            "POST",
                            format!("{PORTAL}/leases"),
                            json!({ "reservation_id": r }),
                            false,
                        ),
                        None => continue,
                    },
                    6 => match &reservation {
                        Some(r) => (
                            "cancel",
                            "DELETE",
                            format!("{PORTAL}/reservations/{r}"),
                            Value::Null,
                            false,
                        ),
                        None => continue,
                    },
                    7 => match &lease {
                        Some(l) => (
                            "release",
                            "POST",
                            format!("{PORTAL}/leases/{l}/release"),
                            json!({}),
                            false,
                        ),
                        None => continue,
                    },
                    _ => (
                        "override",
                        "POST",
                        format!("{ADMIN}/quarantine/{id}/override"),
                        json!({ "justification": "load test: back to stock at once" }),
                        true,
                    ),
                };
                let mut request = match method {
                    "DELETE" => http.delete(format!("{base}{path}")),
                    _ => http.post(format!("{base}{path}")),
                }
                .bearer_auth(if as_admin { &admin } else { &token })
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
                if !body.is_null() {
                    request = request.json(&body);
                }
                let t = Instant::now();
                let answer = request.send().await;
                let answer = match answer {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        Ok((status, text))
                    }
                    Err(e) => Err(e),
                };
                let took = t.elapsed();
                tally.latencies.push(took);
                if took > tally.slowest.0 {
                    tally.slowest = (took, op);
                }
                let (status, text) = match answer {
                    Ok(a) => a,
                    Err(e) => {
                        tally.no_answer.push(format!("{op} {path}: {e}"));
                        continue;
                    }
                };
                *tally.statuses.entry((op, status)).or_default() += 1;
                if status >= 500 {
                    tally
                        .server_errors
                        .push(format!("{op} {path} → {status} after {took:?}: {text}"));
                }
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let mut known = known.lock().unwrap();
                match (op, status) {
                    ("reserve", 201) => {
                        if let Some(r) = body["id"].as_str() {
                            known.reservations.insert(key, r.to_owned());
                        }
                    }
                    ("assign", 201) => {
                        if let Some(l) = body["id"].as_str() {
                            known.leases.insert(key, l.to_owned());
                        }
                    }
                    _ => {}
                }
            }
            tally
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut statuses: BTreeMap<(&'static str, u16), u64> = BTreeMap::new();
    let mut server_errors = Vec::new();
    let mut no_answer = Vec::new();
    let mut latencies = Vec::new();
    let mut slowest = (Duration::ZERO, "");
    for t in tasks {
        let t = t.await?;
        for (k, n) in t.statuses {
            *statuses.entry(k).or_default() += n;
        }
        server_errors.extend(t.server_errors);
        no_answer.extend(t.no_answer);
        latencies.extend(t.latencies);
        slowest = slowest.max(t.slowest);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let limit = Duration::from_millis(max_ms);
    let too_slow = latencies.iter().filter(|l| **l > limit).count();
    println!("clients            {clients} ({tenants} tenants and the platform admin)");
    println!("identifiers        {identifiers}");
    println!("duration           {elapsed:.1} s");
    println!("requests           {}", latencies.len());
    println!("requests/s         {:.0}", latencies.len() as f64 / elapsed);
    println!("latency p50        {:.1} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("latency p99        {:.1} ms", pct(0.99).as_secs_f64() * 1e3);
    println!(
        "latency max        {:.1} ms ({})",
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
    println!("answers by operation and status:");
    for ((op, status), n) in &statuses {
        println!("  {op:<10} {status}  {n}");
    }
    let five_xx: u64 = statuses
        .iter()
        .filter(|((_, s), _)| *s >= 500)
        .map(|(_, n)| n)
        .sum();
    println!("5xx                {five_xx}");
    for e in server_errors.iter().take(5) {
        println!("  {e}");
    }
    println!("slower than {max_ms} ms  {too_slow}");
    println!("no answer          {}", no_answer.len());
    for e in no_answer.iter().take(5) {
        println!("  {e}");
    }
    println!(
        "result {}",
        json!({
            "requests": latencies.len(),
            "5xx": five_xx,
            "slower_than_limit": too_slow,
            "no_answer": no_answer.len(),
            "max_ms": slowest.0.as_secs_f64() * 1e3,
            "p99_ms": pct(0.99).as_secs_f64() * 1e3,
        })
    );
    if five_xx > 0 || too_slow > 0 || !no_answer.is_empty() {
        println!(
            "FAILED: the run must have no 5xx, nothing slower than {max_ms} ms, every request answered"
        );
        std::process::exit(1);
    }
    Ok(())
}
