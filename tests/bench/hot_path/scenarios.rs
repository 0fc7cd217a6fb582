//! The measured scenarios, one function each, in the order they run: the
//! bare tonic call, the in-process hit, the DynamoDB hit, the Postgres
//! fallback and the Zipf mix. Each writes its rows of the table and returns
//! what the report compares.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use numbering_clients::lease_cache::LeaseCacheTable;
use numbering_proto::numbering::v1::{
    LookupRequest, LookupResponse, ValidateLeaseRequest, ValidateLeaseResponse,
    numbering_service_server::{NumberingService, NumberingServiceServer},
};
use numbering_store::SnapshotReader;
use numbering_tests::hot_path::{HOT_PATH_CONNECTIONS, HostSetup, TestHost};
use numbering_validate_lease::TierConfig;

use crate::{
    load::{Load, Stats, drive, paced, validate_op},
    report::counter,
    setup::{Fixture, IDENTIFIERS, msisdn},
};

/// The scenarios' shared set-up, and the table's rows so far.
pub struct Scenarios<'a> {
    pub fx: &'a Fixture,
    pub open: &'a Load,
    pub closed: &'a Load,
    pub duration: Duration,
    pub rows: Vec<String>,
}

pub struct BareCall {
    pub closed: Stats,
    /// The open loop at half the closed loop's throughput.
    pub half: Stats,
    pub half_rate: f64,
}

pub struct InProcess {
    pub closed: Stats,
    pub half: Stats,
    /// Tier metrics before and after the open-loop run.
    pub before: String,
    pub after: String,
}

pub struct Dynamo {
    pub raw_get: Stats,
    pub tier: Stats,
}

pub struct Postgres {
    pub raw_closed: Stats,
    pub closed: Stats,
    pub rate: f64,
    pub raw_open: Stats,
    pub open: Stats,
}

pub struct Mix {
    pub local_hits: f64,
    pub dynamo_hits: f64,
    pub pg_hits: f64,
    pub requests: f64,
}

/// The metrics as rendered for Prometheus (the recorder is installed by
/// `run` before the first host starts).
fn tier_metrics() -> String {
    numbering::telemetry::metrics().render()
}

/// An identifier spread over the whole stock by worker and call.
fn spread(w: usize, n: u64) -> String {
    msisdn((w * 7919 + n as usize) % IDENTIFIERS)
}

