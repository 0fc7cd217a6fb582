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

use numbering_tests::{
    TestDb,
    app::{admin_token, tenant_token},
    bench,
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

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (k, n) in other.statuses {
            *self.statuses.entry(k).or_default() += n;
        }
        self.server_errors.extend(other.server_errors);
        self.no_answer.extend(other.no_answer);
        self.latencies.extend(other.latencies);
        self.slowest = self.slowest.max(other.slowest);
    }
}

/// The run's settings, from the command line.
struct Args {
    clients: usize,
    seconds: u64,
    identifiers: usize,
    tenants: usize,
    max_ms: u64,
    db_connections: u32,
}

impl Args {
    fn parse() -> Self {
        Self {
            clients: numbering_tests::bench_arg("--clients", 64) as usize,
            seconds: numbering_tests::bench_arg("--seconds", 60),
            identifiers: numbering_tests::bench_arg("--identifiers", 40) as usize,
            tenants: numbering_tests::bench_arg("--tenants", 8) as usize,
            max_ms: numbering_tests::bench_arg("--max-ms", 2000),
            db_connections: numbering_tests::bench_arg("--db-connections", 32) as u32,
        }
    }
}

/// One request to make.
struct Op {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Value,
    as_admin: bool,
}

impl Op {
    fn new(name: &'static str, method: &'static str, path: String, body: Value) -> Self {
        Self {
            name,
            method,
            path,
            body,
            as_admin: false,
        }
    }
}

/// A random operation on `id`, given what the tenant knows of it (`None`
/// when the drawn operation needs a reservation or lease it has not got).
fn pick(rng: &mut Rng, id: &str, reservation: Option<&str>, lease: Option<&str>) -> Option<Op> {
    Some(match rng.below(10) {
        0..=2 => Op::new(
            "reserve",
            "POST",
            format!("{PORTAL}/reservations"),
            json!({ "identifier": id }),
        ),
        3 => Op::new(
            "hold",
            "POST",
            format!("{PORTAL}/reservations/{}/hold", reservation?),
            json!({}),
        ),
        4..=5 => Op::new(
            "assign",
            "POST",
            format!("{PORTAL}/leases"),
            json!({ "reservation_id": reservation? }),
        ),
        6 => Op::new(
            "cancel",
            "DELETE",
            format!("{PORTAL}/reservations/{}", reservation?),
            Value::Null,
        ),
        7 => Op::new(
            "release",
            "POST",
            format!("{PORTAL}/leases/{}/release", lease?),
            json!({}),
        ),
        _ => Op {
            as_admin: true,
            ..Op::new(
                "override",
                "POST",
                format!("{ADMIN}/quarantine/{id}/override"),
                json!({ "justification": "load test: back to stock at once" }),
            )
        },
    })
}

/// What one client shares with the others.
#[derive(Clone)]
struct Shared {
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    known: Arc<Mutex<Known>>,
    ids: Arc<Vec<String>>,
    admin: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = TestDb::new().await;
    bench::seed_msisdn_stock(&db, args.identifiers as i32, "40").await?;
    bench::seed_tenant_pools(&db, "mix", args.tenants).await?;
    let ids: Arc<Vec<String>> = Arc::new(
        (1..=args.identifiers)
            .map(|g| format!("+9379{g:07}"))
            .collect(),
    );
    let base = bench::serve_rest(&db, args.db_connections).await?;

