//! Wakes the outbox relays after commits, without a NOTIFY inside the
//! writing transaction.
//!
//! A transaction that issues NOTIFY takes one cluster-wide lock at commit
//! and holds it until its commit record is flushed, so every transaction
//! that notifies commits one at a time: with `synchronous_commit = on`
//! each lifecycle change waited for the previous one's WAL flush (the flows
//! benchmark against a durable cluster: 268 flows/s with the old trigger,
//! 522 without it). Here a store's commits only raise a flag; one task per
//! store sends `NOTIFY numbering_outbox` in a transaction of its own,
//! committed asynchronously (a lost wakeup costs nothing: relays also
//! poll), at most once per [`MIN_GAP`], however many commits it covers.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;

/// The shortest time between two wakeups a store sends.
const MIN_GAP: Duration = Duration::from_millis(2);

/// The channel the relays listen on.
pub const OUTBOX_CHANNEL: &str = "numbering_outbox";

struct Shared {
    notify: Notify,
    started: AtomicBool,
    closed: AtomicBool,
}

/// A store's wakeup sender (shared by its clones; stops with the last).
pub(crate) struct Wakeup {
    pool: PgPool,
    shared: Arc<Shared>,
}

impl Wakeup {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            shared: Arc::new(Shared {
                notify: Notify::new(),
                started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// After a commit that may have written outbox rows.
    pub(crate) fn signal(&self) {
        if !self.shared.started.swap(true, Ordering::AcqRel) {
            // started on first use, on the runtime of the committing task
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(send_wakeups(self.pool.clone(), self.shared.clone()));
                }
                Err(_) => {
                    self.shared.started.store(false, Ordering::Release);
                    return;
                }
            }
        }
        self.shared.notify.notify_one();
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.notify.notify_one();
    }
}

/// Wakes the relays now, for a rare commit made outside a [`crate::Store`]
/// transaction (the export's, the audit verify job's). Best effort: the
/// relays poll besides.
pub async fn wake_relays_now(pool: &PgPool) {
    if let Err(e) = sqlx::raw_sql(&notify_statement()).execute(pool).await {
        tracing::debug!(error = %e, "could not wake the outbox relays; they poll");
    }
}

/// NOTIFY in a transaction of its own, committed asynchronously: it holds
/// the cluster-wide notify lock only for as long as the commit takes, not
/// for a WAL flush.
fn notify_statement() -> String {
    format!("BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {OUTBOX_CHANNEL}; COMMIT")
}

async fn send_wakeups(pool: PgPool, shared: Arc<Shared>) {
    loop {
        shared.notify.notified().await;
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let notify =
            format!("BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {OUTBOX_CHANNEL}; COMMIT");
        if let Err(e) = sqlx::raw_sql(&notify).execute(&pool).await {
            tracing::debug!(error = %e, "could not wake the outbox relays; they poll");
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}
