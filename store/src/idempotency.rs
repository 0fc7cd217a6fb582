//! Idempotency-Key records (IETF draft + Stripe semantics): a key is claimed
//! IN_PROGRESS before the work runs and completed with the exact response,
//! which later requests with the same key and fingerprint replay.

use serde_json::Value;

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
        type Row = (
            bool,
            Option<String>,
            Option<String>,
            Option<i16>,
            Option<Value>,
            Option<Vec<u8>>,
        );
        let row: Option<Row> =
            sqlx::query_as("SELECT * FROM numbering.claim_idempotency_key($1, $2, $3, $4, $5)")
                .bind(tenant.map(|t| t.as_str()))
                .bind(owner)
                .bind(key)
                .bind(fingerprint)
                .bind(ABANDONED_AFTER_SECS)
                .fetch_optional(self.pool())
                .await?;
        let row = match row {
            Some((true, ..)) => return Ok(Claim::Claimed),
            Some((false, Some(fp), Some(status), code, headers, body)) => {
                Some((fp, status, code, headers, body))
            }
            _ => None,
        };
        let Some((fp, status, code, headers, body)) = row else {
            // deleted between our insert and read: the caller may retry
            return Ok(Claim::InFlight);
        };
        if fp != fingerprint {
            return Ok(Claim::Reused);
        }
        if status != "COMPLETED" {
            return Ok(Claim::InFlight);
        }
        Ok(Claim::Replay(StoredResponse {
            status: code.and_then(|c| u16::try_from(c).ok()).unwrap_or(500),
            headers: headers.unwrap_or(Value::Array(vec![])),
            body: body.unwrap_or_default(),
        }))
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
        let mut tx = scope::begin(self.pool(), scope).await?;
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
