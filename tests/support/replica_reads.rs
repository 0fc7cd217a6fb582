//! The read path across two regions, in-process: [`ReadRegions`] starts
//! [`Regions`] (primary in `kbl`, streaming standby in `mzr`, a NATS
//! super-cluster), migrates the primary, and runs what `kbl`'s host runs for
//! this (the primary's heartbeat singleton, the outbox relay publishing
//! `num.cache.invalidate.v1` on `kbl`'s NATS); [`ReadRegions::mzr_reader`]
//! builds `mzr`'s hot path as its host would (`DATABASE_URL` the primary,
//! `DATABASE_REPLICA_URL` the standby) and, when asked, subscribes it to
//! invalidations on `mzr`'s NATS.

use std::time::{Duration, Instant};

use numbering_outbox_relay::{Relay, RelayConfig};
use numbering_shared::{Identifier, IdentifierKind, LifecyclePolicy, TenantId, operator};
use numbering_store::{Lease, PoolConfig, SnapshotReader, Store, replica};
use numbering_validate_lease::{
    LeaseReader, TierConfig, Validator, invalidation,
    replica::{Replica, ReplicaConfig},
};
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::sync::watch;

use crate::{
    regions::{Region, Regions, Replication},
    tenant_ctx,
};

/// Far beyond any step: reaching it is a failure, not a timing.
pub const HANG: Duration = Duration::from_secs(60);

/// Two regions, `kbl`'s writer side running.
pub struct ReadRegions {
    pub regions: Regions,
    /// The application's store on the primary (as `kbl`'s host writes).
    pub store: Store,
    /// Superuser pool on the primary, for fixtures.
    pub owner: PgPool,
    stop: watch::Sender<bool>,
}

impl ReadRegions {
    /// Regions with `replication`, migrated, with the heartbeat and the
    /// relay running in `kbl`.
    pub async fn start(replication: Replication) -> Self {
        let regions = Regions::builder().replication(replication).start().await;
        let primary = regions.primary_url();
        numbering_store::migrate(&primary)
            .await
            .expect("migrating the primary");
        let owner = PgPoolOptions::new()
            .max_connections(2)
            .connect(&primary)
            .await
            .expect("owner pool");
        let mut config = PoolConfig::new(primary);
        config.max_connections = 8;
        let app = numbering_store::connect(&config).await.expect("app pool");
        let store = Store::new(app.clone(), LifecyclePolicy::default());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(replica::run_heartbeat(
            app.clone(),
            replica::HEARTBEAT_EVERY,
            stopped.clone(),
        ));
        let kbl_nats = regions.nats_client(Region::Kbl).await;
        tokio::spawn(Relay::new(app, kbl_nats, RelayConfig::default()).run(stopped));
        Self {
            regions,
            store,
            owner,
            stop,
        }
    }

    /// `mzr`'s hot path: the replica tier on the standby within `max_lag`,
    /// the primary behind it; with `local` false, no in-process tier (every
    /// read reaches Postgres). With `subscribe`, listening to invalidations
    /// on `mzr`'s NATS (returns once one published in `kbl` arrives).
    pub async fn mzr_reader(&self, max_lag: Duration, local: bool, subscribe: bool) -> Validator {
        let snapshots = SnapshotReader::connect_like(self.store.pool(), 2)
            .await
            .expect("the primary's hot-path pool");
        let tiers = TierConfig {
            local_capacity: if local { 100_000 } else { 0 },
            ..TierConfig::default()
        };
        let config = ReplicaConfig {
            url: self.regions.standby_url(),
            max_lag,
        };
        let replica = Replica::start(&config, 2).await.expect("replica tier");
        let reader =
            LeaseReader::new(self.store.clone(), snapshots, None, tiers).with_replica(replica);
        if subscribe {
            let nats = self.regions.nats_client(Region::Mzr).await;
            invalidation::subscribe(nats, reader.clone(), self.stop.subscribe())
                .await
                .expect("subscribing to invalidations");
            self.wait_for_interest(&reader).await;
        }
        Validator::new(reader)
    }

