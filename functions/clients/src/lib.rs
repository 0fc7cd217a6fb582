//! Clients for the two services numbering calls (SPEC §7), each a port (a
//! trait whose doc states the contract) with a tonic adapter:
//!
//! - [`SenderIdRegistry`]: `sender-id-registry-service.IsVerified`, asked
//!   before an ALPHA assign ([`assign_verified`] is the one assign path the
//!   portal API and seeding use);
//! - [`Billing`]: `billing-service.PreviewCharge`, asked before an
//!   auto-renewal (the lifecycle sweeper);
//! - [`aws`]: the AWS SDK configuration shared by the S3 and KMS clients;
//! - [`lambda`]: a Lambda function's start and the Runtime API;
//! - [`config`]: the settings every deployable shares (database, policy);
//! - [`telemetry`]: the log subscriber of every deployable.

pub mod aws;
pub mod config;
pub mod lambda;
pub mod telemetry;

use std::{future::Future, pin::Pin, time::Duration};

use numbering_proto::{billing::v1 as billing, senderid::v1 as senderid};
use numbering_shared::{IdentifierKind, ReservationId, TenantId};
use numbering_store::{Ctx, Lease, LeaseTerm, LifecycleError, Store};
use tonic::transport::{Channel, Endpoint};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The remote service did not answer (unreachable, timed out, or failed).
#[derive(Debug, thiserror::Error)]
#[error("{service} unavailable: {detail}")]
pub struct Unavailable {
    pub service: &'static str,
    pub detail: String,
}

fn unavailable(service: &'static str, status: tonic::Status) -> Unavailable {
    Unavailable {
        service,
        detail: format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A lazily connected channel with connect and request timeouts: calls to a
/// service that is down fail fast instead of hanging the caller.
pub fn channel(url: &str, timeout: Duration) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_lazy())
}

// ----- sender-id registry --------------------------------------------------

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

/// The gRPC adapter.
#[derive(Clone)]
pub struct GrpcSenderIdRegistry {
    client: senderid::sender_id_registry_client::SenderIdRegistryClient<Channel>,
}

impl GrpcSenderIdRegistry {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: senderid::sender_id_registry_client::SenderIdRegistryClient::new(channel),
        }
    }
}

impl SenderIdRegistry for GrpcSenderIdRegistry {
    fn is_verified<'a>(
        &'a self,
        alpha_id: &'a str,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<bool, Unavailable>> {
        Box::pin(async move {
            let mut client = self.client.clone();
            let reply = client
                .is_verified(senderid::IsVerifiedRequest {
                    alpha_id: alpha_id.to_owned(),
                    tenant_id: tenant.as_str().to_owned(),
                })
                .await
                .map_err(|s| unavailable("sender-id registry", s))?;
            Ok(reply.into_inner().verified)
        })
    }
}

/// Why an assign was refused.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    /// The registry says the tenant is not verified for this sender id
    /// (an edge maps it to 403 / PERMISSION_DENIED, code `SENDER_ID_NOT_VERIFIED`).
    #[error("the sender-id registry has not verified {alpha_id} for this tenant")]
    NotVerified { alpha_id: String },
    /// The registry could not be asked: refused, never allowed (503 /
    /// UNAVAILABLE, code `SENDER_ID_REGISTRY_UNAVAILABLE`; retry later).
    #[error(transparent)]
    RegistryUnavailable(#[from] Unavailable),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

/// Assigns the tenant's reservation, asking the sender-id registry first
/// when the identifier is an ALPHA sender id (SPEC §2).
pub async fn assign_verified(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    ctx: &Ctx,
    tenant: &TenantId,
    reservation: ReservationId,
    auto_renew: bool,
) -> Result<Lease, AssignError> {
    assign_verified_for(
        store,
        registry,
        ctx,
        tenant,
        reservation,
        auto_renew,
        LeaseTerm::Standard,
    )
    .await
}

/// [`assign_verified`] with an explicit lease term (legacy seeding carries
/// over the legacy lease's start and end).
pub async fn assign_verified_for(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    ctx: &Ctx,
    tenant: &TenantId,
    reservation: ReservationId,
    auto_renew: bool,
    term: LeaseTerm,
) -> Result<Lease, AssignError> {
    let r = store
        .reservation(tenant, reservation)
        .await?
        .ok_or(LifecycleError::NotFound("reservation"))?;
    if r.identifier.kind() == IdentifierKind::Alpha {
        let alpha_id = r.identifier.as_str();
        match registry.is_verified(alpha_id, tenant).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(alpha_id, "alpha assign refused: not verified");
                return Err(AssignError::NotVerified {
                    alpha_id: alpha_id.to_owned(),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "alpha assign refused: registry unavailable");
                return Err(e.into());
            }
        }
    }
    Ok(store
        .assign_for(ctx, tenant, reservation, auto_renew, term)
        .await?)
}

