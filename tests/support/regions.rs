//! Two regions, `kbl` and `mzr`, on one machine, for the tests of issue 16.
//!
//! [`Regions::builder`] brings up, on free loopback ports under one temp
//! directory, and tears down when dropped:
//! - **Postgres 15 streaming replication**: the primary in `kbl` and a hot
//!   standby in `mzr` made with `pg_basebackup -R` (replication slot `mzr`),
//!   each with `cluster_name` set to its region (the standby's
//!   `application_name` on the primary). Synchronous (the default; the
//!   production setting): `synchronous_standby_names = 'mzr, kbl'` on both
//!   nodes and `synchronous_commit = remote_apply`, so a commit returns once
//!   the standby has applied it. Asynchronous: no synchronous standby,
//!   `synchronous_commit = on`. Both clusters have database `numbering`,
//!   owned by superuser `postgres` (trust authentication, loopback TCP only).
//!   As root the clusters run as the `postgres` (or `nobody`) user, as
//!   `numbering::embedded` does, since `initdb` refuses root.
//! - **A NATS super-cluster**: one `nats-server` with JetStream per region,
//!   each its own cluster (`kbl`, `mzr`), joined by gateways.
//! - On request ([`Regions::hosts`], `regions/hosts.rs`): two `numbering
//!   serve` processes, kbl and mzr, configured through the contract's
//!   environment variables.
//!
//! Failover is done here the way a failover manager would: the test stops
//! the primary ([`Regions::stop_primary_immediate`], which is also how the
//! old primary is fenced), and [`Regions::promote_standby`] promotes the
//! standby and then clears `synchronous_standby_names` on it, as Patroni's
//! synchronous mode does when the last synchronous standby is gone.
//! Without that, the new primary would wait for `kbl` (next in its list) on
//! every commit and every write would hang.
//!
//! # NATS: what one server per region allows (nats-server 2.9.10, Debian)
//! - Clustered JetStream needs configured routes: with a `cluster` block
//!   and no `routes`, 2.9 exits with "JetStream cluster requires configured
//!   routes or solicited leafnode for the system account". A one-server
//!   cluster therefore lists its own route URL; the server recognises
//!   itself and drops that route ("Duplicate Route").
//! - Gateways make one JetStream domain across both regions whose meta group
//!   has two peers (`kbl-1`, `mzr-1`): its quorum is two, so a meta leader
//!   exists only while both regions' NATS are up. The first election takes
//!   4 to 9 s (2.9's raft election timeout, not configurable), which is most
//!   of the start-up time; [`RegionsBuilder::start`] waits for it
//!   (`/healthz` ok on both servers).
//! - Gateways run every account in interest-only mode when JetStream is
//!   on (`/gatewayz?accs=1`: `$G` "Interest-Only"): a region forwards a
//!   message only to a region known to have a subscriber for it, and a
//!   new subscription (a consumer's, a client's inbox) is known in the
//!   other region a moment after it is made. A message published in that
//!   moment is dropped for that subscriber: long-lived subscriptions (cache
//!   invalidation) are unaffected once made; tests made right after a
//!   subscription wait for its interest, or retry short pulls.
//! - Placement: a stream's replicas come from one cluster, so with one
//!   server per region every stream is R1, placed in the cluster of the
//!   server that took the create request unless `placement.cluster` says
//!   otherwise, and used from either region through the gateways. An R2
//!   stream across regions is refused (no cluster has two servers). A
//!   stream survives the loss of a region only as two streams: one per
//!   region, one of them a mirror or a source of the other.
//! - With one region's NATS down there is no meta leader: creating,
//!   changing or deleting a stream or a consumer fails (a time-out, or 503
//!   "JetStream system temporarily unavailable" once the survivor has
//!   noticed). What keeps working in the surviving region: its own R1
//!   streams (publishes are acknowledged), their durable consumers and
//!   stream info (each stream's and consumer's raft group is its one
//!   server), and a mirror of the lost region's stream (durable consumers
//!   made beforehand, direct gets). Publishing to a stream placed in the
//!   lost region fails ("no stream found for given subject": a mirror does
//!   not take its origin's subjects). When the region returns, the meta
//!   group re-elects within seconds and mirrors catch up.
//!   `regions_harness::with_one_regions_nats_down_…` pins all of this.
//! - Production runs three servers per region: each region's cluster has a
//!   quorum of its own for R3 streams placed in it, and the meta group
//!   (six peers, quorum four) survives the loss of one server, not of a
//!   region (that needs a third site in the meta group). Either way, what must outlive a region is in Postgres (the
//!   outbox) or in a stream mirrored to the other region.

pub mod drill;
mod hosts;
mod nats;
mod postgres;

use std::{
    path::{Path, PathBuf},
    process::Child,
    time::Duration,
};

use anyhow::{Context, Result, bail};