    let shared = Shared {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients)
            .timeout(Duration::from_secs(60))
            .build()?,
        base,
        stop: Arc::new(AtomicBool::new(false)),
        known: Arc::new(Mutex::new(Known::default())),
        ids,
        admin: admin_token(),
    };
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..args.clients {
        let tenant = format!("mix-{}", c % args.tenants);
        tasks.push(tokio::spawn(client(c, tenant, shared.clone())));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.stop.store(true, Ordering::Relaxed);
    let mut all = Tally::default();
    for t in tasks {
        all.merge(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies.sort();
    if !report(&args, elapsed, &all) {
        println!(
            "FAILED: the run must have no 5xx, nothing slower than {} ms, every request answered",
            args.max_ms
        );
        std::process::exit(1);
    }
    Ok(())
}

/// Client `c` of `tenant`: random operations until `stop`.
async fn client(c: usize, tenant: String, shared: Shared) -> Tally {
    let token = tenant_token(&tenant);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let mut tally = Tally::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let i = rng.below(shared.ids.len());
        let id = &shared.ids[i];
        let key = (tenant.clone(), i);
        let reservation = shared.known.lock().unwrap().reservations.get(&key).cloned();
        let lease = shared.known.lock().unwrap().leases.get(&key).cloned();
        let Some(op) = pick(&mut rng, id, reservation.as_deref(), lease.as_deref()) else {
            continue;
        };
        let bearer = if op.as_admin { &shared.admin } else { &token };
        let Some((status, text)) = send(&shared, bearer, &op, &mut tally).await else {
            continue;
        };
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut known = shared.known.lock().unwrap();
        match (op.name, status) {
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
}

/// Sends `op` and tallies its answer: `None` when there was none.
async fn send(shared: &Shared, bearer: &str, op: &Op, tally: &mut Tally) -> Option<(u16, String)> {
    let (base, path) = (&shared.base, &op.path);
    let mut request = match op.method {
        "DELETE" => shared.http.delete(format!("{base}{path}")),
        _ => shared.http.post(format!("{base}{path}")),
    }
    .bearer_auth(bearer)
    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if !op.body.is_null() {
        request = request.json(&op.body);
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
        tally.slowest = (took, op.name);
    }
    let (status, text) = match answer {
        Ok(a) => a,
        Err(e) => {
            tally.no_answer.push(format!("{} {path}: {e}", op.name));
            return None;
        }
    };
    *tally.statuses.entry((op.name, status)).or_default() += 1;
    if status >= 500 {
        tally.server_errors.push(format!(
            "{} {path} → {status} after {took:?}: {text}",
            op.name
        ));
    }
    Some((status, text))
}

/// Prints the run's answers (`all.latencies` sorted) and the result line;
/// whether the run passed.
fn report(args: &Args, elapsed: f64, all: &Tally) -> bool {
    let latencies = &all.latencies;
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let max_ms = args.max_ms;
    let limit = Duration::from_millis(max_ms);
    let too_slow = latencies.iter().filter(|l| **l > limit).count();
    println!(
        "clients            {} ({} tenants and the platform admin)",
        args.clients, args.tenants
    );
    println!("identifiers        {}", args.identifiers);
    println!("duration           {elapsed:.1} s");
    println!("requests           {}", latencies.len());
    println!("requests/s         {:.0}", latencies.len() as f64 / elapsed);
    println!("latency p50        {:.1} ms", pct(0.50).as_secs_f64() * 1e3);
    println!("latency p99        {:.1} ms", pct(0.99).as_secs_f64() * 1e3);
    println!(
        "latency max        {:.1} ms ({})",
        all.slowest.0.as_secs_f64() * 1e3,
        all.slowest.1
    );
    println!("answers by operation and status:");
    for ((op, status), n) in &all.statuses {
        println!("  {op:<10} {status}  {n}");
    }
    let five_xx: u64 = all
        .statuses
        .iter()
        .filter(|((_, s), _)| *s >= 500)
        .map(|(_, n)| n)
        .sum();
    println!("5xx                {five_xx}");
    for e in all.server_errors.iter().take(5) {
        println!("  {e}");
    }
    println!("slower than {max_ms} ms  {too_slow}");
    println!("no answer          {}", all.no_answer.len());
    for e in all.no_answer.iter().take(5) {
        println!("  {e}");
    }
    println!(
        "result {}",
        json!({
            "requests": latencies.len(),
            "5xx": five_xx,
            "slower_than_limit": too_slow,
            "no_answer": all.no_answer.len(),
            "max_ms": all.slowest.0.as_secs_f64() * 1e3,
            "p99_ms": pct(0.99).as_secs_f64() * 1e3,
        })
    );
    five_xx == 0 && too_slow == 0 && all.no_answer.is_empty()
}