// ----- billing ---------------------------------------------------------------

/// What billing answered to a PreviewCharge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeDecision {
    Approved,
    Declined { reason: String },
}

/// One lease term to be charged.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub tenant_id: String,
    pub identifier: String,
    pub kind: String,
    pub lease_id: String,
    pub term_days: u32,
}

/// `billing-service.PreviewCharge`.
///
/// Contract: `Approved` only when billing said so; `Err(Unavailable)` when
/// it could not be asked (the caller retries later and MUST NOT treat it as
/// a decline).
pub trait Billing: Send + Sync {
    fn preview_charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<ChargeDecision, Unavailable>>;
}

#[derive(Clone)]
pub struct GrpcBilling {
    client: billing::billing_service_client::BillingServiceClient<Channel>,
}

impl GrpcBilling {
    pub fn new(channel: Channel) -> Self {
        Self {
            client: billing::billing_service_client::BillingServiceClient::new(channel),
        }
    }
}

impl Billing for GrpcBilling {
    fn preview_charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<ChargeDecision, Unavailable>> {
        Box::pin(async move {
            let mut client = self.client.clone();
            let reply = client
                .preview_charge(billing::PreviewChargeRequest {
                    tenant_id: request.tenant_id.clone(),
                    identifier: request.identifier.clone(),
                    kind: request.kind.clone(),
                    lease_id: request.lease_id.clone(),
                    term_days: request.term_days,
                })
                .await
                .map_err(|s| unavailable("billing", s))?
                .into_inner();
            Ok(if reply.approved {
                ChargeDecision::Approved
            } else {
                ChargeDecision::Declined {
                    reason: reply.decline_reason,
                }
            })
        })
    }
}

/// Stands in for a service whose URL is not configured: every call is
/// `Unavailable` (so nothing is ever allowed or renewed by default).
#[derive(Debug, Clone, Copy)]
pub struct NotConfigured(pub &'static str);

impl SenderIdRegistry for NotConfigured {
    fn is_verified<'a>(
        &'a self,
        _alpha_id: &'a str,
        _tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<bool, Unavailable>> {
        Box::pin(async move {
            Err(Unavailable {
                service: "sender-id registry",
                detail: format!("{} is not set", self.0),
            })
        })
    }
}

impl Billing for NotConfigured {
    fn preview_charge<'a>(
        &'a self,
        _request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<ChargeDecision, Unavailable>> {
        Box::pin(async move {
            Err(Unavailable {
                service: "billing",
                detail: format!("{} is not set", self.0),
            })
        })
    }
}

/// The registry client for a configured URL (`None`: [`NotConfigured`], so
/// every ALPHA assign is refused as unavailable rather than allowed).
pub fn sender_id_registry(
    url: Option<&str>,
    timeout: Duration,
) -> Result<std::sync::Arc<dyn SenderIdRegistry>, tonic::transport::Error> {
    Ok(match url {
        Some(url) => std::sync::Arc::new(GrpcSenderIdRegistry::new(channel(url, timeout)?)),
        None => std::sync::Arc::new(NotConfigured("NUMBERING_SENDER_ID_REGISTRY_URL")),
    })
}
