//! The unit of work of a request under an Idempotency-Key: one transaction
//! that holds the key, runs the request's store operations one after
//! another, and commits with the request's stored response (see
//! [`crate::idempotency`] for why).
//!
//! **Passed explicitly.** [`Uow::store`] gives a [`Store`] bound to the
//! unit: its operations borrow the unit's transaction ([`crate::scope::begin`])
//! instead of beginning their own. The HTTP edge hands that store to the
//! request's handlers; any other [`Store`] begins a transaction per
//! operation, whatever request runs.
//!
//! **A commit means a commit.** Each operation is a *step* of the unit:
//! its `Tx::commit` keeps what it did until the unit commits; its `Tx`
//! dropped without a commit (it failed) undoes that step alone, never the
//! request's other steps. So the stored response is always committed with
//! exactly the steps that committed:
//! - every step after the first runs in a savepoint, `step`: its commit
//!   releases it, its drop rolls back to it. Drop cannot await, so both
//!   are done lazily, in the one batch of statements that starts the next
//!   step (with its scope) or in the completion;
//! - the first step runs without one: before it, the transaction holds
//!   only the key (its advisory lock and a read). If it is dropped, the
//!   whole transaction rolls back and the key is entered again in a new
//!   one. A request with one store call (most) so costs the round trips of
//!   a plain transaction; each further call costs one, its savepoint. If
//!   another request took the key in that gap, this unit has lost it: its
//!   next step fails and its response is not stored.
//!
//! The unit's own statements failing (its connection broke) break it:
//! later steps and the completion fail, and nothing of the request
//! commits. Steps run one at a time: a second operation asked for while
//! one still holds the transaction fails.

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{PgConnection, Postgres, Transaction};

use crate::{
    Store,
    idempotency::{Claim, IdempotencyError, Key, StoredResponse},
    scope::{self, OwnedScope, Scope},
};

/// A request's unit of work (see the module docs). Completed or
/// abandoned by its owner; the stores it gave out take no steps after.
pub struct Uow(Shared);

/// The unit as the stores bound to it see it.
#[derive(Clone)]
pub(crate) struct Shared(Arc<Inner>);

struct Inner {
    state: Mutex<State>,
    /// The store the unit began from (not bound to any unit).
    store: Store,
    scope: OwnedScope,
    key: Key,
}

enum State {
    /// Between steps.
    Held(Held),
    /// A step has the transaction; it had a savepoint, and left the
    /// transaction in `scope`.
    Lent { savepoint: bool, scope: OwnedScope },
    /// Completed, abandoned, broken or lost its key: no more steps.
    Ended(End),
}

#[derive(Debug, Clone, Copy)]
enum End {
    Finished,
    Broken,
    LostKey,
}

/// The transaction between steps.
struct Held {
    tx: Transaction<'static, Postgres>,
    /// The scope it is in; `None` after a rollback to a savepoint.
    scope: Option<OwnedScope>,
    last: Last,
}

/// How the last step ended, and whether it ran in a savepoint.
#[derive(Debug, Clone, Copy)]
enum Last {
    /// No step yet (or all undone): the transaction holds only the key.
    None,
    Committed {
        savepoint: bool,
    },
    Dropped {
        savepoint: bool,
    },
}

impl Uow {
    pub(crate) fn new(
        store: &Store,
        tx: Transaction<'static, Postgres>,
        scope: Scope<'_>,
        key: Key,
    ) -> Self {
        let held = Held {
            tx,
            scope: Some(scope.owned()),
            last: Last::None,
        };
        Self(Shared(Arc::new(Inner {
            state: Mutex::new(State::Held(held)),
            store: store.clone(),
            scope: scope.owned(),
            key,
        })))
    }

    /// The store whose operations are this unit's steps.
    pub fn store(&self) -> Store {
        let mut store = self.0.0.store.clone();
        store.uow = Some(self.0.clone());
        store
    }

    /// Rolls back everything the request did (it failed on our side); the
    /// key is free again as soon as this returns.
    pub async fn abandon(self) -> Result<(), IdempotencyError> {
        if let Ok(held) = self.0.take(State::Ended(End::Finished)) {
            held.tx.rollback().await?;
        }
        Ok(())
    }

    /// Stores `response` and commits it with the steps that committed. If
    /// the unit lost its key (see the module docs), nothing is stored; an
    /// error means nothing of the request was committed.
    pub async fn complete(self, response: &StoredResponse) -> Result<(), IdempotencyError> {
        let inner = &self.0.0;
        let held = match self.0.take(State::Ended(End::Finished)) {
            Err(IdempotencyError::KeyTaken) => return Ok(()),
            held => held?,
        };
        let mut statements = Vec::new();
        let Some(mut held) = self.0.settle(held, &mut statements).await? else {
            return Ok(());
        };
        let scope = inner.scope.as_scope();
        if held.scope.as_ref().map(OwnedScope::as_scope) != Some(scope) {
            statements.push(scope.statement());
        }
        batch(&mut held.tx, statements).await?;
        inner.key.store_response(&mut held.tx, response).await?;
        held.tx.commit().await?;
        inner.store.wake_relays();
        Ok(())
    }
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The held transaction, leaving `then` in its place; or why there is
    /// none to take (and the state as it was).
    fn take(&self, then: State) -> Result<Held, IdempotencyError> {
        let mut state = self.state();
        let why = match &*state {
            State::Held(_) => None,
            State::Lent { .. } => Some(IdempotencyError::StepRunning),
            State::Ended(End::Broken) => Some(IdempotencyError::Broken),
            State::Ended(End::LostKey) => Some(IdempotencyError::KeyTaken),
            State::Ended(End::Finished) => Some(IdempotencyError::Finished),
        };
        if let Some(why) = why {
            return Err(why);
        }
        match std::mem::replace(&mut *state, then) {
            State::Held(held) => Ok(held),
            _ => unreachable!("checked above"),
        }
    }