pub use hosts::{Hosts, HostsBuilder};
pub use postgres::Replication;

/// One of the two regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// Where the Postgres primary starts.
    Kbl,
    /// Where the hot standby starts.
    Mzr,
}

impl Region {
    pub const ALL: [Region; 2] = [Region::Kbl, Region::Mzr];

    /// The name `NUMBERING_REGION` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Kbl => "kbl",
            Region::Mzr => "mzr",
        }
    }

    pub fn other(self) -> Region {
        match self {
            Region::Kbl => Region::Mzr,
            Region::Mzr => Region::Kbl,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What [`Regions`] brings up.
#[derive(Debug, Clone)]
pub struct RegionsBuilder {
    postgres: Option<Replication>,
    nats: bool,
}

impl RegionsBuilder {
    /// Synchronous (the default, as in production) or asynchronous
    /// replication: asynchronous for a paused standby, which under
    /// `remote_apply` would block every commit.
    pub fn replication(mut self, replication: Replication) -> Self {
        self.postgres = Some(replication);
        self
    }

    pub fn without_postgres(mut self) -> Self {
        self.postgres = None;
        self
    }

    pub fn without_nats(mut self) -> Self {
        self.nats = false;
        self
    }

    /// Starts everything (Postgres and NATS at the same time) and waits
    /// until the standby streams from the primary and both regions' NATS
    /// are joined with a JetStream meta leader.
    pub async fn start(self) -> Regions {
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let made = async {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let pg = async {
                match self.postgres {
                    Some(r) => postgres::PgPair::start(&dir.join("pg"), r).await.map(Some),
                    None => Ok(None),
                }
            };
            let nats = async {
                match self.nats {
                    true => nats::NatsPair::start(&dir.join("nats")).await.map(Some),
                    false => Ok(None),
                }
            };
            let (pg, nats) = tokio::join!(pg, nats);
            Ok::<_, anyhow::Error>((pg?, nats?))
        };
        match made.await {
            Ok((pg, nats)) => Regions { dir, pg, nats },
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                panic!("starting two regions: {e:?}")
            }
        }
    }
}

/// Two regions on loopback; everything stops and is removed when dropped.
pub struct Regions {
    dir: PathBuf,
    pg: Option<postgres::PgPair>,
    nats: Option<nats::NatsPair>,
}

/// Temp directories of the harness: `numbering-regions-<pid>-<uuid>`.
const DIR_PREFIX: &str = "numbering-regions-";

impl Regions {
    /// Synchronous Postgres replication and both NATS servers; see
    /// [`RegionsBuilder`] for the other choices.
    pub fn builder() -> RegionsBuilder {
        RegionsBuilder {
            postgres: Some(Replication::Synchronous),
            nats: true,
        }
    }

    fn pg(&self) -> &postgres::PgPair {
        self.pg
            .as_ref()
            .expect("these regions were built without Postgres")
    }

    fn pg_mut(&mut self) -> &mut postgres::PgPair {
        self.pg
            .as_mut()
            .expect("these regions were built without Postgres")
    }

    fn nats_pair(&mut self) -> &mut nats::NatsPair {
        self.nats
            .as_mut()
            .expect("these regions were built without NATS")
    }

    /// Superuser URL of database `numbering` on `region`'s Postgres.
    pub fn pg_url(&self, region: Region) -> String {
        self.pg().url(region)
    }

    /// The server that started as the primary (`kbl`).
    pub fn primary_url(&self) -> String {
        self.pg_url(Region::Kbl)
    }

    /// The server that started as the hot standby (`mzr`).
    pub fn standby_url(&self) -> String {
        self.pg_url(Region::Mzr)
    }

    /// libpq's multi-host form, primary first:
    /// `postgres://postgres@127.0.0.1:p1,127.0.0.1:p2/numbering?target_session_attrs=read-write`.
    pub fn multi_host_url(&self) -> String {
        self.multi_host_url_in(&Region::ALL)
    }

    /// The multi-host URL listing the regions' servers in `order`.
    pub fn multi_host_url_in(&self, order: &[Region]) -> String {
        self.pg().multi_host_url(order)
    }

    /// `pg_ctl stop -m immediate` on the primary (`kbl`): a crash, no
    /// shutdown checkpoint, nothing more sent to the standby.
    pub async fn stop_primary_immediate(&mut self) {
        ok(self.pg_mut().stop_immediate(Region::Kbl).await)
    }

    /// Promotes the standby (`mzr`) and clears its
    /// `synchronous_standby_names`, as the failover manager would; returns
    /// once it takes writes that do not wait for a standby.
    pub async fn promote_standby(&mut self) {
        ok(self.pg_mut().promote(Region::Mzr).await)
    }

    /// `pg_wal_replay_pause()` on the standby, returning once replay is paused.
    pub async fn pause_replay(&self) {
        ok(self.pg().set_replay(Region::Mzr, true).await)
    }

    /// `pg_wal_replay_resume()` on the standby, returning once replay runs.
    pub async fn resume_replay(&self) {
        ok(self.pg().set_replay(Region::Mzr, false).await)
    }

    /// Waits until the standby has replayed everything the primary had
    /// written when called (`pg_last_wal_replay_lsn()` on the standby
    /// reaches the primary's `pg_current_wal_lsn()`).
    pub async fn wait_replayed(&self) {
        ok(self.pg().wait_standby(postgres::Progress::Replayed).await)
    }

    /// Waits until the standby has received (not necessarily replayed)
    /// everything the primary had written when called.
    pub async fn wait_received(&self) {
        ok(self.pg().wait_standby(postgres::Progress::Received).await)
    }

    /// Client URL of `region`'s nats-server.
    pub fn nats_url(&self, region: Region) -> String {
        self.nats
            .as_ref()
            .expect("these regions were built without NATS")
            .url(region)
    }

    /// A client of `region`'s NATS that keeps reconnecting while it is down.
    pub async fn nats_client(&self, region: Region) -> async_nats::Client {
        async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|_| Duration::from_millis(100))
            .connect(self.nats_url(region))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}'s NATS: {e}", region.as_str()))
    }

    /// Stops `region`'s nats-server (cleanly; its JetStream store stays).
    pub fn stop_nats(&mut self, region: Region) {
        self.nats_pair().stop(region)
    }

    /// Starts `region`'s nats-server again on the same ports and store, and
    /// waits until the super-cluster is whole again (gateways both ways and
    /// a JetStream meta leader) when the other region's is up.
    pub async fn start_nats(&mut self, region: Region) {
        ok(self.nats_pair().start_again(region).await)
    }

    /// The harness's directory (logs: `pg/<region>/postgres.log`,
    /// `nats/<region>/nats-server.log`).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl Drop for Regions {
    fn drop(&mut self) {
        // both kinds of server are told to stop at once, then waited for
        if let Some(pg) = &mut self.pg {
            pg.begin_stop();
        }
        if let Some(nats) = &mut self.nats {
            nats.begin_stop();
        }
        self.pg = None;
        self.nats = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ok<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{e:?}"))
}

