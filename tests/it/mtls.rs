//! With mTLS configured, NumberingService answers only allowlisted callers
//! presenting a certificate from the configured CA.

use numbering::serve::GrpcTls;
use numbering_proto::numbering::v1::{
    ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_tests::{
    TestDb,
    hot_path::{HostSetup, TestHost},
};
use numbering_validate_lease::mtls::{CallerAllowlist, DEFAULT_CALLERS, server_tls};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use tonic::{
    Code,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
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
fn leaf(
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

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

async fn call(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> Result<(), tonic::Status> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(2))
        .tls_config(tls)
        .unwrap();
    let channel = match channel.connect().await {
        Ok(c) => c,
        Err(e) => return Err(tonic::Status::unavailable(format!("connect: {e}"))),
    };
    NumberingServiceClient::new(channel)
        .validate_lease(ValidateLeaseRequest {
            identifier: "+93790000001".into(),
            tenant_id: "acme".into(),
        })
        .await
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowlisted_callers_with_a_certificate_from_the_ca_get_an_answer() {
    let db = TestDb::new().await;
    let ca = ca("numbering test CA");
    let other_ca = ca_other();
    let (server_cert, server_key) =
        leaf(&ca, dns("localhost"), ExtendedKeyUsagePurpose::ServerAuth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_addr = listener.local_addr().unwrap();
    let grpc_tls = GrpcTls {
        listener,
        tls: server_tls(
            server_cert.as_bytes(),
            server_key.as_bytes(),
            ca.pem().as_bytes(),
        ),
        allowlist: CallerAllowlist::new(DEFAULT_CALLERS),
    };
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            grpc_tls: Some(grpc_tls),
            ..Default::default()
        },
    )
    .await;
    let ca_pem = ca.pem();
    let client = ExtendedKeyUsagePurpose::ClientAuth;

    let orchestrator = leaf(&ca, dns("sms-orchestrator"), client.clone());
    call(tls_addr, &ca_pem, Some(&orchestrator))
        .await
        .expect("an allowlisted caller is answered");
    let spiffe = leaf(
        &ca,
        SanType::URI(
            "spiffe://ghasi.af/ns/routing/routing-engine"
                .try_into()
                .unwrap(),
        ),
        client.clone(),
    );
    call(tls_addr, &ca_pem, Some(&spiffe))
        .await
        .expect("a SPIFFE identity of an allowlisted caller is answered");

    let stranger = leaf(&ca, dns("marketing-blaster"), client.clone());
    let refused = call(tls_addr, &ca_pem, Some(&stranger)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let forged = leaf(&other_ca, dns("sms-orchestrator"), client);
    assert!(
        call(tls_addr, &ca_pem, Some(&forged)).await.is_err(),
        "a certificate from another CA is refused"
    );
    assert!(
        call(tls_addr, &ca_pem, None).await.is_err(),
        "no certificate is refused"
    );

    // and the plaintext port does not serve NumberingService at all
    let mut plain = host.client().await;
    let status = plain
        .validate_lease(ValidateLeaseRequest {
            identifier: "+93790000001".into(),
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    host.stop().await;
}

fn ca_other() -> CertifiedIssuer<'static, KeyPair> {
    ca("somebody else's CA")
}
