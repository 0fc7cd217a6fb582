//! The host as an orchestrator runs it: a rotated mTLS certificate is
//! served without a restart (a broken rotation is refused and the previous
//! certificate stays), and SIGTERM ends the process within the drain time
//! even while a request hangs.

use std::{
    io::{Read, Write},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use numbering_proto::numbering::v1::{
    ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_tests::{TestDb, numbering_bin};
use rcgen::{CertifiedIssuer, ExtendedKeyUsagePurpose, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::mtls::{ca, client, dns, leaf};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `numbering serve` process, killed when dropped.
struct Host {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Host {
    async fn start(db: &TestDb, extra: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "numbering-lifecycle-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let child = Command::new(numbering_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", &dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "NUMBERING_JWT_HS256_SECRET",
                "host-lifecycle-test-secret-0123456789",
            )
            .env("NUMBERING_EXPORT_SCHEDULE_ENABLED", "false")
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut host = Self { child, port, dir };
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(180);
        while !http
            .get(host.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(host.child.try_wait().unwrap().is_none(), "the host exited");
            assert!(Instant::now() < until, "the host never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        host
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn metric(&self, line_start: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Replaces `path` in one rename, as the kubelet swaps a Secret volume.
fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// ValidateLease on the mTLS port, trusting only `server_ca`.
async fn call(
    port: u16,
    server_ca: &CertifiedIssuer<'static, KeyPair>,
    identity: &(String, String),
) -> Result<(), String> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(server_ca.pem()))
        .identity(Identity::from_pem(&identity.0, &identity.1))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    NumberingServiceClient::new(channel)
        .validate_lease(ValidateLeaseRequest {
            identifier: "+93790000001".into(),
            tenant_id: "acme".into(),
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_without_a_restart_and_a_broken_one_is_refused() {
    let db = TestDb::new().await;
    let (old_ca, new_ca, callers_ca) = (ca("old server CA"), ca("new server CA"), ca("callers CA"));
    let files =
        std::env::temp_dir().join(format!("numbering-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&files).unwrap();
    let (cert, key, client_ca) = (
        files.join("tls.crt"),
        files.join("tls.key"),
        files.join("ca.crt"),
    );
    let server = |issuer| {
        leaf(
            issuer,
            dns("localhost"),
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    };
    let (c, k) = server(&old_ca);
    replace(&cert, &c);
    replace(&key, &k);
    replace(&client_ca, &callers_ca.pem());
    let tls_port = free_port();
    let host = Host::start(
        &db,
        &[
            ("NUMBERING_GRPC_TLS_LISTEN", format!("127.0.0.1:{tls_port}")),
            ("NUMBERING_TLS_CERT", cert.display().to_string()),
            ("NUMBERING_TLS_KEY", key.display().to_string()),
            ("NUMBERING_TLS_CLIENT_CA", client_ca.display().to_string()),
            ("NUMBERING_TLS_RELOAD_INTERVAL", "1s".into()),
        ],
    )
    .await;
    let caller = client(&callers_ca, dns("sms-orchestrator"));
    call(tls_port, &old_ca, &caller)
        .await
        .expect("the first certificate is served");
    assert!(call(tls_port, &new_ca, &caller).await.is_err());

    // rotation: the new certificate, then its key
    let (c, k) = server(&new_ca);
    replace(&cert, &c);
    replace(&key, &k);
    let until = Instant::now() + Duration::from_secs(60);
    while call(tls_port, &new_ca, &caller).await.is_err() {
        assert!(
            Instant::now() < until,
            "the rotated certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        call(tls_port, &old_ca, &caller).await.is_err(),
        "the old certificate is no longer served"
    );
    assert!(
        host.metric("numbering_tls_reloads_total{outcome=\"ok\"}")
            .await
            >= 1.0
    );

    // a broken rotation (a key of no certificate) is refused
    replace(&key, &KeyPair::generate().unwrap().serialize_pem());
    let until = Instant::now() + Duration::from_secs(60);
    while host
        .metric("numbering_tls_reloads_total{outcome=\"refused\"}")
        .await
        < 1.0
    {
        assert!(
            Instant::now() < until,
            "the broken rotation is never looked at"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    call(tls_port, &new_ca, &caller)
        .await
        .expect("the last good certificate is still served");
    drop(host);
    let _ = std::fs::remove_dir_all(&files);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_host_within_the_drain_time_even_while_a_request_hangs() {
    let db = TestDb::new().await;
    let mut host = Host::start(&db, &[("NUMBERING_SHUTDOWN_DRAIN", "1s".into())]).await;
    // one connection, served once (so the host has accepted it), then a
    // request whose body never finishes arriving
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", host.port)).unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: numbering\r\n\r\n")
        .unwrap();
    let mut answer = [0u8; 12];
    conn.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    conn.write_all(
        b"POST /v1/validate-lease HTTP/1.1\r\nHost: numbering\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"identifier\":",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pid = host.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // without the bound the host would wait for that body forever
    let until = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = host.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the host is still draining a hung request"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");
    drop(conn);
}