/// A readiness poll: `while !poll.done(check().await).await? {}` checks
/// every 10 ms for at most `within`, and fails naming `what` and the last
/// error the check returned, if any.
struct Poll {
    deadline: tokio::time::Instant,
    within: Duration,
    what: String,
}

impl Poll {
    fn new(within: Duration, what: impl Into<String>) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + within,
            within,
            what: what.into(),
        }
    }

    /// `Ok(true)` when the check passed; `Ok(false)` after a pause when it
    /// did not and there is time left; the error when there is none.
    async fn done(&mut self, check: Result<bool>) -> Result<bool> {
        let last = match check {
            Ok(true) => return Ok(true),
            Ok(false) => None,
            Err(e) => Some(e),
        };
        if tokio::time::Instant::now() >= self.deadline {
            let (within, what) = (self.within, &self.what);
            match last {
                Some(e) => bail!("timed out after {within:?} waiting for {what}: {e:#}"),
                None => bail!("timed out after {within:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(false)
    }
}

/// The last lines of a server's log, for an error message.
fn log_section(name: &str, log: &std::path::Path) -> String {
    format!(
        "\n--- {name} ({}) ---\n{}",
        log.display(),
        numbering::embedded::log_tail(log, 20)
    )
}

/// Fails at once when the supervised `server` has exited (a readiness poll
/// would only time out).
fn still_running(child: &mut Option<Child>, server: &str) -> Result<()> {
    match child.as_mut().map(Child::try_wait).transpose()?.flatten() {
        Some(status) => bail!("{server} exited ({status})"),
        None => Ok(()),
    }
}

/// Closes the supervisors' stdin of every running server (each stops its
/// server), then, when `wait`, waits for each and forgets it.
fn stop_servers<'a>(children: impl Iterator<Item = &'a mut Option<Child>>, wait: bool) {
    let mut children: Vec<&mut Option<Child>> = children.collect();
    for child in children.iter_mut().filter_map(|c| c.as_mut()) {
        drop(child.stdin.take());
    }
    if wait {
        children
            .into_iter()
            .filter_map(Option::take)
            .for_each(numbering::embedded::stop_supervised);
    }
}

/// Removes the directories of earlier test processes that are gone (their
/// servers stopped with them: see `numbering::embedded::supervise`).
fn remove_stale_dirs() {
    let stale = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(DIR_PREFIX)
                .and_then(|r| r.split('-').next());
            pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists())
        });
    for e in stale {
        let _ = std::fs::remove_dir_all(e.path());
    }
}
