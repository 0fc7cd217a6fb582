//! Idempotency-Key records (IETF draft + Stripe semantics): the exact
//! response of a request, which later requests with the same key and
//! fingerprint replay.
//!
//! Two ways to run a request under a key:
//!
//! - **In the request's transaction** ([`Store::enter_idempotency_key`],
//!   [`Uow`]): the key is taken under a transaction-scoped advisory lock,
//!   the request's store operations run in that same transaction (through
//!   the store [`Uow::store`] gives, see [`crate::uow`]), and the response
//!   is stored in it before the one commit. The change and its
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

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    Store,
    scope::{self, Scope},
    uow::Uow,
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

/// A key as a request holds it: whose, which, and for what request.
pub(crate) struct Key {
    pub(crate) owner: String,
    pub(crate) key: String,
    pub(crate) fingerprint: String,
}

impl Key {
    /// Takes the key inside the transaction on `conn` (see the migration's
    /// `numbering.enter_idempotency_key`).
    pub(crate) async fn enter(&self, conn: &mut PgConnection) -> Result<Claim, sqlx::Error> {
        let row: Option<ClaimRow> =
            sqlx::query_as("SELECT * FROM numbering.enter_idempotency_key($1, $2, $3)")
                .bind(&self.owner)
                .bind(&self.key)
                .bind(ABANDONED_AFTER_SECS)
                .fetch_optional(conn)
                .await?;
        Ok(claim_from(row, &self.fingerprint))
    }

    /// Stores `response` as the key's answer, in the transaction on `conn`.
    pub(crate) async fn store_response(
        &self,
        conn: &mut PgConnection,
        response: &StoredResponse,
    ) -> Result<(), sqlx::Error> {
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
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What [`Store::enter_idempotency_key`] found.
pub enum Entered {
    /// The key is ours: run the request in the unit, then complete it.
    Claimed(Box<Uow>),
    /// Replay, in flight or reused: answer without running the request.
    Decided(Claim),
}

/// Why an idempotency operation failed: all of them are failures of the
/// service (a retry may succeed), none is the client's.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A request's unit of work was asked for a step while another step
    /// held its transaction (steps run one at a time).
    #[error("another operation of the request holds its transaction")]
    StepRunning,
    /// The unit's own statements failed: nothing of the request commits.
    #[error("the request's transaction broke")]
    Broken,
    /// The unit's first step failed, and another request took the key
    /// before the unit entered it again.
    #[error("the request's Idempotency-Key was taken by another request")]
    KeyTaken,
    /// The unit was completed or abandoned already.
    #[error("the request's unit of work has ended")]
    Finished,
}

impl IdempotencyError {
    /// As the error of a store operation that asked for the unit's
    /// transaction.
    pub(crate) fn into_sqlx(self) -> sqlx::Error {
        match self {
            Self::Database(e) => e,
            other => sqlx::Error::Io(std::io::Error::other(other)),
        }
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
    ) -> Result<Claim, IdempotencyError> {
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
    /// request then runs in it through [`Uow::store`] and stores its
    /// response with [`Uow::complete`]. Anything but [`Claim::Claimed`]
    /// comes back as [`Entered::Decided`], with nothing held.
    pub async fn enter_idempotency_key(
        &self,
        tenant: Option<&numbering_shared::TenantId>,
        owner: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Entered, IdempotencyError> {
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin_plain(self.pool(), scope).await?;
        let key = Key {
            owner: owner.to_owned(),
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        };
        match key.enter(&mut tx).await? {
            Claim::Claimed => Ok(Entered::Claimed(Box::new(Uow::new(self, tx, scope, key)))),
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
    ) -> Result<(), IdempotencyError> {
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
    ) -> Result<(), IdempotencyError> {
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin_plain(self.pool(), scope).await?;
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
