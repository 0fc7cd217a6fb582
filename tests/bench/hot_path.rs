//! ValidateLease benchmark: each tier of the hot path beside its baseline,
//! measured in the same run on loopback.
//!
//!   cargo run --profile perf -p numbering-tests --bin bench-hot-path [-- --seconds 5]
//!
//! Scenarios (64 concurrent requests over 8 HTTP/2 connections unless noted):
//! - bare tonic unary call that does nothing (the transport's limit)
//! - in-process hit, closed loop; then open loop at half the bare call's throughput
//! - DynamoDB hit (in-process tier off) beside a raw GetItem to the same endpoint
//! - Postgres fallback (no cache tiers) beside a raw sqlx primary-key select
//! - a realistic mix: Zipf-distributed identifiers, 1 % unknown, all tiers on:
//!   hit ratio per tier.
//!
//! Postgres, moto and the load generator all run on this machine and share
//! its CPUs; with `--pin 1` the load generator has half the CPUs to itself
//! and the servers, PostgreSQL and moto the other half. Before the scenarios, the machine's own stalls are
//! measured: one spinning thread per CPU, all at once, records every gap in
//! its clock readings (time the CPU was taken away, by the hypervisor or the
//! kernel) — the floor under any tail latency measured here.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use numbering::embedded::{Durability, EmbeddedPostgres};
use numbering_proto::numbering::v1::{
    LookupRequest, LookupResponse, ValidateLeaseRequest, ValidateLeaseResponse,
    numbering_service_client::NumberingServiceClient,
    numbering_service_server::{NumberingService, NumberingServiceServer},
};
use numbering_store::SnapshotReader;
use numbering_tests::{
    affinity,
    hot_path::{HOT_PATH_CONNECTIONS, HostSetup, TestHost, TestMoto},
};
use numbering_validate_lease::{DynamoTier, TierConfig, local::Cached};
use tokio::runtime::Handle;
use tonic::transport::Channel;

const IDENTIFIERS: usize = 10_000;
const CONCURRENCY: usize = 64;
const CONNECTIONS: usize = 8;

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
    elapsed: Duration,
}

impl Stats {
    fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
    fn line(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.3} | {:.3} | {:.3} | {} |",
            self.throughput(),
            self.pct(0.50),
            self.pct(0.99),
            self.pct(0.999),
            self.errors
        )
    }
}

/// Where the load generator runs: a tokio runtime, and the CPUs it (and the
/// open loop's pacer thread) is pinned to, if any.
struct Load {
    handle: Handle,
    cpus: Option<Vec<usize>>,
}

impl Load {
    /// Runs `fut` on the load generator's runtime: sockets it opens (gRPC
    /// channels, database pools) are polled by that runtime's driver.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        self.handle.spawn(fut).await.expect("a load generator task")
    }

    /// Clients of `url` whose connections live on the load generator's
    /// runtime.
    async fn channels(&self, url: &str) -> Arc<Vec<NumberingServiceClient<Channel>>> {
        let url = url.to_owned();
        Arc::new(self.run(async move { channels(&url).await }).await)
    }
}

