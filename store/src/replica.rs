//! Reads from a hot standby (`DATABASE_REPLICA_URL`), each with how stale
//! it may be, and the primary's heartbeat that defines that staleness
//! (migration 20261206100000).
//!
//! The primary's heartbeat singleton ([`run_heartbeat`]) sets the one row
//! of `numbering.replica_heartbeat` to `clock_timestamp()` every
//! [`HEARTBEAT_EVERY`]. A standby that has replayed the row written at T
//! holds every transaction that committed before T, so each read here
//! returns, from the same statement (the same snapshot),
//! `clock_timestamp() - at` on the standby: an upper bound on how old the
//! data it read is.
//! The bound holds on an idle system too, and includes the skew between the
//! two servers' clocks (NTP keeps that to milliseconds).
//!
//! The standby is read as [`HOT_PATH_ROLE`](crate::HOT_PATH_ROLE): the same
//! login and role as the hot path's pool on the primary.

use std::time::Duration;

use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, NumberSnapshot};
use sqlx::{PgPool, postgres::PgConnectOptions};
use tokio::sync::watch;

use crate::{
    LifecycleError, Lookup,
    lock::SessionLock,
    pg_hosts::{self, PgHosts, PgHostsError},
    snapshots::into_snapshot,
};

/// How often the primary's heartbeat singleton writes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);

/// The heartbeat singleton's advisory lock: `"numheart"`.
pub const HEARTBEAT_LOCK: i64 = 0x6e75_6d68_6561_7274;

/// A read from the standby and how stale it may be.
#[derive(Debug, Clone)]
pub struct Stale<T> {
    pub value: T,
    /// `clock_timestamp() - heartbeat` on the standby, read with `value`.
    pub lag: Duration,
    /// The identifier's row version on the standby (`None`: not there).
    pub version: Option<i64>,
}

/// The standby's snapshot row: lag, then [`crate::snapshots::SnapshotRow`]'s
/// columns, null when the identifier is not in inventory there.
type ReplicaSnapshotRow = (
    f64,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<uuid::Uuid>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The standby's lookup row: lag, version, then [`Lookup`]'s columns.
/// The lag, the row's version, and the Lookup (all `None`: not in inventory).
#[derive(sqlx::FromRow)]
struct ReplicaLookupRow {
    lag: f64,
    version: Option<i64>,
    kind: Option<String>,
    state: Option<String>,
    operator_id: Option<String>,
    operator_name: Option<String>,
    mcc: Option<String>,
    mnc: Option<String>,
    ported: Option<bool>,
    home_operator_id: Option<String>,
    home_mcc: Option<String>,
    home_mnc: Option<String>,
    ported_at: Option<chrono::DateTime<chrono::Utc>>,
}

const LAG: &str = "SELECT extract(epoch FROM clock_timestamp() - at)::float8 AS lag \
                   FROM numbering.replica_heartbeat";

/// A pool on one standby, as [`HOT_PATH_ROLE`].
#[derive(Clone)]
pub struct ReplicaReader {
    pool: PgPool,
}

impl ReplicaReader {
    /// Picks the host of `hosts` that its `target_session_attrs` accepts
    /// (any that answers, by default), waiting at most `probe` for each.
    pub async fn pick(hosts: &PgHosts, probe: Duration) -> Result<PgConnectOptions, PgHostsError> {
        pg_hosts::pick(hosts, hosts.target(), probe).await
    }

    /// A pool of `max_connections` on `options`, connecting lazily (a
    /// standby that is down fails its reads, never the caller's start).
    pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> Self {
        let options = options.application_name("numbering-replica");
        let pool = crate::snapshots::hot_path_pool(max_connections, Duration::from_secs(2))
            .connect_lazy_with(options);
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How stale the standby is now.
    pub async fn lag(&self) -> Result<Duration, sqlx::Error> {
        let lag: f64 = sqlx::query_scalar(LAG).fetch_one(&self.pool).await?;
        Ok(lag_of(lag))
    }

    /// The hot path's snapshot of `identifier` on the standby, with its lag.
    pub async fn snapshot(
        &self,
        identifier: &Identifier,
    ) -> Result<Stale<Option<NumberSnapshot>>, LifecycleError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT h.lag, s.state, s.tenant_id, s.reserved_until, s.version, s.lease_id, s.term_end, now(), s.link_until \
                 FROM (SELECT extract(epoch FROM clock_timestamp() - at)::float8 AS lag \
                       FROM numbering.replica_heartbeat) h \
                 LEFT JOIN LATERAL ({}) s ON true",
                crate::snapshots::SNAPSHOT_OF_KEY
            )
        });
        let row: ReplicaSnapshotRow = sqlx::query_as(SQL.as_str())
            .bind(identifier.key())
            .fetch_one(&self.pool)
            .await?;
        let (lag, state, tenant, reserved_until, version, lease, term_end, now, link_until) = row;
        let value = match (state, version) {
            (Some(state), Some(v)) => Some(into_snapshot((
                state,
                tenant,
                reserved_until,
                v,
                lease,
                term_end,
                now,
                link_until,
            ))?),
            _ => None,
        };
        Ok(Stale {
            value,
            lag: lag_of(lag),
            version,
        })
    }

    /// Routing's view of `identifier` on the standby, with its lag and the
    /// version of the row it describes.
    pub async fn lookup(
        &self,
        identifier: &Identifier,
    ) -> Result<Stale<Option<Lookup>>, LifecycleError> {
        let row: ReplicaLookupRow = sqlx::query_as(
            "SELECT h.lag, \
                    (SELECT n.version FROM numbering.numbers n WHERE n.identity_key = $1 \
                     ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1) AS version, \
                    s.kind, s.state, s.operator_id, s.operator_name, s.mcc, s.mnc, \
                    s.ported, s.home_operator_id, s.home_mcc, s.home_mnc, s.ported_at \
             FROM (SELECT extract(epoch FROM clock_timestamp() - at)::float8 AS lag \
                   FROM numbering.replica_heartbeat) h \
             LEFT JOIN LATERAL numbering.lookup_identifier($1) s ON true",
        )
        .bind(identifier.key())
        .fetch_one(&self.pool)
        .await?;
        let (lag, version) = (row.lag, row.version);
        let value = match (row.kind, row.state) {
            (Some(kind), Some(state)) => Some(Lookup {
                kind,
                state,
                operator_id: row.operator_id,
                operator_name: row.operator_name,
                mcc: row.mcc,
                mnc: row.mnc,
                ported: row.ported.unwrap_or(false),
                home_operator_id: row.home_operator_id,
                home_mcc: row.home_mcc,
                home_mnc: row.home_mnc,
                ported_at: row.ported_at,
            }),
            _ => None,
        };
        Ok(Stale {
            value,
            lag: lag_of(lag),
            version,
        })
    }
}