    /// The transaction for the next step, in `scope`, after undoing a
    /// dropped last step and releasing a committed one's savepoint.
    pub(crate) async fn lend(
        &self,
        scope: Scope<'_>,
    ) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // busy until the step has it: a concurrent lend fails meanwhile
        let busy = State::Lent {
            savepoint: false,
            scope: scope.owned(),
        };
        let held = self.take(busy).map_err(IdempotencyError::into_sqlx)?;
        let (next, result) = match self.prepare(held, scope).await {
            Ok((tx, savepoint)) => {
                let lent = State::Lent {
                    savepoint,
                    scope: scope.owned(),
                };
                (lent, Ok(tx))
            }
            Err(IdempotencyError::KeyTaken) => {
                (State::Ended(End::LostKey), Err(IdempotencyError::KeyTaken))
            }
            Err(e) => (State::Ended(End::Broken), Err(e)),
        };
        *self.state() = next;
        result.map_err(IdempotencyError::into_sqlx)
    }

    /// The transaction for the next step and whether the step runs in a
    /// savepoint: one batch undoes or releases the last step, takes the
    /// savepoint and sets the scope.
    async fn prepare(
        &self,
        held: Held,
        scope: Scope<'_>,
    ) -> Result<(Transaction<'static, Postgres>, bool), IdempotencyError> {
        let mut statements = Vec::new();
        let Some(mut held) = self.settle(held, &mut statements).await? else {
            return Err(IdempotencyError::KeyTaken);
        };
        let savepoint = match held.last {
            Last::None => false,
            Last::Committed { savepoint } => {
                if savepoint {
                    statements.push("RELEASE SAVEPOINT step".to_owned());
                }
                statements.push("SAVEPOINT step".to_owned());
                true
            }
            // rolled back to its savepoint, which stays for this step
            Last::Dropped { .. } => true,
        };
        if held.scope.as_ref().map(OwnedScope::as_scope) != Some(scope) {
            statements.push(scope.statement());
        }
        batch(&mut held.tx, statements).await?;
        Ok((held.tx, savepoint))
    }

    /// Undoes a dropped last step. One that ran in a savepoint: adds the
    /// rollback to it to `statements`. A first step: rolls back the whole
    /// transaction and enters the key again in a new one (`None`: someone
    /// else has the key now).
    async fn settle(
        &self,
        mut held: Held,
        statements: &mut Vec<String>,
    ) -> Result<Option<Held>, IdempotencyError> {
        match held.last {
            Last::Dropped { savepoint: true } => {
                statements.push("ROLLBACK TO SAVEPOINT step".to_owned());
                // which puts it back in the scope it had at the savepoint
                held.scope = None;
                Ok(Some(held))
            }
            Last::Dropped { savepoint: false } => {
                // rolled back now, so that the key's lock is free
                held.tx.rollback().await?;
                let inner = &self.0;
                let scope = inner.scope.as_scope();
                let mut tx = scope::begin_plain(inner.store.pool(), scope).await?;
                if inner.key.enter(&mut tx).await? != Claim::Claimed {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Ok(Some(Held {
                    tx,
                    scope: Some(scope.owned()),
                    last: Last::None,
                }))
            }
            Last::None | Last::Committed { .. } => Ok(Some(held)),
        }
    }

    /// Back from a step: committed, or dropped (to be undone).
    pub(crate) fn give_back(&self, tx: Transaction<'static, Postgres>, committed: bool) {
        let mut state = self.state();
        // otherwise the unit ended meanwhile, and the step's work rolls
        // back with its transaction
        if let State::Lent { savepoint, scope } = &*state {
            let savepoint = *savepoint;
            let last = if committed {
                Last::Committed { savepoint }
            } else {
                Last::Dropped { savepoint }
            };
            let scope = Some(scope.clone());
            *state = State::Held(Held { tx, scope, last });
        }
    }
}

/// Runs `statements` in one round trip (none: no round trip).
async fn batch(conn: &mut PgConnection, statements: Vec<String>) -> Result<(), sqlx::Error> {
    if statements.is_empty() {
        return Ok(());
    }
    // a string without arguments goes as a simple query: several
    // statements, one round trip
    sqlx::Executor::execute(conn, statements.join("; ").as_str()).await?;
    Ok(())
}
