//! What the scenarios run against: a throwaway PostgreSQL with
//! [`IDENTIFIERS`] leased MSISDNs, moto with the DynamoDB tier's table filled
//! from them, and the load generator's runtime.

use std::time::Duration;

use numbering::embedded::{Durability, EmbeddedPostgres};
use numbering_clients::lease_cache::LeaseCacheTable;
use numbering_tests::{affinity, hot_path::TestMoto};
use numbering_validate_lease::local::Cached;
use tokio::runtime::{Handle, Runtime};

use crate::load::Load;

pub const IDENTIFIERS: usize = 10_000;

/// The i-th leased MSISDN.
pub fn msisdn(i: usize) -> String {
    format!("+937900{i:05}")
}

/// PostgreSQL and moto, seeded.
pub struct Fixture {
    dir: std::path::PathBuf,
    pg: EmbeddedPostgres,
    pub url: String,
    pub pool: sqlx::PgPool,
    pub store: numbering_store::Store,
    pub moto: TestMoto,
    pub tier: LeaseCacheTable,
}

impl Fixture {
    pub async fn start() -> anyhow::Result<Self> {
        eprintln!("setting up: postgres, moto, {IDENTIFIERS} leased identifiers");
        let dir = std::env::temp_dir().join(format!("numbering-bench-{}", std::process::id()));
        let pg = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || EmbeddedPostgres::start(&dir, 0, Durability::Throwaway)
        })
        .await??;
        let url = pg.url("postgres");
        numbering_store::migrate(&url).await?;
        seed_leases(&url).await?;
        let pool = numbering_store::connect(&numbering_store::PoolConfig {
            max_connections: 32,
            ..numbering_store::PoolConfig::new(url.clone())
        })
        .await?;
        let store = numbering_store::Store::new(pool.clone(), Default::default());
        let moto = TestMoto::start();
        let tier: LeaseCacheTable = moto
            .tier_with_timeout(Duration::from_secs(3600), Duration::from_secs(10))
            .await;
        fill_tier(&store, &tier).await?;
        Ok(Self {
            dir,
            pg,
            url,
            pool,
            store,
            moto,
            tier,
        })
    }

    pub fn stop(self) {
        drop(self.moto);
        self.pg.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Tenant acme and its IDENTIFIERS assigned MSISDNs, each with a lease.
async fn seed_leases(url: &str) -> anyhow::Result<()> {
    let owner = sqlx::PgPool::connect(url).await?;
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
    Ok(())
}

/// Every identifier's snapshot written to the DynamoDB tier's table.
async fn fill_tier(store: &numbering_store::Store, tier: &LeaseCacheTable) -> anyhow::Result<()> {
    use futures_util::StreamExt;
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
    Ok(())
}

/// The load generator: its own runtime, so its tasks never queue behind
/// the server's (and vice versa). Unpinned, it drives only the open-loop
/// scenarios (the closed-loop clients share the server's runtime, as
/// before session 5); pinned, it drives every scenario from its own CPUs.
pub struct Loads {
    generator: Runtime,
    pub open: Load,
    pub closed: Load,
}

impl Loads {
    pub fn start(load_cpus: Option<Vec<usize>>) -> anyhow::Result<Self> {
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
        Ok(Self {
            generator,
            open,
            closed,
        })
    }

    pub fn stop(self) {
        self.generator.shutdown_background();
    }
}
