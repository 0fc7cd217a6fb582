//! Idempotency-Key records (IETF draft + Stripe semantics): the exact
//! response of a request, which later requests with the same key and
//! fingerprint replay.
//!
//! Two ways to run a request under a key:
//!
//! - **In the request's transaction** ([`Store::enter_idempotency_key`],
//!   [`Unit`]): the key is taken under a transaction-scoped advisory lock,
//!   the request's store operations continue that same transaction, and the
//!   response is stored in it before the one commit. The change and its
//!   stored response commit together or not at all: a crash at any point
//!   leaves either both or neither, so a retry never runs a change twice.
//!   A concurrent request with the same key finds the lock taken (409).
//! - **Claimed first** ([`Store::claim_idempotency_key`]): an IN_PROGRESS
//!   row is committed before the work runs and completed after it, for long
//!   requests that commit several transactions of their own (imports,
//!   exports). A process that dies in between leaves a claim that counts as
//!   abandoned after a minute.
//!
//! Both take the same advisory lock, so the two never run one key at once.

use std::future::Future;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    LifecycleError, Store,
    scope::{self, Scope},
};

/// How long an IN_PROGRESS claim blocks others before it counts as
/// abandoned (its process died mid-request) and may be claimed again.
const ABANDONED_AFTER_SECS: f64 = 60.0;

/// A stored response, replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// `[[name, value], …]` as recorded.
    pub headers: Value,
    pub body: Vec<u8>,
}

/// `numbering.claim_idempotency_key` / `enter_idempotency_key`'s row.
type ClaimRow = (
    bool,
    Option<String>,
    Option<String>,
    Option<i16>,
    Option<Value>,
    Option<Vec<u8>>,
);

/// What a claim row means for a request with `fingerprint`.
fn claim_from(row: Option<ClaimRow>, fingerprint: &str) -> Claim {
    let (fp, status, code, headers, body) = match row {
        Some((true, ..)) => return Claim::Claimed,
        Some((false, Some(fp), Some(status), code, headers, body)) => {
            (fp, status, code, headers, body)
        }
        // taken by a running request, or deleted between our insert and
        // read: the caller may retry
        _ => return Claim::InFlight,
    };
    if fp != fingerprint {
        return Claim::Reused;
    }
    if status != "COMPLETED" {
        return Claim::InFlight;
    }
    Claim::Replay(StoredResponse {
        status: code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500),
        headers: headers.unwrap_or(Value::Array(vec![])),
        body: body.unwrap_or_default(),
    })
}

