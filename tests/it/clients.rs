//! The clients of the services numbering calls, against real gRPC servers
//! standing in for billing and the sender-id registry.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use numbering_clients::{GrpcBilling, GrpcSenderIdRegistry, channel};
use numbering_proto::{
    billing::v1::{
        PreviewChargeRequest, PreviewChargeResponse,
        billing_service_server::{BillingService, BillingServiceServer},
    },
    senderid::v1::{
        IsVerifiedRequest, IsVerifiedResponse,
        sender_id_registry_server::{SenderIdRegistry, SenderIdRegistryServer},
    },
};
use numbering_shared::NumberState;
use numbering_store::{AssignError, assign_verified};
use numbering_tests::{TestDb, tenant_ctx};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

/// A billing-service stand-in: approves or declines, counting calls.
#[derive(Clone, Default)]
pub(crate) struct FakeBilling {
    pub decline: Arc<AtomicBool>,
    pub calls: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl BillingService for FakeBilling {
    async fn preview_charge(
        &self,
        request: Request<PreviewChargeRequest>,
    ) -> Result<Response<PreviewChargeResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let r = request.into_inner();
        assert!(!r.lease_id.is_empty() && !r.tenant_id.is_empty());
        let decline = self.decline.load(Ordering::SeqCst);
        Ok(Response::new(PreviewChargeResponse {
            approved: !decline,
            decline_reason: if decline {
                "ACCOUNT_DELINQUENT".into()
            } else {
                String::new()
            },
            amount_minor: 500,
            currency: "EUR".into(),
        }))
    }
}

/// A sender-id-registry stand-in: verified or not.
#[derive(Clone, Default)]
pub(crate) struct FakeRegistry {
    pub verified: Arc<AtomicBool>,
}

#[tonic::async_trait]
impl SenderIdRegistry for FakeRegistry {
    async fn is_verified(
        &self,
        _request: Request<IsVerifiedRequest>,
    ) -> Result<Response<IsVerifiedResponse>, Status> {
        Ok(Response::new(IsVerifiedResponse {
            verified: self.verified.load(Ordering::SeqCst),
        }))
    }
}

/// Serves `billing` on a free loopback port; returns its URL.
pub(crate) async fn serve_billing(billing: FakeBilling) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(BillingServiceServer::new(billing))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    url
}

pub(crate) async fn serve_registry(registry: FakeRegistry) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SenderIdRegistryServer::new(registry))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    url
}

/// A URL on which nothing listens.
pub(crate) async fn nobody_listening() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

pub(crate) fn billing_client(url: &str) -> Arc<GrpcBilling> {
    Arc::new(GrpcBilling::new(
        channel(url, Duration::from_secs(10)).unwrap(),
    ))
}

async fn registry_at(url: &str) -> GrpcSenderIdRegistry {
    GrpcSenderIdRegistry::new(channel(url, Duration::from_secs(10)).unwrap())
}

#[tokio::test]
async fn an_alpha_assign_is_refused_when_the_registry_says_no_and_allowed_when_it_says_yes() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let alpha = db.inventory(&["ACME-BANK"]).await.remove(0);
    let fake = FakeRegistry::default();
    let registry = registry_at(&serve_registry(fake.clone()).await).await;
    let r = db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &alpha)
        .await
        .unwrap();

    let refused = assign_verified(
        &db.store,
        &registry,
        &tenant_ctx(&tenant),
        &tenant,
        r.id,
        true,
    )
    .await;
    assert!(
        matches!(refused, Err(AssignError::NotVerified { .. })),
        "{refused:?}"
    );
    assert_eq!(
        db.store.number(&alpha).await.unwrap().unwrap().state,
        NumberState::Reserved
    );

    fake.verified.store(true, Ordering::SeqCst);
    let lease = assign_verified(
        &db.store,
        &registry,
        &tenant_ctx(&tenant),
        &tenant,
        r.id,
        true,
    )
    .await
    .expect("verified: assigned");
    assert_eq!(lease.identifier, alpha);
}

#[tokio::test]
async fn an_alpha_assign_is_refused_with_a_503_class_error_when_the_registry_is_down() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let alpha = db.inventory(&["ACME-BANK"]).await.remove(0);
    let registry = registry_at(&nobody_listening().await).await;
    let r = db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &alpha)
        .await
        .unwrap();

    let refused = assign_verified(
        &db.store,
        &registry,
        &tenant_ctx(&tenant),
        &tenant,
        r.id,
        true,
    )
    .await;
    assert!(
        matches!(refused, Err(AssignError::RegistryUnavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        db.store.number(&alpha).await.unwrap().unwrap().state,
        NumberState::Reserved
    );
    assert_eq!(db.count("numbering.leases").await, 0);
}

#[tokio::test]
async fn a_non_alpha_assign_does_not_ask_the_registry() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let msisdn = db.inventory(&["+93781112223"]).await.remove(0);
    let registry = registry_at(&nobody_listening().await).await;
    let r = db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &msisdn)
        .await
        .unwrap();
    assign_verified(
        &db.store,
        &registry,
        &tenant_ctx(&tenant),
        &tenant,
        r.id,
        true,
    )
    .await
    .expect("an MSISDN needs no registry");
}

/// Reserves `ALPHA` over the portal and tries to lease it; returns the lease answer.
async fn assign_over_rest(
    app: &numbering_tests::app::TestApp,
    alpha: &str,
) -> numbering_tests::app::Answer {
    use numbering_tests::app::tenant_token;
    const P: &str = "/v1/portal/numbering";
    let acme = tenant_token("acme");
    let r = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            serde_json::json!({ "identifier": alpha }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json);
    app.post(
        &acme,
        &format!("{P}/leases"),
        serde_json::json!({ "reservation_id": r.str("id") }),
    )
    .await
}

#[tokio::test]
async fn the_portal_assigns_an_alpha_sender_id_only_with_the_registrys_yes() {
    use numbering_tests::app::{TestApp, edge};
    // no registry configured: refused as unavailable, never allowed
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["ACME-BANK", "ACME-PAY", "ACME-LOAN"]).await;
    let mut with_registry = edge();
    let fake = FakeRegistry::default();
    with_registry.registry = Arc::new(registry_at(&serve_registry(fake.clone()).await).await);
    let app = TestApp::with_edge(db, with_registry).await;

    let refused = assign_over_rest(&app, "ACME-BANK").await;
    assert_eq!(
        (refused.status.as_u16(), refused.code()),
        (403, "SENDER_ID_NOT_VERIFIED"),
        "{:?}",
        refused.json
    );
    fake.verified.store(true, Ordering::SeqCst);
    let leased = assign_over_rest(&app, "ACME-PAY").await;
    assert_eq!(leased.status.as_u16(), 201, "{:?}", leased.json);

    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["ACME-LOAN"]).await;
    let mut down = edge();
    down.registry = Arc::new(registry_at(&nobody_listening().await).await);
    let app = TestApp::with_edge(db, down).await;
    let unavailable = assign_over_rest(&app, "ACME-LOAN").await;
    assert_eq!(
        (unavailable.status.as_u16(), unavailable.code()),
        (503, "SENDER_ID_REGISTRY_UNAVAILABLE"),
        "{:?}",
        unavailable.json
    );
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["ACME-LOAN"]).await;
    let app = TestApp::with_edge(db, edge()).await;
    let unconfigured = assign_over_rest(&app, "ACME-LOAN").await;
    assert_eq!(
        unconfigured.status.as_u16(),
        503,
        "no registry configured: {:?}",
        unconfigured.json
    );
}
