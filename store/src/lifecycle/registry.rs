//! The port of the sender-id registry, which an ALPHA assign asks first
//! ([`super::assign_verified`]). The store defines it so that the assign
//! rule needs no client crate; the gRPC adapter lives in
//! `numbering-clients` and implements it.

use std::{future::Future, pin::Pin};

use numbering_shared::TenantId;

/// A boxed, sendable future: what a port's method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The remote service did not answer (unreachable, timed out, or failed).
#[derive(Debug, thiserror::Error)]
#[error("{service} unavailable: {detail}")]
pub struct Unavailable {
    pub service: &'static str,
    pub detail: String,
}

/// `sender-id-registry-service.IsVerified`.
///
/// Contract: `Ok(true)` only when the registry positively confirmed that
/// `tenant` is verified for `alpha_id`; MUST return `Err(Unavailable)` when
/// it could not ask (never guess yes).
pub trait SenderIdRegistry: Send + Sync {
    fn is_verified<'a>(
        &'a self,
        alpha_id: &'a str,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<bool, Unavailable>>;
}
