//! With mTLS configured, the hot path (NumberingService over gRPC and its
//! JSON routes) answers only on the mTLS listener, only to callers whose
//! certificate comes from the configured CA and names an allowlisted
//! identity exactly.

use numbering::serve::GrpcTls;
use numbering::tls_reload::ServerTls;
use numbering_proto::numbering::v1::{
    LookupRequest, ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_tests::{
    TestDb,
    hot_path::{HostSetup, TestHost},
};
use numbering_validate_lease::mtls::CallerAllowlist;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use tonic::{
    Code,
    codegen::Service,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};

use crate::grpc_services::{health_of, reflection_v1};

pub(crate) fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// (certificate PEM, key PEM) for `san` signed by `ca`.
pub(crate) fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    san: SanType,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.subject_alt_names = vec![san];
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub(crate) fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

pub(crate) fn uri(id: &str) -> SanType {
    SanType::URI(id.try_into().unwrap())
}

/// A client certificate for `san` from `ca`.
pub(crate) fn client(ca: &CertifiedIssuer<'static, KeyPair>, san: SanType) -> (String, String) {
    leaf(ca, san, ExtendedKeyUsagePurpose::ClientAuth)
}

/// A test host with an mTLS listener for the callers of `allowlist`
/// (`NUMBERING_GRPC_ALLOWED_CALLERS` syntax), and the CA of both sides.
struct MtlsHost {
    host: TestHost,
    tls_addr: std::net::SocketAddr,
    ca: CertifiedIssuer<'static, KeyPair>,
    db: TestDb,
}

impl MtlsHost {
    async fn start(allowlist: &str) -> Self {
        let db = TestDb::new().await;
        let ca = ca("numbering test CA");
        let (server_cert, server_key) =
            leaf(&ca, dns("localhost"), ExtendedKeyUsagePurpose::ServerAuth);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_addr = listener.local_addr().unwrap();
        let grpc_tls = GrpcTls {
            listener,
            tls: ServerTls::from_pem(
                server_cert.as_bytes(),
                server_key.as_bytes(),
                ca.pem().as_bytes(),
            )
            .unwrap(),
            allowlist: CallerAllowlist::parse(allowlist).unwrap(),
        };
        let host = TestHost::start(
            db.store.clone(),
            HostSetup {
                grpc_tls: Some(grpc_tls),
                ..Default::default()
            },
        )
        .await;
        Self {
            host,
            tls_addr,
            ca,
            db,
        }
    }

    /// A channel to the mTLS listener, presenting `identity`.
    async fn channel(&self, identity: Option<&(String, String)>) -> Result<Channel, tonic::Status> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.ca.pem()))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Channel::from_shared(format!("https://{}", self.tls_addr))
            .unwrap()
            .connect_timeout(std::time::Duration::from_secs(10))
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connect: {e}")))
    }

    /// ValidateLease on the mTLS listener as `identity`.
    async fn call(&self, identity: Option<&(String, String)>) -> Result<(), tonic::Status> {
        NumberingServiceClient::new(self.channel(identity).await?)
            .validate_lease(validate_request())
            .await
            .map(drop)
    }
}

fn validate_request() -> ValidateLeaseRequest {
    ValidateLeaseRequest {
        identifier: "+93790000001".into(),
        tenant_id: "acme".into(),
    }
}