/// Closed loop: CONCURRENCY workers call `op` back to back for `duration`
/// (throughput; latency then is mostly queueing behind the other workers).
async fn drive<F, Fut>(load: &Load, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let (op, stop) = (op.clone(), stop.clone());
        workers.push(load.handle.spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let mut errors = 0;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if op(w, n).await {
                    lat.push(t.elapsed().as_micros() as u32);
                } else {
                    errors += 1;
                }
                n += 1;
            }
            (lat, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut stats = Stats::default();
    for w in workers {
        let (lat, errors) = w.await.unwrap();
        stats.latencies_us.extend(lat);
        stats.errors += errors;
    }
    stats.elapsed = started.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

/// Open loop at `rate` calls/s, coordinated-omission safe: call `n` is
/// due at `start + n / rate` and its latency runs from that intended time,
/// so a generator or server that falls behind shows in the numbers instead
/// of silently lowering the load. Each call runs as its own task on
/// `generator`, the load generator's runtime (not the server's), without a
/// cap on calls in flight. Tokio's timer wheel has 1 ms resolution and would
/// release the calls of each millisecond as one burst, so:
/// - pinned (the load generator has CPUs of its own), a task on that runtime
///   keeps the schedule by yielding until each call is due: the generator's
///   CPU spins, and a call goes out within microseconds of its due time;
/// - unpinned (the generator shares the CPUs with the servers, where a
///   spinning pacer would take a CPU from them), a dedicated OS thread keeps
///   it with `thread::sleep` — tens of microseconds late, plus the wake-up of
///   the runtime for every call.
async fn paced<F, Fut>(generator: &Load, duration: Duration, rate: f64, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let calls = (duration.as_secs_f64() * rate) as u64;
    let record = Record::new(calls);
    let start = if generator.cpus.is_some() {
        let record = record.clone();
        generator
            .run(async move {
                let start = Instant::now() + Duration::from_millis(10);
                for n in 0..calls {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    loop {
                        let now = Instant::now();
                        if now >= due {
                            break;
                        }
                        if due - now > Duration::from_millis(2) {
                            tokio::time::sleep(due - now - Duration::from_millis(2)).await;
                        } else {
                            tokio::task::yield_now().await;
                        }
                    }
                    tokio::spawn(record.call(due, op((n % CONCURRENCY as u64) as usize, n)));
                }
                while record.pending.load(Ordering::Acquire) > 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                start
            })
            .await
    } else {
        let (generator, record) = (generator.handle.clone(), record.clone());
        let pacer = std::thread::spawn(move || {
            let start = Instant::now() + Duration::from_millis(10);
            for n in 0..calls {
                let due = start + Duration::from_secs_f64(n as f64 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                generator.spawn(record.call(due, op((n % CONCURRENCY as u64) as usize, n)));
            }
            while record.pending.load(Ordering::Acquire) > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            start
        });
        tokio::task::spawn_blocking(move || pacer.join().expect("the pacer thread"))
            .await
            .unwrap()
    };
    record.stats(start)
}

/// What the open loop's calls record as they finish.
#[derive(Clone)]
struct Record {
    latencies: Arc<Mutex<Vec<u32>>>,
    errors: Arc<AtomicU64>,
    pending: Arc<AtomicU64>,
}

impl Record {
    fn new(calls: u64) -> Self {
        Self {
            latencies: Arc::new(Mutex::new(Vec::with_capacity(calls as usize))),
            errors: Arc::new(AtomicU64::new(0)),
            pending: Arc::new(AtomicU64::new(calls)),
        }
    }

    /// The call due at `due`, as a task that records its latency from then.
    fn call(
        &self,
        due: Instant,
        call: impl std::future::Future<Output = bool> + Send + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let record = self.clone();
        async move {
            if call.await {
                let us = due.elapsed().as_micros() as u32;
                record.latencies.lock().unwrap().push(us);
            } else {
                record.errors.fetch_add(1, Ordering::Relaxed);
            }
            record.pending.fetch_sub(1, Ordering::Release);
        }
    }

    fn stats(self, start: Instant) -> Stats {
        let mut stats = Stats {
            latencies_us: std::mem::take(&mut *self.latencies.lock().unwrap()),
            errors: self.errors.load(Ordering::Relaxed),
            elapsed: start.elapsed(),
        };
        stats.latencies_us.sort_unstable();
        stats
    }
}

/// The machine's own stalls: one thread per CPU, each pinned to its CPU,
/// reads the clock in a tight loop for `duration`, all at once. A gap above
/// half a millisecond between two readings is time the CPU was taken from
/// the thread (by the hypervisor or the kernel); a call in flight then
/// waits as long, whatever the code under test does.
fn machine_stalls(cpus: &[usize], duration: Duration) -> String {
    let threshold = Duration::from_micros(500);
    let probes: Vec<_> = cpus
        .iter()
        .map(|&cpu| {
            std::thread::spawn(move || {
                affinity::pin_current_thread(&[cpu]).expect("pinning a stall probe");
                let start = Instant::now();
                let (mut previous, mut gaps) = (start, Vec::new());
                while previous - start < duration {
                    let now = Instant::now();
                    if now - previous > threshold {
                        gaps.push(now - previous);
                    }
                    previous = now;
                }
                gaps
            })
        })
        .collect();
    let gaps: Vec<Duration> = probes
        .into_iter()
        .flat_map(|p| p.join().expect("a stall probe"))
        .collect();
    let lost: Duration = gaps.iter().sum();
    format!(
        "machine stalls, every CPU spinning for {:.0} s: {} gaps over 0.5 ms, longest {:.1} ms, {:.2} % of CPU time lost",
        duration.as_secs_f64(),
        gaps.len(),
        gaps.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        100.0 * lost.as_secs_f64() / (duration.as_secs_f64() * cpus.len() as f64)
    )
}

/// A NumberingService that answers at once: the transport's own cost.
struct Bare;

#[tonic::async_trait]
impl NumberingService for Bare {
    async fn validate_lease(
        &self,
        _: tonic::Request<ValidateLeaseRequest>,
    ) -> Result<tonic::Response<ValidateLeaseResponse>, tonic::Status> {
        Ok(tonic::Response::new(ValidateLeaseResponse {
            allowed: false,
            reason: 5,
            ..Default::default()
        }))
    }
    async fn lookup(
        &self,
        _: tonic::Request<LookupRequest>,
    ) -> Result<tonic::Response<LookupResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare"))
    }
}

async fn channels(url: &str) -> Vec<NumberingServiceClient<Channel>> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        let ch = Channel::from_shared(url.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        out.push(NumberingServiceClient::new(ch));
    }
    out
}

fn msisdn(i: usize) -> String {
    format!("+937900{i:05}")
}

/// Zipf(s = 1) over 0..n by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += 1.0 / k as f64;
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Self { cdf }
    }
    fn sample(&self, u: f64) -> usize {
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// A small deterministic PRNG (splitmix64) per call index.
fn uniform(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn counter(metrics: &str, tier: &str, outcome: &str) -> f64 {
    let needle = format!("numbering_validate_tier_total{{tier=\"{tier}\",outcome=\"{outcome}\"}}");
    metrics
        .lines()
        .find(|l| l.starts_with(&needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    // `--pin 1` (needs two CPUs or more): the load generator gets the upper
    // half of the CPUs, everything it measures — the servers, PostgreSQL and
    // moto, which inherit the main thread's affinity — the lower half.
    // `--pin 0` (the default): all share every CPU. Pinned, moto shares the
    // server's CPUs in the DynamoDB tier's scenario but not in the raw
    // GetItem's, so that comparison holds only unpinned.
    let cpus = affinity::allowed_cpus()?;
    let pinned = numbering_tests::bench_arg("--pin", 0) == 1 && cpus.len() >= 2;
    let (server_cpus, load_cpus) = cpus.split_at(cpus.len() / 2);
    let server = if pinned {
        affinity::pin_current_thread(server_cpus)?;
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server_cpus.len())
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    let load_cpus = pinned.then(|| load_cpus.to_vec());
    server.block_on(run(load_cpus))
}

async fn run(load_cpus: Option<Vec<usize>>) -> anyhow::Result<()> {
    let seconds = numbering_tests::bench_arg("--seconds", 5);
    let duration = Duration::from_secs(seconds);
    let stalls = {
        let cpus = affinity::allowed_cpus()?;
        let all: Vec<usize> = match &load_cpus {
            // the main thread is pinned to the servers' CPUs by now
            Some(load) => cpus.iter().chain(load).copied().collect(),
            None => cpus,
        };
        tokio::task::spawn_blocking(move || machine_stalls(&all, duration)).await?
    };
    eprintln!("{stalls}");
    match &load_cpus {
        Some(cpus) => eprintln!(
            "pinned: load generator on CPUs {cpus:?}, servers, PostgreSQL and moto on the others"
        ),
        None => eprintln!("not pinned: load generator and servers share every CPU"),
    }
    eprintln!("setting up: postgres, moto, {IDENTIFIERS} leased identifiers");
    let dir = std::env::temp_dir().join(format!("numbering-bench-{}", std::process::id()));
    let pg = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || EmbeddedPostgres::start(&dir, 0, Durability::Throwaway)
    })
    .await??;
    let url = pg.url("postgres");
    numbering_store::migrate(&url).await?;
    let owner = sqlx::PgPool::connect(&url).await?;
    sqlx::query("INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ('acme', 'acme', 100000)")
        .execute(&owner)
        .await?;
    sqlx::query(
        "WITH n AS (INSERT INTO numbering.numbers (identifier, identity_key, kind, state, tenant_id, operator_id, mcc, mnc) \
             SELECT id, id, 'MSISDN', 'ASSIGNED', 'acme', 'roshan', '412', '40' \
             FROM (SELECT '+937900' || lpad(i::text, 5, '0') AS id FROM generate_series(0, $1 - 1) i) s \
             RETURNING id, identifier) \
         INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, term_end) \
         SELECT gen_random_uuid(), id, identifier, 'MSISDN', 'acme', now() + interval '30 days' FROM n",
    )
    .bind(IDENTIFIERS as i32)
    .execute(&owner)
    .await?;
    owner.close().await;
    let pool = numbering_store::connect(&numbering_store::PoolConfig {
        max_connections: 32,
        ..numbering_store::PoolConfig::new(url.clone())
    })
    .await?;
    let store = numbering_store::Store::new(pool.clone(), Default::default());
    let moto = TestMoto::start();
    let tier: DynamoTier = moto
        .tier_with_timeout(Duration::from_secs(3600), Duration::from_secs(10))
        .await;
    {
        use futures_util::StreamExt;
        let (store, tier) = (&store, &tier);
        let filled: Vec<anyhow::Result<bool>> = futures_util::stream::iter(0..IDENTIFIERS)
            .map(|i| async move {
                let id = numbering_shared::Identifier::parse(&msisdn(i))?;
                Ok(tier
                    .put_forward(
                        &id.key(),
                        &Cached::from_snapshot(store.snapshot(&id).await?),
                    )
                    .await?)
            })
            .buffer_unordered(32)
            .collect()
            .await;
        for f in filled {
            f?;
        }
    }
    let metrics = numbering::telemetry::metrics();
    let mut rows = Vec::new();

    // The load generator: its own runtime, so its tasks never queue behind
    // the server's (and vice versa). Unpinned, it drives only the open-loop
    // scenarios (the closed-loop clients share the server's runtime, as
    // before session 5); pinned, it drives every scenario from its own CPUs.
    let generator = {
        let cpus = load_cpus.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus.as_ref().map_or(1, Vec::len))
            .thread_name("load-generator")
            .on_thread_start(move || {
                if let Some(cpus) = &cpus {
                    affinity::pin_current_thread(cpus).expect("pinning the load generator");
                }
            })
            .enable_all()
            .build()?
    };
    let open = Load {
        handle: generator.handle().clone(),
        cpus: load_cpus.clone(),
    };
    let closed = Load {
        handle: if load_cpus.is_some() {
            generator.handle().clone()
        } else {
            Handle::current()
        },
        cpus: load_cpus.clone(),
    };

    // 1. the bare tonic call
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = bare_listener.local_addr()?;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(NumberingServiceServer::new(Bare))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(bare_listener)),
    );
    let bare_url = format!("http://{bare_addr}");
    let clients = closed.channels(&bare_url).await;
    let bare = drive(&closed, duration, validate_op(clients, |_, _| msisdn(0))).await;
    rows.push(bare.line("bare tonic unary call (baseline)"));
    let half = bare.throughput() / 2.0;
    let clients = open.channels(&bare_url).await;
    let bare_half = paced(
        &open,
        duration,
        half,
        validate_op(clients, |_, _| msisdn(0)),
    )
    .await;
    rows.push(bare_half.line(&format!(
        "bare tonic unary call, open loop at {half:.0}/s (baseline)"
    )));

    // 2. in-process hits, closed loop then open loop at half the bare throughput
    let local_only = TestHost::start(store.clone(), HostSetup::default()).await;
    let clients = closed.channels(&local_only.url()).await;
    let warm = drive(
        &closed,
        Duration::from_secs(1),
        validate_op(clients.clone(), |_, n| msisdn(n as usize % 100)),
    )
    .await;
    drop(warm);
    let local = drive(
        &closed,
        duration,
        validate_op(clients, |_, n| msisdn(n as usize % 100)),
    )
    .await;
    rows.push(local.line("ValidateLease, in-process hit"));
    let local_before = metrics.render();
    let clients = open.channels(&local_only.url()).await;
    let local_half = paced(
        &open,
        duration,
        half,
        validate_op(clients, |_, n| msisdn(n as usize % 100)),
    )
    .await;
    rows.push(local_half.line(&format!(
        "ValidateLease, in-process hit, open loop at {half:.0}/s (half the bare call)"
    )));
    let local_after = metrics.render();
    local_only.stop().await;

    // 3. DynamoDB: raw GetItem beside the DynamoDB tier (in-process tier
    // off), on the filled table. Each through a fresh SDK client of its
    // own, neither the one the fill above used: both start from an empty
    // connection pool (and the raw one's connections open on the load
    // generator's runtime)
    let fresh_tier = || {
        DynamoTier::new(
            numbering_validate_lease::dynamo::client_for_endpoint(
                &moto.endpoint(),
                Duration::from_secs(10),
            ),
            tier.table().to_owned(),
            Duration::from_secs(3600),
        )
    };
    let raw_tier = fresh_tier();
    let got = Arc::new(AtomicU64::new(0));
    let raw_get = drive(&closed, duration, {
        let got = got.clone();
        move |w, n| {
            let (tier, got) = (raw_tier.clone(), got.clone());
            async move {
                let key = msisdn((w * 7919 + n as usize) % IDENTIFIERS);
                let item = tier
                    .client()
                    .get_item()
                    .table_name(tier.table())
                    .key("id", aws_sdk_dynamodb::types::AttributeValue::S(key))
                    .consistent_read(true)
                    .send()
                    .await;
                if item.as_ref().is_ok_and(|i| i.item().is_some()) {
                    got.fetch_add(1, Ordering::Relaxed);
                }
                item.is_ok()
            }
        }
    })
    .await;
    anyhow::ensure!(
        got.load(Ordering::Relaxed) == raw_get.latencies_us.len() as u64,
        "the raw GetItem must find its item every time"
    );
    rows.push(raw_get.line("raw GetItem to moto (baseline)"));
    let no_local = TierConfig {
        local_capacity: 0,
        dynamo_deadline: Duration::from_secs(2),
        ..Default::default()
    };
    let dynamo_host = TestHost::start(
        store.clone(),
        HostSetup {
            dynamo: Some(fresh_tier()),
            tiers: no_local,
            ..Default::default()
        },
    )
    .await;
    let clients = closed.channels(&dynamo_host.url()).await;
    let dynamo = drive(
        &closed,
        duration,
        validate_op(clients, |w, n| {
            msisdn((w * 7919 + n as usize) % IDENTIFIERS)
        }),
    )
    .await;
    rows.push(dynamo.line("ValidateLease, DynamoDB hit"));
    dynamo_host.stop().await;

    // 4. Postgres: raw primary-key select beside the Postgres fallback. The
    // select runs as the hot path's read-only role on a pool of the same
    // size as the host's (the application role, unscoped, would see no row
    // at all under row-level security).
    let raw_pool = {
        let pool = pool.clone();
        closed
            .run(async move { SnapshotReader::connect_like(&pool, HOT_PATH_CONNECTIONS).await })
            .await?
            .pool()
            .clone()
    };
    let found = Arc::new(AtomicU64::new(0));
    let raw_select = |pool: sqlx::PgPool, found: Arc<AtomicU64>| {
        move |w: usize, n: u64| {
            let (pool, found) = (pool.clone(), found.clone());
            async move {
                let key = msisdn((w * 7919 + n as usize) % IDENTIFIERS);
                let row = sqlx::query_as::<_, (String, Option<String>, i64)>(
                    "SELECT state::text, tenant_id, version FROM numbering.numbers WHERE identity_key = $1 AND state <> 'RETIRED'",
                )
                .bind(key)
                .fetch_optional(&pool)
                .await;
                if let Ok(Some(_)) = row {
                    found.fetch_add(1, Ordering::Relaxed);
                }
                row.is_ok()
            }
        }
    };
    let raw_closed = drive(
        &closed,
        duration,
        raw_select(raw_pool.clone(), found.clone()),
    )
    .await;
    rows.push(raw_closed.line("raw sqlx primary-key select (baseline)"));
    // where the fallback's time goes: its query alone, no gRPC, before
    // (the SECURITY DEFINER plpgsql function, as the application role) and
    // after (the plain SELECT as the read-only role), same pool size
    let definer = numbering_store::Store::new(
        closed
            .run({
                let config = numbering_store::PoolConfig {
                    max_connections: HOT_PATH_CONNECTIONS,
                    ..numbering_store::PoolConfig::new(url.clone())
                };
                async move { numbering_store::connect(&config).await }
            })
            .await?,
        Default::default(),
    );
    let query_only = drive(&closed, duration, move |w, n| {
        let definer = definer.clone();
        async move {
            let id =
                numbering_shared::Identifier::parse(&msisdn((w * 7919 + n as usize) % IDENTIFIERS))
                    .unwrap();
            matches!(definer.snapshot(&id).await, Ok(Some(_)))
        }
    })
    .await;
    rows.push(query_only.line("query only: numbering.lease_snapshot() (definer function, before)"));
    let snapshots = {
        let pool = pool.clone();
        closed
            .run(async move { SnapshotReader::connect_like(&pool, HOT_PATH_CONNECTIONS).await })
            .await?
    };
    let query_only = drive(&closed, duration, move |w, n| {
        let snapshots = snapshots.clone();
        async move {
            let id =
                numbering_shared::Identifier::parse(&msisdn((w * 7919 + n as usize) % IDENTIFIERS))
                    .unwrap();
            matches!(snapshots.snapshot(&id).await, Ok(Some(_)))
        }
    })
    .await;
    rows.push(query_only.line("query only: SELECT as numbering_hot_path (after)"));
    let pg_only = TierConfig {
        local_capacity: 0,
        ..Default::default()
    };
    let pg_host = TestHost::start(
        store.clone(),
        HostSetup {
            tiers: pg_only,
            ..Default::default()
        },
    )
    .await;
    let pick = |w: usize, n: u64| msisdn((w * 7919 + n as usize) % IDENTIFIERS);
    let clients = closed.channels(&pg_host.url()).await;
    let postgres = drive(&closed, duration, validate_op(clients, pick)).await;
    rows.push(postgres.line("ValidateLease, Postgres fallback"));
    // the same two at one common offered load, open loop: half the
    // fallback's closed-loop throughput
    let pg_rate = postgres.throughput() / 2.0;
    let raw_open = paced(
        &open,
        duration,
        pg_rate,
        raw_select(raw_pool, found.clone()),
    )
    .await;
    rows.push(raw_open.line(&format!(
        "raw sqlx primary-key select, open loop at {pg_rate:.0}/s (baseline)"
    )));
    let clients = open.channels(&pg_host.url()).await;
    let postgres_open = paced(&open, duration, pg_rate, validate_op(clients, pick)).await;
    rows.push(postgres_open.line(&format!(
        "ValidateLease, Postgres fallback, open loop at {pg_rate:.0}/s"
    )));
    pg_host.stop().await;
    let selected = (raw_closed.latencies_us.len() + raw_open.latencies_us.len()) as u64;
    anyhow::ensure!(
        found.load(Ordering::Relaxed) == selected,
        "the raw select must find its row every time"
    );

    // 5. realistic mix over all tiers
    let before = metrics.render();
    let full = TestHost::start(
        store.clone(),
        HostSetup {
            dynamo: Some(tier.clone()),
            ..Default::default()
        },
    )
    .await;
    let clients = closed.channels(&full.url()).await;
    let zipf = Arc::new(Zipf::new(IDENTIFIERS));
    let mix = drive(
        &closed,
        duration,
        validate_op(clients, move |w, n| {
            let u = uniform((w as u64) << 32 | n);
            if u < 0.01 {
                format!("+937999{:05}", n % 100_000)
            } else {
                msisdn(zipf.sample(uniform(u.to_bits())))
            }
        }),
    )
    .await;
    rows.push(mix.line("ValidateLease, Zipf mix, 1 % unknown, all tiers"));
    full.stop().await;
    let after = metrics.render();
    let delta = |tier: &str, outcome: &str| {
        counter(&after, tier, outcome) - counter(&before, tier, outcome)
    };
    let requests = delta("local", "hit") + delta("local", "miss");
    let (local_hits, dynamo_hits, pg_hits) = (
        delta("local", "hit"),
        delta("dynamodb", "hit"),
        delta("postgres", "hit"),
    );

    println!("| scenario | calls/s | p50 ms | p99 ms | p99.9 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{r}");
    }
    println!();
    println!("{stalls}");
    println!(
        "in-process hit vs bare call throughput: {:.2}x (goal >= 0.8)",
        local.throughput() / bare.throughput()
    );
    println!(
        "in-process hit p99 at half the bare load, open loop: {:.3} ms (goal <= 1 ms; the bare call's own p99 at that load: {:.3} ms)",
        local_half.pct(0.99),
        bare_half.pct(0.99)
    );
    println!(
        "in-process misses during the open-loop hit run (expiries refetched in the foreground): {} of {}",
        counter(&local_after, "local", "miss") - counter(&local_before, "local", "miss"),
        counter(&local_after, "local", "hit") - counter(&local_before, "local", "hit")
            + counter(&local_after, "local", "miss")
            - counter(&local_before, "local", "miss")
    );
    println!(
        "DynamoDB tier p50 vs raw GetItem p50: {:.2}x (goal <= 1.3)",
        dynamo.pct(0.5) / raw_get.pct(0.5)
    );
    println!(
        "Postgres fallback, closed loop: p99 {:.3} ms (goal <= 5 ms); p50 vs raw select p50: {:.2}x (goal <= 1.5)",
        postgres.pct(0.99),
        postgres.pct(0.5) / raw_closed.pct(0.5)
    );
    println!(
        "Postgres fallback, open loop at {pg_rate:.0}/s: p99 {:.3} ms (goal <= 5 ms); vs raw select: p50 {:.2}x, p99 {:.2}x (goal <= 1.5)",
        postgres_open.pct(0.99),
        postgres_open.pct(0.5) / raw_open.pct(0.5),
        postgres_open.pct(0.99) / raw_open.pct(0.99)
    );
    println!(
        "Zipf mix hit ratio: in-process {:.2} %, DynamoDB {:.2} % of the rest, Postgres {:.2} % of all ({} requests)",
        100.0 * local_hits / requests,
        100.0 * dynamo_hits / (requests - local_hits).max(1.0),
        100.0 * pg_hits / requests,
        requests
    );
    generator.shutdown_background();
    drop(moto);
    pg.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn validate_op(
    clients: Arc<Vec<NumberingServiceClient<Channel>>>,
    pick: impl Fn(usize, u64) -> String + Send + Sync + 'static,
) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>
+ Send
+ Sync
+ 'static {
    move |w, n| {
        let mut client = clients[w % clients.len()].clone();
        let identifier = pick(w, n);
        Box::pin(async move {
            client
                .validate_lease(ValidateLeaseRequest {
                    identifier,
                    tenant_id: "acme".into(),
                })
                .await
                .is_ok()
        })
    }
}