/// A heartbeat from the future (clock skew) counts as no lag.
fn lag_of(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
}

/// Sets the heartbeat to `clock_timestamp()` once. Committed without waiting
/// for a synchronous standby (`synchronous_commit = local`): the writer's
/// pace must not depend on the standby it measures.
pub async fn beat(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = local")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE numbering.replica_heartbeat SET at = clock_timestamp()")
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// [`run_heartbeat`] every [`HEARTBEAT_EVERY`]: what `numbering serve` runs.
pub async fn heartbeat(pool: PgPool, stop: watch::Receiver<bool>) {
    run_heartbeat(pool, HEARTBEAT_EVERY, stop).await
}

/// The heartbeat singleton: while it holds [`HEARTBEAT_LOCK`] it
/// [`beat`]s every `every`; otherwise it tries again every second. Returns
/// when `stop` turns true.
pub async fn run_heartbeat(pool: PgPool, every: Duration, mut stop: watch::Receiver<bool>) {
    let gauge = metrics::gauge!("numbering_replica_heartbeat_active");
    while !stopped(&stop) {
        match SessionLock::try_acquire(&pool, HEARTBEAT_LOCK).await {
            Ok(Some(mut lock)) => {
                gauge.set(1.0);
                let result = beat_while_holding(&pool, &mut lock, every, &mut stop).await;
                gauge.set(0.0);
                lock.release().await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "replica heartbeat stopped; will retry");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "replica heartbeat could not take its lock"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// `stop` turned true, or its sender is gone.
fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow() || stop.has_changed().is_err()
}

/// Beats until stopped (Ok) or the database refuses (Err: a server in
/// recovery, a lost session).
async fn beat_while_holding(
    pool: &PgPool,
    lock: &mut SessionLock,
    every: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), sqlx::Error> {
    let mut last_ping = std::time::Instant::now();
    loop {
        beat(pool).await?;
        if last_ping.elapsed() >= Duration::from_secs(1) {
            lock.ping().await?;
            last_ping = std::time::Instant::now();
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return Ok(()),
        }
    }
}