impl Scenarios<'_> {
    /// Scenario 1: the bare tonic call
    pub async fn bare(&mut self) -> anyhow::Result<BareCall> {
        let (open, closed, duration) = (self.open, self.closed, self.duration);
        let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare_addr = bare_listener.local_addr()?;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(NumberingServiceServer::new(Bare))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(bare_listener)),
        );
        let bare_url = format!("http://{bare_addr}");
        let clients = closed.channels(&bare_url).await;
        let bare = drive(closed, duration, validate_op(clients, |_, _| msisdn(0))).await;
        self.rows
            .push(bare.line("bare tonic unary call (baseline)"));
        let half = bare.throughput() / 2.0;
        let clients = open.channels(&bare_url).await;
        let bare_half = paced(open, duration, half, validate_op(clients, |_, _| msisdn(0))).await;
        self.rows.push(bare_half.line(&format!(
            "bare tonic unary call, open loop at {half:.0}/s (baseline)"
        )));
        Ok(BareCall {
            closed: bare,
            half: bare_half,
            half_rate: half,
        })
    }

    /// Scenario 2: in-process hits, closed loop then open loop at half the bare throughput
    pub async fn in_process(&mut self, half: f64) -> InProcess {
        let (open, closed, duration) = (self.open, self.closed, self.duration);
        let local_only = TestHost::start(self.fx.store.clone(), HostSetup::default()).await;
        let clients = closed.channels(&local_only.url()).await;
        let warm = drive(
            closed,
            Duration::from_secs(1),
            validate_op(clients.clone(), |_, n| msisdn(n as usize % 100)),
        )
        .await;
        drop(warm);
        let local = drive(
            closed,
            duration,
            validate_op(clients, |_, n| msisdn(n as usize % 100)),
        )
        .await;
        self.rows.push(local.line("ValidateLease, in-process hit"));
        let local_before = tier_metrics();
        let clients = open.channels(&local_only.url()).await;
        let local_half = paced(
            open,
            duration,
            half,
            validate_op(clients, |_, n| msisdn(n as usize % 100)),
        )
        .await;
        self.rows.push(local_half.line(&format!(
            "ValidateLease, in-process hit, open loop at {half:.0}/s (half the bare call)"
        )));
        let local_after = tier_metrics();
        local_only.stop().await;
        InProcess {
            closed: local,
            half: local_half,
            before: local_before,
            after: local_after,
        }
    }

    /// Scenario 3: DynamoDB: raw GetItem beside the DynamoDB tier (in-process tier
    /// off), on the filled table. Each through a fresh SDK client of its
    /// own, neither the one the fill used: both start from an empty
    /// connection pool (and the raw one's connections open on the load
    /// generator's runtime)
    pub async fn dynamo(&mut self) -> anyhow::Result<Dynamo> {
        let (closed, duration) = (self.closed, self.duration);
        let (moto, tier) = (&self.fx.moto, &self.fx.tier);
        let fresh_tier = || {
            LeaseCacheTable::new(
                numbering_clients::lease_cache::client_for_endpoint(
                    &moto.endpoint(),
                    Duration::from_secs(10),
                ),
                tier.table().to_owned(),
                Duration::from_secs(3600),
            )
        };
        let raw_get = raw_get_item(closed, duration, fresh_tier()).await?;
        self.rows
            .push(raw_get.line("raw GetItem to moto (baseline)"));
        let no_local = TierConfig {
            local_capacity: 0,
            dynamo_deadline: Duration::from_secs(2),
            ..Default::default()
        };
        let dynamo_host = TestHost::start(
            self.fx.store.clone(),
            HostSetup {
                dynamo: Some(fresh_tier()),
                tiers: no_local,
                ..Default::default()
            },
        )
        .await;
        let clients = closed.channels(&dynamo_host.url()).await;
        let dynamo = drive(closed, duration, validate_op(clients, spread)).await;
        self.rows.push(dynamo.line("ValidateLease, DynamoDB hit"));
        dynamo_host.stop().await;
        Ok(Dynamo {
            raw_get,
            tier: dynamo,
        })
    }

    /// Scenario 4: Postgres: raw primary-key select beside the Postgres fallback. The
    /// select runs as the hot path's read-only role on a pool of the same
    /// size as the host's (the application role, unscoped, would see no row
    /// at all under row-level security).
    pub async fn postgres(&mut self) -> anyhow::Result<Postgres> {
        let (open, closed, duration) = (self.open, self.closed, self.duration);
        let raw_pool = self.read_only_pool().await?.pool().clone();
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
            closed,
            duration,
            raw_select(raw_pool.clone(), found.clone()),
        )
        .await;
        self.rows
            .push(raw_closed.line("raw sqlx primary-key select (baseline)"));
        self.query_only().await?;
        let pg_only = TierConfig {
            local_capacity: 0,
            ..Default::default()
        };
        let pg_host = TestHost::start(
            self.fx.store.clone(),
            HostSetup {
                tiers: pg_only,
                ..Default::default()
            },
        )
        .await;
        let pick = spread;
        let clients = closed.channels(&pg_host.url()).await;
        let postgres = drive(closed, duration, validate_op(clients, pick)).await;
        self.rows
            .push(postgres.line("ValidateLease, Postgres fallback"));
        // the same two at one common offered load, open loop: half the
        // fallback's closed-loop throughput
        let pg_rate = postgres.throughput() / 2.0;
        let raw_open = paced(open, duration, pg_rate, raw_select(raw_pool, found.clone())).await;
        self.rows.push(raw_open.line(&format!(
            "raw sqlx primary-key select, open loop at {pg_rate:.0}/s (baseline)"
        )));
        let clients = open.channels(&pg_host.url()).await;
        let postgres_open = paced(open, duration, pg_rate, validate_op(clients, pick)).await;
        self.rows.push(postgres_open.line(&format!(
            "ValidateLease, Postgres fallback, open loop at {pg_rate:.0}/s"
        )));
        pg_host.stop().await;
        let selected = (raw_closed.latencies_us.len() + raw_open.latencies_us.len()) as u64;
        anyhow::ensure!(
            found.load(Ordering::Relaxed) == selected,
            "the raw select must find its row every time"
        );
        Ok(Postgres {
            raw_closed,
            closed: postgres,
            rate: pg_rate,
            raw_open,
            open: postgres_open,
        })
    }

    /// A reader as the hot path's read-only role, its pool as large as the
    /// host's, its connections opened on the closed loop's runtime.
    async fn read_only_pool(&self) -> anyhow::Result<SnapshotReader> {
        let pool = self.fx.pool.clone();
        self.closed
            .run(async move { SnapshotReader::connect_like(&pool, HOT_PATH_CONNECTIONS).await })
            .await
            .map_err(Into::into)
    }

    /// Where the fallback's time goes: its query alone, no gRPC, before
    /// (the SECURITY DEFINER plpgsql function, as the application role) and
    /// after (the plain SELECT as the read-only role), same pool size.
    async fn query_only(&mut self) -> anyhow::Result<()> {
        let (closed, duration) = (self.closed, self.duration);
        let definer = numbering_store::Store::new(
            closed
                .run({
                    let config = numbering_store::PoolConfig {
                        max_connections: HOT_PATH_CONNECTIONS,
                        ..numbering_store::PoolConfig::new(self.fx.url.clone())
                    };
                    async move { numbering_store::connect(&config).await }
                })
                .await?,
            Default::default(),
        );
        let query_only = drive(closed, duration, move |w, n| {
            let definer = definer.clone();
            async move {
                let id = numbering_shared::Identifier::parse(&spread(w, n)).unwrap();
                matches!(definer.snapshot(&id).await, Ok(Some(_)))
            }
        })
        .await;
        self.rows.push(
            query_only.line("query only: numbering.lease_snapshot() (definer function, before)"),
        );
        let snapshots = self.read_only_pool().await?;
        let query_only = drive(closed, duration, move |w, n| {
            let snapshots = snapshots.clone();
            async move {
                let id = numbering_shared::Identifier::parse(&spread(w, n)).unwrap();
                matches!(snapshots.snapshot(&id).await, Ok(Some(_)))
            }
        })
        .await;
        self.rows
            .push(query_only.line("query only: SELECT as numbering_hot_path (after)"));
        Ok(())
    }

    /// Scenario 5: realistic mix over all tiers
    pub async fn mix(&mut self) -> Mix {
        let (closed, duration) = (self.closed, self.duration);
        let before = tier_metrics();
        let full = TestHost::start(
            self.fx.store.clone(),
            HostSetup {
                dynamo: Some(self.fx.tier.clone()),
                ..Default::default()
            },
        )
        .await;
        let clients = closed.channels(&full.url()).await;
        let mix = drive(closed, duration, validate_op(clients, zipf_pick())).await;
        self.rows
            .push(mix.line("ValidateLease, Zipf mix, 1 % unknown, all tiers"));
        full.stop().await;
        let after = tier_metrics();
        let delta = |tier: &str, outcome: &str| {
            counter(&after, tier, outcome) - counter(&before, tier, outcome)
        };
        Mix {
            requests: delta("local", "hit") + delta("local", "miss"),
            local_hits: delta("local", "hit"),
            dynamo_hits: delta("dynamodb", "hit"),
            pg_hits: delta("postgres", "hit"),
        }
    }
}

/// Raw GetItems of spread identifiers through `raw_tier`'s client, each
/// checked to find its item.
async fn raw_get_item(
    closed: &Load,
    duration: Duration,
    raw_tier: LeaseCacheTable,
) -> anyhow::Result<Stats> {
    let got = Arc::new(AtomicU64::new(0));
    let raw_get = drive(closed, duration, {
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
    Ok(raw_get)
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

/// The mix's identifiers: Zipf-distributed over the stock, 1 % unknown.
pub fn zipf_pick() -> impl Fn(usize, u64) -> String + Send + Sync + 'static {
    let zipf = Arc::new(Zipf::new(IDENTIFIERS));
    move |w, n| {
        let u = uniform((w as u64) << 32 | n);
        if u < 0.01 {
            format!("+937999{:05}", n % 100_000)
        } else {
            msisdn(zipf.sample(uniform(u.to_bits())))
        }
    }
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