/// Takes `key` inside the transaction on `conn` (see the migration's
/// `numbering.enter_idempotency_key`).
async fn enter(
    conn: &mut PgConnection,
    owner: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, sqlx::Error> {
    let row: Option<ClaimRow> =
        sqlx::query_as("SELECT * FROM numbering.enter_idempotency_key($1, $2, $3)")
            .bind(owner)
            .bind(key)
            .bind(ABANDONED_AFTER_SECS)
            .fetch_optional(conn)
            .await?;
    Ok(claim_from(row, fingerprint))
}

/// What [`Store::enter_idempotency_key`] found.
pub enum Entered {
    /// The key is ours: run the request in the unit, then complete it.
    Claimed(Box<Unit>),
    /// Replay, in flight or reused: answer without running the request.
    Decided(Claim),
}

/// A request under an Idempotency-Key, running in one transaction that
/// holds the key. Dropped without [`Unit::complete`] (the request failed on
/// our side), everything it did rolls back and the key stays free.
pub struct Unit {
    handle: unit::Handle,
    store: Store,
    scope: scope::OwnedScope,
    owner: String,
    key: String,
    fingerprint: String,
}

impl Unit {
    /// Runs `request`: the store operations it makes on this task continue
    /// the unit's transaction, and their commits are deferred to
    /// [`Unit::complete`].
    pub async fn run<F: Future>(&self, request: F) -> F::Output {
        unit::CURRENT.scope(self.handle.clone(), request).await
    }

    /// Rolls back everything the request did (it failed on our side); the
    /// key is free again as soon as this returns.
    pub async fn abandon(self) -> Result<(), LifecycleError> {
        if let Some((tx, _)) = self.handle.take() {
            tx.rollback().await?;
        }
        Ok(())
    }

    /// Stores `response` and commits the request's change with it. If the
    /// request's own transaction was rolled back (it failed), the response
    /// is stored in a new transaction, provided nobody has taken the key
    /// since; an error here means nothing of the request was committed.
    pub async fn complete(self, response: &StoredResponse) -> Result<(), LifecycleError> {
        let mut tx = match self.handle.take() {
            Some((tx, true)) => tx,
            taken => {
                if let Some((tx, false)) = taken {
                    // rolled back now, so that the key's lock is free
                    tx.rollback().await?;
                }
                let mut tx = scope::begin_plain(self.store.pool(), self.scope.as_scope()).await?;
                if enter(&mut tx, &self.owner, &self.key, &self.fingerprint).await?
                    != Claim::Claimed
                {
                    return Ok(());
                }
                tx
            }
        };
        sqlx::query(
            "INSERT INTO numbering.idempotency_keys AS k \
                 (scope, key, request_fingerprint, status, response_status, response_headers, response_body, completed_at) \
             VALUES ($1, $2, $3, 'COMPLETED', $4, $5::json, $6, now()) \
             ON CONFLICT (scope, key) DO UPDATE SET \
                 request_fingerprint = EXCLUDED.request_fingerprint, status = 'COMPLETED', \
                 response_status = EXCLUDED.response_status, response_headers = EXCLUDED.response_headers, \
                 response_body = EXCLUDED.response_body, created_at = now(), completed_at = now(), \
                 expires_at = now() + interval '24 hours'",
        )
        .bind(&self.owner)
        .bind(&self.key)
        .bind(&self.fingerprint)
        .bind(i16::try_from(response.status).unwrap_or(500))
        .bind(response.headers.to_string())
        .bind(&response.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.store.wake_relays();
        Ok(())
    }
}

/// The request's transaction, lent to the store operations of the task
/// that runs the request.
pub(crate) mod unit {
    use std::sync::{Arc, Mutex, PoisonError};

    use sqlx::{Postgres, Transaction};

    use crate::scope::{OwnedScope, Scope};

    tokio::task_local! {
        pub(super) static CURRENT: Handle;
    }

    enum State {
        /// Between operations: the transaction, in `scope`; `false` once an
        /// operation dropped it without committing (to be rolled back).
        Held(Transaction<'static, Postgres>, OwnedScope, bool),
        /// An operation has it.
        Lent(OwnedScope),
    }

    /// A request's transaction and who has it.
    #[derive(Clone)]
    pub(crate) struct Handle(Arc<Mutex<Option<State>>>);

    impl Handle {
        pub(super) fn new(tx: Transaction<'static, Postgres>, scope: OwnedScope) -> Self {
            Self(Arc::new(Mutex::new(Some(State::Held(tx, scope, true)))))
        }

        fn swap(&self, state: Option<State>) -> Option<State> {
            std::mem::replace(
                &mut *self.0.lock().unwrap_or_else(PoisonError::into_inner),
                state,
            )
        }

        /// The held transaction for good, and whether it is still good.
        pub(super) fn take(&self) -> Option<(Transaction<'static, Postgres>, bool)> {
            match self.swap(None) {
                Some(State::Held(tx, _, good)) => Some((tx, good)),
                _ => None,
            }
        }

        /// Back from an operation: `committed`, or dropped (rolled back).
        pub(crate) fn give_back(&self, tx: Transaction<'static, Postgres>, committed: bool) {
            if let Some(State::Lent(scope)) = self.swap(None) {
                self.swap(Some(State::Held(tx, scope, committed)));
            }
        }
    }

    /// The running request's transaction, switched to `scope`, if this
    /// task runs a request under a key and nothing else has it now.
    pub(crate) async fn lend(
        scope: Scope<'_>,
    ) -> Result<Option<(Transaction<'static, Postgres>, Handle)>, sqlx::Error> {
        let Ok(handle) = CURRENT.try_with(Handle::clone) else {
            return Ok(None);
        };
        let (mut tx, held) = match handle.swap(None) {
            Some(State::Held(tx, held, true)) => (tx, held),
            // lent right now, or rolled back: a transaction of its own
            other => {
                handle.swap(other);
                return Ok(None);
            }
        };
        handle.swap(Some(State::Lent(scope.owned())));
        if held.as_scope() != scope {
            let statement = scope.statement();
            if let Err(e) = sqlx::query(&statement)
                .persistent(false)
                .execute(&mut *tx)
                .await
            {
                handle.give_back(tx, false);
                return Err(e);
            }
        }
        Ok(Some((tx, handle)))
    }
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request, then `complete` or `abandon`.
    Claimed,
    /// The same request already finished: replay this.
    Replay(StoredResponse),
    /// The same key is running right now.
    InFlight,
    /// The key was used for a different request.
    Reused,
}

impl Store {
    /// Claims `key` in `owner`'s scope (a tenant id, or `platform:<sub>`
    /// with `tenant` = None) for a request with `fingerprint`.
    pub async fn claim_idempotency_key(
        &self,
        tenant: Option<&numbering_shared::TenantId>,
        owner: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim, LifecycleError> {
        // one round trip: numbering.claim_idempotency_key sets the scope,
        // claims (or frees an expired / abandoned claim) and reads back
        let row: Option<ClaimRow> =
            sqlx::query_as("SELECT * FROM numbering.claim_idempotency_key($1, $2, $3, $4, $5)")
                .bind(tenant.map(|t| t.as_str()))
                .bind(owner)
                .bind(key)
                .bind(fingerprint)
                .bind(ABANDONED_AFTER_SECS)
                .fetch_optional(self.pool())
                .await?;
        Ok(claim_from(row, fingerprint))
    }

    /// Takes `key` in `owner`'s scope (a tenant id, or `platform:<sub>`
    /// with `tenant` = None) inside a new transaction in that scope: the
    /// request then runs in it through [`Unit::run`] and stores its
    /// response with [`Unit::complete`]. Anything but [`Claim::Claimed`]
    /// comes back as [`Entered::Decided`], with nothing held.
    pub async fn enter_idempotency_key(
        &self,
        tenant: Option<&numbering_shared::TenantId>,
        owner: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Entered, LifecycleError> {
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin_plain(self.pool(), scope).await?;
        match enter(&mut tx, owner, key, fingerprint).await? {
            Claim::Claimed => Ok(Entered::Claimed(Box::new(Unit {
                handle: unit::Handle::new(tx, scope.owned()),
                store: self.clone(),
                scope: scope.owned(),
                owner: owner.to_owned(),
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
            }))),
            decided => {
                // at once, not when the pool gets round to it: the key's
                // lock would otherwise linger past our answer
                tx.rollback().await?;
                Ok(Entered::Decided(decided))
            }
        }
    }

    /// Stores the response of a claimed key.
    pub async fn complete_idempotency_key(
        &self,
        tenant: Option<&numbering_shared::TenantId>,
        owner: &str,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), LifecycleError> {
        sqlx::query("SELECT numbering.complete_idempotency_key($1, $2, $3, $4, $5::json, $6)")
            .bind(tenant.map(|t| t.as_str()))
            .bind(owner)
            .bind(key)
            .bind(i16::try_from(response.status).unwrap_or(500))
            .bind(response.headers.to_string())
            .bind(&response.body)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Releases a claimed key without a stored response (the request failed
    /// on our side), so that a retry runs it again.
    pub async fn abandon_idempotency_key(
        &self,
        tenant: Option<&numbering_shared::TenantId>,
        owner: &str,
        key: &str,
    ) -> Result<(), LifecycleError> {
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin(self, scope).await?;
        sqlx::query(
            "DELETE FROM numbering.idempotency_keys WHERE scope = $1 AND key = $2 AND status = 'IN_PROGRESS'",
        )
        .bind(owner)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
