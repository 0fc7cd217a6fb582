//! The load generator: where it runs ([`Load`]), the closed loop
//! ([`drive`]), the coordinated-omission-safe open loop ([`paced`]), the
//! gRPC clients and the ValidateLease call they make, and the [`Stats`] a
//! run yields.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use numbering_proto::numbering::v1::{
    ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use tokio::runtime::Handle;
use tonic::transport::Channel;

const CONCURRENCY: usize = 64;
const CONNECTIONS: usize = 8;

#[derive(Default)]
pub struct Stats {
    pub latencies_us: Vec<u32>,
    errors: u64,
    elapsed: Duration,
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }
    pub fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
    pub fn line(&self, name: &str) -> String {
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
pub struct Load {
    pub handle: Handle,
    pub cpus: Option<Vec<usize>>,
}

impl Load {
    /// Runs `fut` on the load generator's runtime: sockets it opens (gRPC
    /// channels, database pools) are polled by that runtime's driver.
    pub async fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        self.handle.spawn(fut).await.expect("a load generator task")
    }

    /// Clients of `url` whose connections live on the load generator's
    /// runtime.
    pub async fn channels(&self, url: &str) -> Arc<Vec<NumberingServiceClient<Channel>>> {
        let url = url.to_owned();
        Arc::new(self.run(async move { channels(&url).await }).await)
    }
}

/// Closed loop: CONCURRENCY workers call `op` back to back for `duration`
/// (throughput; latency then is mostly queueing behind the other workers).
pub async fn drive<F, Fut>(load: &Load, duration: Duration, op: F) -> Stats
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
pub async fn paced<F, Fut>(generator: &Load, duration: Duration, rate: f64, op: F) -> Stats
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

pub fn validate_op(
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
