//! Clients for the two services numbering calls (SPEC §7), each a port (a
//! trait whose doc states the contract) with a tonic adapter:
//!
//! - [`SenderIdRegistry`]: `sender-id-registry-service.IsVerified`, asked
//!   before an ALPHA assign (the port and the rule that asks it,
//!   `numbering_store::assign_verified`, live in the store);
//! - [`Billing`]: `billing-service.PreviewCharge`, asked before an
//!   auto-renewal (the lifecycle sweeper);
//! - [`aws`]: the AWS SDK configuration shared by the S3 and KMS clients;
//! - [`lambda`]: a Lambda function's start and the Runtime API;
//! - [`config`]: the settings every deployable shares (database, policy);
//! - [`db_secret`]: the database login from Secrets Manager or ECS `secrets`;
//! - [`telemetry`]: the log subscriber of every deployable;
//! - [`emf`]: the Lambdas' metrics, in CloudWatch Embedded Metric Format.
//! - [`traces`]: OpenTelemetry spans over OTLP, and the request span.

pub mod aws;
pub mod config;
pub mod db_secret;
pub mod emf;
pub mod lambda;
pub mod lease_cache;
pub mod region;
pub mod telemetry;
pub mod traces;

use std::time::Duration;

use numbering_proto::{billing::v1 as billing, senderid::v1 as senderid};
use numbering_shared::TenantId;
pub use numbering_store::{BoxFuture, SenderIdRegistry, Unavailable};
use tonic::transport::{Channel, Endpoint};

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
