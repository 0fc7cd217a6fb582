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
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin(self.pool(), scope).await?;
        let insert = "INSERT INTO numbering.idempotency_keys (scope, key, request_fingerprint) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, key) DO NOTHING";
        let mut inserted = sqlx::query(insert)
            .bind(owner)
            .bind(key)
            .bind(fingerprint)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            // expired keys, and claims abandoned by a dead process, are free again
            let freed = sqlx::query(
                "DELETE FROM numbering.idempotency_keys WHERE scope = $1 AND key = $2 \
                 AND (expires_at <= now() OR (status = 'IN_PROGRESS' AND created_at < now() - make_interval(secs => $3)))",
            )
            .bind(owner)
            .bind(key)
            .bind(ABANDONED_AFTER_SECS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if freed == 1 {
                inserted = sqlx::query(insert)
                    .bind(owner)
                    .bind(key)
                    .bind(fingerprint)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Claim::Claimed);
        }
        type Row = (String, String, Option<i16>, Option<Value>, Option<Vec<u8>>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT request_fingerprint, status, response_status, response_headers, response_body \
             FROM numbering.idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(owner)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let mut tx = scope::begin(self.pool(), scope).await?;
        sqlx::query(
            "UPDATE numbering.idempotency_keys SET status = 'COMPLETED', response_status = $3, \
             response_headers = $4::json, response_body = $5, completed_at = now() \
             WHERE scope = $1 AND key = $2",
        )
        .bind(owner)
        .bind(key)
        .bind(i16::try_from(response.status).unwrap_or(500))
        .bind(response.headers.to_string())
        .bind(&response.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