/// A JSON POST over an HTTP/2 channel: (status, body).
async fn post_json(mut channel: Channel, path: &str, body: Value) -> (u16, Value) {
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .unwrap();
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(tonic::body::Body::new(body.to_string()))
        .unwrap();
    let response = channel.call(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A JSON POST to the plaintext port: the status.
async fn post_plain(host: &TestHost, path: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}{path}", host.url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowlisted_callers_with_a_certificate_from_the_ca_get_an_answer() {
    let h = MtlsHost::start(
        "sms-orchestrator, routing-engine=spiffe://ghasi.af/ns/routing/routing-engine",
    )
    .await;

    let orchestrator = client(&h.ca, dns("sms-orchestrator"));
    h.call(Some(&orchestrator))
        .await
        .expect("an allowlisted caller is answered");
    let spiffe = client(&h.ca, uri("spiffe://ghasi.af/ns/routing/routing-engine"));
    h.call(Some(&spiffe))
        .await
        .expect("an allowlisted SPIFFE identity is answered");

    let stranger = client(&h.ca, dns("marketing-blaster"));
    let refused = h.call(Some(&stranger)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let forged = client(&ca("somebody else's CA"), dns("sms-orchestrator"));
    assert!(
        h.call(Some(&forged)).await.is_err(),
        "a certificate from another CA is refused"
    );
    assert!(h.call(None).await.is_err(), "no certificate is refused");
    h.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_alike_of_an_allowlisted_identity_is_refused() {
    let h = MtlsHost::start(
        "sms-orchestrator, routing-engine=spiffe://ghasi.af/ns/routing/routing-engine",
    )
    .await;
    for look_alike in [
        dns("sms-orchestrator.attacker.example"),
        dns("sms-orchestrator-evil"),
        uri("spiffe://attacker.example/ns/routing/routing-engine"),
        uri("spiffe://ghasi.af/ns/routing/routing-engine/x"),
        uri("https://ghasi.af/sms-orchestrator"),
    ] {
        let what = format!("{look_alike:?}");
        let cert = client(&h.ca, look_alike);
        let refused = h.call(Some(&cert)).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{what}: {refused:?}"
        );
        let channel = h.channel(Some(&cert)).await.unwrap();
        let (status, body) = post_json(
            channel,
            "/v1/validate-lease",
            json!({ "identifier": "+93790000001", "tenant_id": "acme" }),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("FORBIDDEN")),
            "{what}"
        );
    }
    h.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_the_hot_path_answers_over_grpc_and_json_only_on_the_mtls_listener() {
    let h = MtlsHost::start("sms-orchestrator").await;
    h.db.inventory(&["+93790000001"]).await;
    let validate = json!({ "identifier": "+93790000001", "tenant_id": "acme" });
    let lookup = json!({ "identifier": "+93790000001" });

    // the plaintext port: neither route, over neither protocol, for anyone
    for (path, body) in [("/v1/validate-lease", &validate), ("/v1/lookup", &lookup)] {
        assert_eq!(post_plain(&h.host, path, body.clone()).await, 404, "{path}");
    }
    let mut plain = h.host.client().await;
    let status = plain.validate_lease(validate_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let status = plain
        .lookup(LookupRequest {
            identifier: "+93790000001".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    // and what it does not serve, it neither lists nor reports healthy
    let plain_channel = Channel::from_shared(h.host.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let listed = reflection_v1::services(plain_channel.clone()).await;
    assert!(
        !listed.contains("numbering.v1.NumberingService"),
        "{listed:?}"
    );
    let unknown = health_of(plain_channel, "numbering.v1.NumberingService")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");

    // the mTLS listener: both routes over both protocols for the caller
    let caller = client(&h.ca, dns("sms-orchestrator"));
    let channel = h.channel(Some(&caller)).await.unwrap();
    let (status, verdict) =
        post_json(channel.clone(), "/v1/validate-lease", validate.clone()).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(
        (&verdict["allowed"], &verdict["reason"]),
        (&json!(false), &json!("NOT_REGISTERED"))
    );
    let (status, found) = post_json(channel.clone(), "/v1/lookup", lookup.clone()).await;
    assert_eq!((status, &found["kind"]), (200, &json!("MSISDN")), "{found}");
    let mut grpc = NumberingServiceClient::new(channel.clone());
    assert!(
        !grpc
            .validate_lease(validate_request())
            .await
            .unwrap()
            .into_inner()
            .allowed
    );
    let found = grpc
        .lookup(LookupRequest {
            identifier: "+93790000001".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.kind, "MSISDN");
    let listed = reflection_v1::services(channel).await;
    assert!(
        listed.contains("numbering.v1.NumberingService"),
        "{listed:?}"
    );

    // and not for a certificate from the CA that is not an allowlisted caller
    let stranger = client(&h.ca, dns("marketing-blaster"));
    let channel = h.channel(Some(&stranger)).await.unwrap();
    for (path, body) in [("/v1/validate-lease", &validate), ("/v1/lookup", &lookup)] {
        let (status, problem) = post_json(channel.clone(), path, body.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("FORBIDDEN")),
            "{path}"
        );
    }
    let status = NumberingServiceClient::new(channel)
        .lookup(LookupRequest {
            identifier: "+93790000001".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    h.host.stop().await;
}
