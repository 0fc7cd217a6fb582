use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use numbering_shared::TenantId;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::{Store, uow, wakeup::Wakeup};

/// Whose data a transaction may touch. The store sets it transaction-locally
/// and row-level security enforces it underneath the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// A tenant: sees unheld inventory and only its own reservations, leases,
    /// pool and idempotency keys.
    Tenant(&'a TenantId),
    /// Platform admins and system jobs: see across tenants.
    Platform,
}

impl Scope<'_> {
    /// The `set_config` statement that puts a transaction in this scope.
    /// It goes into simple-query batches, so the tenant id is spliced in as
    /// a literal: `TenantId` admits only `[A-Za-z0-9._:-]`, and it is quoted
    /// besides.
    pub(crate) fn statement(&self) -> String {
        match self {
            Scope::Tenant(t) => format!(
                "SELECT set_config('numbering.tenant_id', {}, true), set_config('numbering.scope', 'tenant', true)",
                quote_literal(t.as_str())
            ),
            Scope::Platform => "SELECT set_config('numbering.tenant_id', '', true), set_config('numbering.scope', 'platform', true)".to_owned(),
        }
    }

    pub(crate) fn owned(self) -> OwnedScope {
        match self {
            Scope::Tenant(t) => OwnedScope::Tenant(t.clone()),
            Scope::Platform => OwnedScope::Platform,
        }
    }
}

/// A [`Scope`] that outlives its borrow (kept with an open transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnedScope {
    Tenant(TenantId),
    Platform,
}

impl OwnedScope {
    pub(crate) fn as_scope(&self) -> Scope<'_> {
        match self {
            OwnedScope::Tenant(t) => Scope::Tenant(t),
            OwnedScope::Platform => Scope::Platform,
        }
    }
}

/// The transaction of one store operation: its own, or a step of the
/// request's unit of work when the store is bound to one (see
/// [`crate::uow`]). `commit` commits its own transaction, or keeps the
/// step for the unit's commit; dropped without `commit`, either rolls back
/// (a step: that step alone).
pub struct Tx {
    /// Always `Some` until `commit` or `drop` takes it.
    tx: Option<Transaction<'static, Postgres>>,
    uow: Option<uow::Shared>,
    wakeup: Arc<Wakeup>,
}

impl Tx {
    /// Commits, or for a step of a unit of work keeps it (the unit commits
    /// it with the response it stores).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        match self.uow.take() {
            Some(uow) => {
                uow.give_back(tx, true);
                Ok(())
            }
            None => {
                tx.commit().await?;
                self.wakeup.signal();
                Ok(())
            }
        }
    }

    fn conn(&self) -> &Transaction<'static, Postgres> {
        self.tx
            .as_ref()
            .expect("a Tx holds its transaction until commit")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // a step goes back to its unit as dropped: the unit rolls it back
        // before its next step or its completion (a plain transaction's
        // drop queues its own ROLLBACK)
        if let (Some(tx), Some(uow)) = (self.tx.take(), self.uow.take()) {
            uow.give_back(tx, false);
        }
    }
}

impl Deref for Tx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn()
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.tx
            .as_mut()
            .expect("a Tx holds its transaction until commit")
    }
}

/// Begins a transaction in `scope`; for a store bound to a request's unit
/// of work, the unit's next step instead.
pub async fn begin(store: &Store, scope: Scope<'_>) -> Result<Tx, sqlx::Error> {
    let wakeup = store.wakeup().clone();
    let tx = match &store.uow {
        Some(uow) => uow.lend(scope).await?,
        None => begin_plain(store.pool(), scope).await?,
    };
    Ok(Tx {
        tx: Some(tx),
        uow: store.uow.clone(),
        wakeup,
    })
}

/// Begins a transaction of its own in `scope`, whatever request runs.
///
/// The scope comes first and `BEGIN` second, in one round trip: Postgres
/// runs the batch as one implicit transaction, and the `BEGIN` turns it
/// into the explicit one, keeping the scope's transaction-local settings.
/// So if the scope statement fails (a cancel, a timeout), no transaction is
/// left open: sqlx would give a connection whose batch failed after its
/// `BEGIN` back to the pool inside an aborted transaction, and every later
/// borrower would fail with 25P02.
pub(crate) async fn begin_plain(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_with(pool, format!("{}; BEGIN", scope.statement())).await
}

/// Begins a read-only REPEATABLE READ transaction in `scope`: one snapshot
/// for a long read (the regulator export). Here `BEGIN` must come first:
/// the isolation level cannot be set once a statement has run.
pub async fn begin_snapshot(
    pool: &sqlx::PgPool,
    scope: Scope<'_>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_with(
        pool,
        format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; {}",
            scope.statement()
        ),
    )
    .await
}

/// A plain `BEGIN` on `pool`, safe to cancel (see [`begin_with`]): for the
/// few transactions outside a tenant or platform scope.
pub async fn begin_unscoped(
    pool: &sqlx::PgPool,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    begin_with(pool, "BEGIN".to_owned()).await
}

/// `pool.begin_with(statement)` on a task of its own, so that it always
/// finishes. sqlx (0.8.6, and 0.9.0) is not cancel-safe there: a caller
/// dropped after the `BEGIN` went out but before its answer was read gives
/// the connection back to the pool inside that transaction, with nothing
/// to end it, and its next borrowers' work runs inside it (sqlx issue
/// 4393). A request's future is dropped whenever its client goes away. On
/// its own task the begin completes regardless; if nobody waits for the
/// transaction any more, it is dropped there and rolls back as any
/// unfinished transaction does.
async fn begin_with(
    pool: &sqlx::PgPool,
    statement: String,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
}

/// A SQL string literal (single quotes doubled).
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
