//! Benchmark (issue 16): the failover, and the cost of synchronous
//! replication.
//!
//! 1. **Sync vs async**, in the same run: for each round a fresh pair of
//!    regions (primary in `kbl`, hot standby in `mzr`), synchronous
//!    (`remote_apply`) and asynchronous alternately; the host's REST
//!    routers in this process on the multi-host `DATABASE_URL`; `--clients`
//!    clients looping reserve-any → assign for `--seconds`. Prints flows/s.
//! 2. **Failover**: synchronous regions with NATS, real `numbering serve`
//!    hosts for both regions on the multi-host URL; a writer per host
//!    (reserve, fresh identifier each time) and a ValidateLease loop per
//!    host on a leased identifier; `pg_ctl stop -m immediate` on the
//!    primary, then promotion. Prints the time from the promotion (and from
//!    the crash) to the first accepted write through each host, and what
//!    ValidateLease answered in each region meanwhile.
//!
//! ```sh
//! cargo build --bin numbering && cargo build -p numbering-tests --bin bench-failover
//! ./target/debug/bench-failover --clients 16 --seconds 20 --rounds 2
//! ```

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use numbering_store::{PoolConfig, Store};
use numbering_tests::{
    app::{edge, tenant_token},
    regions::{
        Region, Regions, Replication,
        drill::{DrillHost, prepare, token},
    },
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = numbering_tests::bench_arg("--clients", 16);
    let seconds = numbering_tests::bench_arg("--seconds", 20);
    let rounds = numbering_tests::bench_arg("--rounds", 2);
    println!("## reserve -> assign flows/s, synchronous vs asynchronous replication");
    for round in 0..rounds {
        for replication in [Replication::Synchronous, Replication::Asynchronous] {
            let flows = flows_per_second(replication, clients, seconds).await?;
            println!(
                "round {round} {replication:?}: {flows:.0} flows/s ({clients} clients, {seconds} s)"
            );
        }
    }
    println!("## failover");
    failover().await
}

async fn flows_per_second(
    replication: Replication,
    clients: u64,
    seconds: u64,
) -> anyhow::Result<f64> {
    let regions = Regions::builder()
        .replication(replication)
        .without_nats()
        .start()
        .await;
    numbering_store::migrate(&regions.primary_url()).await?;
    let mut conn = PgConnection::connect(&regions.primary_url()).await?;
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT '+9379' || lpad(g::text, 7, '0'), '+9379' || lpad(g::text, 7, '0'), 'MSISDN', 'roshan', '412', '20' \
         FROM generate_series(1, 100000) g",
    )
    .execute(&mut conn)
    .await?;
    for c in 0..clients {
        sqlx::query("INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ($1, $1, 1000000)")
            .bind(format!("bench-{c}"))
            .execute(&mut conn)
            .await?;
    }
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    let mut config = PoolConfig::new(regions.multi_host_url());
    config.max_connections = 32;
    let store = Store::new(numbering_store::connect(&config).await?, Default::default());
    let app = numbering_http_edge::with_fallbacks(numbering::serve::rest_router(store, edge()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let flows = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, base, stop, flows) =
                (http.clone(), base.clone(), stop.clone(), flows.clone());
            tokio::spawn(async move { client(c, http, base, stop, flows).await })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let done = flows.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    server.abort();
    Ok(done as f64 / elapsed)
}

