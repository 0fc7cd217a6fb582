//! The lifecycle transactions of SPEC §2, one function per transition:
//!
//! - [`reservations`]: reserve (a given identifier or any), hold, cancel,
//!   and the expiry of lapsed reservations;
//! - [`leases`]: assign (and [`assign_verified`], which asks the sender-id
//!   registry first), renew, release, lease expiry;
//! - [`platform`]: the admin and system actions by identifier (suspend,
//!   reinstate, recall, end or override a quarantine, retire, expire a
//!   reservation);
//! - [`reads`]: single-row reads (number, snapshot, lookup, reservation,
//!   lease);
//! - [`rows`]: the locks and reads the transitions share;
//! - [`write`]: how a change is written (one statement: the number's
//!   compare-and-swap, the audit entry, the outbox events and the
//!   transition's own row, a typed [`write::Step`]).
//!
//! Shape of every transition: begin in the caller's scope, lock the rows it
//! touches (pool, then reservation or lease, then number), derive the
//! effective state (a lapsed reservation reads as AVAILABLE), ask the pure
//! rules whether the transition is allowed, compare-and-swap the number's
//! version, write the side rows, record one audit entry and one outbox
//! event, commit.
//!
//! A transition refuses before it writes anything of its own. An invalid
//! transition is recorded as an ops event on the transition's own
//! connection and committed there ([`settle`]): a request never needs a
//! second pooled connection while it holds one (with its row locks), which
//! under load would wait for connections that are all waiting likewise.

mod leases;
mod platform;
mod reads;
mod registry;
mod reservations;
mod rows;
mod write;

pub use leases::{AssignError, LeaseTerm, assign_verified, assign_verified_for};
pub use registry::{BoxFuture, SenderIdRegistry, Unavailable};
pub use rows::AccountUsage;
pub(crate) use rows::{account_usages, lock_lease, usage};

use numbering_shared::{
    LifecyclePolicy, NumberState, Transition,
    lifecycle::{self, TransitionError},
};
use sqlx::{PgConnection, PgPool};
use tracing::Instrument;

use crate::{
    LifecycleError,
    model::NumberRow,
    record::{self, Ctx},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

/// The system of record: every read and write of inventory, reservations,
/// leases and quarantine goes through here.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    policy: LifecyclePolicy,
    wakeup: std::sync::Arc<crate::wakeup::Wakeup>,
    /// The request's unit of work this store's operations are steps of
    /// (see [`crate::uow`]); `None`: a transaction per operation.
    pub(crate) uow: Option<crate::uow::Shared>,
    /// The pool's view of the primary, when it is watched
    /// ([`crate::connect_following`]).
    primary: Option<crate::Primary>,
}

impl Store {
    pub fn new(pool: PgPool, policy: LifecyclePolicy) -> Self {
        Self {
            wakeup: std::sync::Arc::new(crate::wakeup::Wakeup::new(pool.clone())),
            pool,
            policy,
            uow: None,
            primary: None,
        }
    }

    /// This store, whose pool's primary `primary` watches (readiness and
    /// singletons follow it).
    pub fn with_primary(mut self, primary: crate::Primary) -> Self {
        self.primary = Some(primary);
        self
    }

    /// The watcher's view of the primary (`None`: not watched).
    pub fn primary(&self) -> Option<&crate::Primary> {
        self.primary.as_ref()
    }

    /// Tells the outbox relays that events may be waiting (see
    /// [`crate::wakeup`]); the store's own commits do it themselves.
    pub fn wake_relays(&self) {
        self.wakeup.signal();
    }

    pub(crate) fn wakeup(&self) -> &std::sync::Arc<crate::wakeup::Wakeup> {
        &self.wakeup
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn policy(&self) -> &LifecyclePolicy {
        &self.policy
    }

    /// Runs one transition (`run`) in its own transaction in `scope`, and
    /// ends that transaction as [`settle`] says.
    async fn transition<T>(
        &self,
        scope: Scope<'_>,
        run: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let transaction = async {
            let mut tx = scope::begin(self, scope).await?;
            let result = run(&mut tx).await;
            settle(tx, result).await
        };
        // a span only inside a traced request (see numbering_clients::traces)
        let traced = tracing::Span::current()
            .metadata()
            .is_some_and(|m| m.target() == "numbering::trace");
        if !traced {
            return transaction.await;
        }
        let scope = match scope {
            Scope::Tenant(_) => "tenant",
            Scope::Platform => "platform",
        };
        transaction
            .instrument(
                tracing::info_span!(target: "numbering::trace", "store.transaction",
                otel.kind = "internal", db.system = "postgresql", scope),
            )
            .await
    }

    /// Asks the pure rules; a refused transition is recorded as an ops
    /// event on `tx` (see [`Store::invalid`]).
    async fn decide(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        n: &NumberRow,
        from: NumberState,
        t: Transition,
    ) -> Result<NumberState> {
        match lifecycle::apply(from, t, ctx.actor.kind()) {
            Ok(to) => Ok(to),
            Err(TransitionError::NotPermitted { transition, actor }) => {
                Err(LifecycleError::NotPermitted { transition, actor })
            }
            Err(TransitionError::Invalid(invalid)) => {
                Err(self.invalid(tx, ctx, &n.identifier, invalid).await)
            }
        }
    }

    /// Records an invalid transition as an ops event in the transition's
    /// own transaction, which [`settle`] then commits: on the connection the
    /// request already holds, never on a second one.
    async fn invalid(
        &self,
        tx: &mut PgConnection,
        ctx: &Ctx,
        subject: &str,
        invalid: lifecycle::InvalidTransition,
    ) -> LifecycleError {
        if let Err(e) =
            record::record_invalid_transition(tx, ctx, subject, invalid.from, invalid.transition)
                .await
        {
            tracing::warn!(error = %e, subject, "could not record the invalid-transition ops event");
        }
        LifecycleError::InvalidTransition(invalid)
    }
}

/// Ends a transition's transaction (`tx`, which `result` ran in). A
/// success commits. An invalid transition commits too: it refused before
/// writing anything of its own, so its transaction holds only the ops event
/// that counts it (and any lapsed reservation it noticed, which expired
/// either way), written on this same connection. Any other refusal or
/// failure rolls back.
async fn settle<T>(tx: crate::scope::Tx, result: Result<T>) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await?;
            Ok(v)
        }
        Err(e @ LifecycleError::InvalidTransition(_)) => {
            if let Err(c) = tx.commit().await {
                tracing::warn!(error = %c, "could not record the invalid-transition ops event");
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}