    /// Publishes a probe invalidation in `kbl` until `reader` (in `mzr`)
    /// has it: the gateway forwards only to interest it already knows of.
    async fn wait_for_interest(&self, reader: &LeaseReader) {
        let kbl = self.regions.nats_client(Region::Kbl).await;
        let probe = Identifier::parse("+93799999999").unwrap();
        let replica = reader.replica().expect("a replica tier");
        let deadline = Instant::now() + HANG;
        let mut version = 0;
        while replica.invalidated_version(&probe.key()).is_none() {
            assert!(Instant::now() < deadline, "no invalidation reached mzr");
            version += 1;
            invalidation::publish(&kbl, &probe, version)
                .await
                .expect("publishing a probe invalidation");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the relay has published every outbox row (so that a
    /// measurement does not queue behind the set-up's events).
    pub async fn drained(&self) {
        let deadline = Instant::now() + HANG;
        loop {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM numbering.outbox WHERE published_at IS NULL",
            )
            .fetch_one(&self.owner)
            .await
            .expect("count unpublished");
            if left == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{left} outbox rows never published"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A tenant pool with room for `n` MSISDNs, and `n` of them leased to it.
    pub async fn leases(&self, tenant: &str, n: usize) -> (TenantId, Vec<Lease>) {
        sqlx::query(
            "INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn, quota_short_code, quota_alpha, vanity_allowed) \
             VALUES ($1, $1, $2, 10, 10, true)",
        )
        .bind(tenant)
        .bind(n as i32 + 10)
        .execute(&self.owner)
        .await
        .expect("insert pool");
        let tenant = TenantId::parse(tenant).unwrap();
        let mut leases = Vec::with_capacity(n);
        for i in 0..n {
            let id = self.inventory(&format!("+937900{i:05}")).await;
            let r = self
                .store
                .reserve(&tenant_ctx(&tenant), &tenant, &id)
                .await
                .expect("reserve");
            let lease = self
                .store
                .assign(&tenant_ctx(&tenant), &tenant, r.id, true)
                .await
                .expect("assign");
            leases.push(lease);
        }
        (tenant, leases)
    }

    async fn inventory(&self, raw: &str) -> Identifier {
        let id = Identifier::parse(raw).unwrap();
        assert_eq!(id.kind(), IdentifierKind::Msisdn);
        let op = operator::operator_for_msisdn(&id).expect("known operator prefix");
        sqlx::query(
            "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
             VALUES ($1, $2, 'MSISDN', $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(id.key())
        .bind(op.id)
        .bind(op.mcc)
        .bind(op.mncs[0])
        .execute(&self.owner)
        .await
        .expect("insert number");
        id
    }
}

impl Drop for ReadRegions {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The change committed through `kbl` that must stop `mzr` answering OK.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Release,
    Recall,
    Suspend,
}

impl Change {
    pub const ALL: [Change; 3] = [Change::Release, Change::Recall, Change::Suspend];

    /// Commits the change through the primary.
    pub async fn commit(self, store: &Store, tenant: &TenantId, lease: &Lease) {
        let admin = numbering_store::Ctx::new(numbering_store::Actor::admin("drill-admin"));
        let done = match self {
            Change::Release => store
                .release(&tenant_ctx(tenant), tenant, lease.id)
                .await
                .map(drop),
            Change::Recall => store.recall(&admin, &lease.identifier).await.map(drop),
            Change::Suspend => store.suspend(&admin, &lease.identifier).await.map(drop),
        };
        done.unwrap_or_else(|e| panic!("{self:?} {}: {e}", lease.identifier));
    }
}

/// Whether `validator` answers OK for `tenant` on `identifier`
/// (`None`: UNAVAILABLE).
pub async fn allowed(
    validator: &Validator,
    identifier: &Identifier,
    tenant: &TenantId,
) -> Option<bool> {
    validator
        .validate(identifier.as_str(), tenant.as_str())
        .await
        .ok()
        .map(|v| v.allowed)
}

/// Polls `validator` until it answers OK (the lease has reached `mzr`).
pub async fn wait_allowed(validator: &Validator, identifier: &Identifier, tenant: &TenantId) {
    let deadline = Instant::now() + HANG;
    while allowed(validator, identifier, tenant).await != Some(true) {
        assert!(Instant::now() < deadline, "{identifier} never OK in mzr");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Commits `change` through `kbl` and returns how long after the commit
/// returned `mzr`'s `validator` stopped answering OK (polled every
/// millisecond; zero when it had stopped by then).
pub async fn staleness(
    rr: &ReadRegions,
    validator: &Validator,
    change: Change,
    tenant: &TenantId,
    lease: &Lease,
) -> Duration {
    wait_allowed(validator, &lease.identifier, tenant).await;
    change.commit(&rr.store, tenant, lease).await;
    let committed = Instant::now();
    while allowed(validator, &lease.identifier, tenant).await == Some(true) {
        assert!(
            committed.elapsed() < HANG,
            "{} still OK in mzr {HANG:?} after {change:?}",
            lease.identifier
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    committed.elapsed()
}

/// p50, p95, p99 and max of `samples`.
pub fn percentiles(samples: &mut [Duration]) -> [Duration; 4] {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    [at(0.5), at(0.95), at(0.99), samples[samples.len() - 1]]
}