async fn client(
    c: u64,
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    flows: Arc<AtomicU64>,
) {
    let token = tenant_token(&format!("bench-{c}"));
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
    };
    while !stop.load(Ordering::Relaxed) {
        let Ok(r) = post(
            "/v1/portal/numbering/reservations",
            json!({ "criteria": { "kind": "MSISDN" } }),
        )
        .await
        else {
            continue;
        };
        if r.status() != 201 {
            continue;
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let a = post(
            "/v1/portal/numbering/leases",
            json!({ "reservation_id": body["id"] }),
        )
        .await;
        if a.is_ok_and(|a| a.status() == 201) {
            flows.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// (sent, answered, status) of each write; (answered, ok) of each validation.
#[derive(Default)]
struct Seen {
    writes: Vec<(Instant, Instant, u16)>,
    validations: Vec<(Instant, bool)>,
}

const TENANT: &str = "bench-failover";

async fn failover() -> anyhow::Result<()> {
    let mut regions = Regions::builder().start().await;
    let ids = prepare(&regions, TENANT, 0, 5000).await;
    regions.wait_replayed().await;
    let url = regions.multi_host_url();
    let hosts = [
        DrillHost::start(&regions, Region::Kbl, &url).await,
        DrillHost::start(&regions, Region::Mzr, &url).await,
    ];
    for h in &hosts {
        h.wait_ready(200).await;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    // one leased identifier, answered from each host's cache
    let leased = ids[0].clone();
    let r: Value = post(
        &http,
        &hosts[0].url("/v1/portal/numbering/reservations"),
        json!({ "identifier": leased }),
    )
    .await?;
    post(
        &http,
        &hosts[0].url("/v1/portal/numbering/leases"),
        json!({ "reservation_id": r["id"] }),
    )
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Vec<Arc<Mutex<Seen>>> = vec![Arc::default(), Arc::default()];
    let mut tasks = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let mine: Vec<String> = ids[1 + i * 2000..1 + (i + 1) * 2000].to_vec();
        let (http, base, stop, s) = (http.clone(), h.url(""), stop.clone(), seen[i].clone());
        tasks.push(tokio::spawn(write_loop(
            http.clone(),
            base.clone(),
            mine,
            stop.clone(),
            s.clone(),
        )));
        let leased = leased.clone();
        tasks.push(tokio::spawn(validate_loop(http, base, leased, stop, s)));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let crashed = Instant::now();
    regions.stop_primary_immediate().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    regions.promote_standby().await;
    let promoted = Instant::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "crash -> promotion returned: {:.2} s",
        (promoted - crashed).as_secs_f64()
    );
    for (h, s) in hosts.iter().zip(&seen) {
        report(h.region.as_str(), &s.lock().unwrap(), crashed, promoted);
    }
    Ok(())
}

fn report(region: &str, s: &Seen, crashed: Instant, promoted: Instant) {
    let first_ok = s
        .writes
        .iter()
        .filter(|(_, answered, status)| *answered > promoted && *status == 201)
        .map(|(_, answered, _)| *answered)
        .min();
    let failed: Vec<u16> = s
        .writes
        .iter()
        .filter(|(_, answered, status)| *answered > crashed && *status != 201)
        .map(|w| w.2)
        .collect();
    match first_ok {
        Some(t) => println!(
            "{region}: first accepted write {:.2} s after the promotion ({:.2} s after the crash); {} writes refused meanwhile, statuses {:?}",
            (t - promoted).as_secs_f64(),
            (t - crashed).as_secs_f64(),
            failed.len(),
            failed.iter().collect::<std::collections::BTreeSet<_>>()
        ),
        None => println!("{region}: no accepted write after the promotion"),
    }
    let window: Vec<&(Instant, bool)> =
        s.validations.iter().filter(|(t, _)| *t > crashed).collect();
    let ok = window.iter().filter(|(_, ok)| *ok).count();
    let gap = window
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_secs_f64())
        .fold(0.0, f64::max);
    println!(
        "{region}: ValidateLease after the crash: {} answers, {ok} allowed, {} not; longest gap between answers {:.0} ms",
        window.len(),
        window.len() - ok,
        gap * 1e3
    );
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .bearer_auth(token(TENANT))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "{url}: {}", r.status());
    Ok(r.json().await?)
}

async fn write_loop(
    http: reqwest::Client,
    base: String,
    ids: Vec<String>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    for id in ids {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let sent = Instant::now();
        let status = http
            .post(format!("{base}/v1/portal/numbering/reservations"))
            .bearer_auth(token(TENANT))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&json!({ "identifier": id }))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        seen.lock()
            .unwrap()
            .writes
            .push((sent, Instant::now(), status));
        if status != 201 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn validate_loop(
    http: reqwest::Client,
    base: String,
    id: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let ok = match http
            .post(format!("{base}/v1/validate-lease"))
            .json(&json!({ "identifier": id, "tenant_id": TENANT }))
            .send()
            .await
        {
            Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["allowed"] == true),
            Err(_) => false,
        };
        seen.lock().unwrap().validations.push((Instant::now(), ok));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
