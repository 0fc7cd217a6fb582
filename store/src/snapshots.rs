//! The hot path's Postgres tier: what ValidateLease needs to know about one
//! identifier, read through a pool of its own as the read-only role
//! `numbering_hot_path` (migration 20261128100000).
//!
//! The application role may not read across tenants without a scope, so
//! [`Store::snapshot`](crate::Store::snapshot) goes through a SECURITY
//! DEFINER plpgsql function. The hot path instead reads as a role that sees
//! every row of `numbers` and `leases` and can write nothing: a plain
//! prepared SELECT, one round trip, its plan cached per connection.

use std::time::Duration;

use chrono::{DateTime, Utc};
use numbering_shared::{Identifier, LeaseId, NumberSnapshot, NumberState, lifecycle};
use sqlx::{Executor, PgPool, postgres::PgPoolOptions};

use crate::{LifecycleError, model};

/// The role every connection of the hot path's pool switches to.
pub const HOT_PATH_ROLE: &str = "numbering_hot_path";

/// state, holder, reservation expiry, version, current lease, its term end,
/// the database's clock (a lapsed reservation reads as AVAILABLE), and the
/// end of the renumbering window it was read through, if it was.
pub(crate) type SnapshotRow = (
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    i64,
    Option<uuid::Uuid>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The snapshot of identity key `$1`, as the hot path's role reads it (on
/// the primary and on a standby): its live inventory row, or else the new
/// number a renumbering moved it to, with `link_until`: the end of the
/// parallel-running window (the moment of the move, without one), from
/// which `validation::validate` answers NOT_REGISTERED for it. Cached
/// that way, an old identifier's entry can never answer past its window
/// (migration 20261207300000, whose `numbering.lease_snapshot` is the same
/// query). Columns: `state, tenant_id, reserved_until, version, lease_id,
/// term_end, link_until`.
pub(crate) const SNAPSHOT_OF_KEY: &str = "\
    SELECT n.state::text AS state, n.tenant_id, n.reserved_until, n.version, \
           l.id AS lease_id, l.term_end, s.link_until \
    FROM (SELECT x.id, NULL::timestamptz AS link_until, 0 AS pref \
            FROM numbering.numbers x WHERE x.identity_key = $1 AND x.state <> 'RETIRED' \
          UNION ALL \
          SELECT k.new_number_id, coalesce(k.parallel_until, k.linked_at), 1 \
            FROM numbering.identifier_links k WHERE k.old_identifier = $1 \
          ORDER BY 3, 2 DESC LIMIT 1) s \
    JOIN numbering.numbers n ON n.id = s.id AND n.state <> 'RETIRED' \
    LEFT JOIN numbering.leases l ON l.number_id = n.id AND l.status IN ('ACTIVE', 'SUSPENDED')";

pub(crate) fn into_snapshot(row: SnapshotRow) -> Result<NumberSnapshot, LifecycleError> {
    let (state, tenant_id, reserved_until, version, lease_id, lease_expires_at, now, link_until) =
        row;
    let state: NumberState = model::parse("number state", &state)?;
    Ok(NumberSnapshot {
        state: lifecycle::effective_state(state, reserved_until, now),
        tenant_id: tenant_id.as_deref().map(model::tenant).transpose()?,
        lease_id: lease_id.map(LeaseId::from_uuid),
        lease_expires_at,
        reserved_until,
        version,
        link_until,
    })
}

/// Read-only lease snapshots for the hot path, on their own pool.
#[derive(Clone)]
pub struct SnapshotReader {
    pool: PgPool,
}

impl SnapshotReader {
    /// Opens `max_connections` connections with the login (URL, statement
    /// timeout) of `app`, each switched to [`HOT_PATH_ROLE`]. A separate
    /// pool, so the hot path never queues behind lifecycle transactions.
    /// Connects once before returning: a login that may not switch to the
    /// role fails here, at start-up, not on the first message.
    pub async fn connect_like(app: &PgPool, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options = app
            .connect_options()
            .as_ref()
            .clone()
            .application_name("numbering-hot-path");
        let pool = hot_path_pool(max_connections, Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Follows `app`'s primary through failovers, when its pool is watched
    /// (this pool was made like its pool by [`Self::connect_like`]).
    pub fn follow(&self, app: &crate::Store) {
        if let Some(primary) = app.primary() {
            primary.follow(app.pool().clone(), self.pool.clone(), |o| {
                o.application_name("numbering-hot-path")
            });
        }
    }

    /// The pool, as [`HOT_PATH_ROLE`] (benchmarks and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// What ValidateLease needs to know about `identifier` (`None`: not in
    /// inventory): state, holder, current lease and row version; for an
    /// identifier renumbered less than its window ago, its new number's.
    pub async fn snapshot(
        &self,
        identifier: &Identifier,
    ) -> Result<Option<NumberSnapshot>, LifecycleError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT state, tenant_id, reserved_until, version, lease_id, term_end, now(), link_until \
                 FROM ({SNAPSHOT_OF_KEY}) s"
            )
        });
        let row: Option<SnapshotRow> = sqlx::query_as(SQL.as_str())
            .bind(identifier.key())
            .fetch_optional(&self.pool)
            .await?;
        row.map(into_snapshot).transpose()
    }
}

/// The hot path's pool settings, on the primary ([`SnapshotReader`]) and on
/// a standby (`replica::ReplicaReader`): every connection switched to
/// [`HOT_PATH_ROLE`], and, as the application pool, no ping per checkout (a
/// round trip per message): a dead connection fails its statement, the hot
/// path answers from elsewhere or UNAVAILABLE, and the pool drops it.
pub(crate) fn hot_path_pool(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(format!("SET ROLE {HOT_PATH_ROLE}").as_str())
                    .await?;
                Ok(())
            })
        })
}
