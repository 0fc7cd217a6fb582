//! The `numbering` binary as a user runs it: no configuration at all.

use numbering_tests::numbering_bin;
use sqlx::{Connection, PgConnection};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct Host {
    child: Child,
    pub(crate) base: String,
    pub(crate) banner: String,
}

impl Host {
    /// The address on the banner's line that contains `marker` (the word
    /// after the line's label).
    pub(crate) fn address(&self, marker: &str) -> String {
        self.banner
            .lines()
            .find(|l| l.contains(marker))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("the banner has a line with {marker:?}:\n{}", self.banner))
            .to_owned()
    }

    /// `numbering serve` with an empty environment but for PATH, a data dir
    /// and a listen port.
    pub(crate) fn start(data_dir: &std::path::Path) -> Host {
        Self::start_with(data_dir, &[])
    }

    /// [`Host::start`] with `env` besides.
    pub(crate) fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Host {
        let port = free_port();
        let mut child = Command::new(numbering_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NUMBERING_DATA_DIR", data_dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                if line.contains("platform admin") {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let banner = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the host prints its banner");
        Host {
            child,
            base,
            banner,
        }
    }

    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host stops within 60 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_comes_up_ready_with_no_configuration_and_stops_cleanly() {
    let dir =
        std::env::temp_dir().join(format!("numbering-host-{}", uuid::Uuid::new_v4().simple()));
    let host = Host::start(&dir);
    assert!(
        host.banner.contains("numbering-service is up"),
        "{}",
        host.banner
    );
    for tenant in ["enterprise-sim", "smb-sim", "government-sim"] {
        assert!(
            host.banner.contains(tenant),
            "a dev token for {tenant}:\n{}",
            host.banner
        );
    }
    let (status, body) = get(&format!("{}/readyz", host.base)).await;
    assert_eq!(status, 200, "{body}");

    // a private nats-server, and the relay running against it
    let nats_url = host.address("embedded JetStream");
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
    numbering_tests::eventually(Duration::from_secs(20), "the relay's streams", || async {
        js.get_stream("NUMBERING_EVENTS").await.is_ok()
    })
    .await;
    assert_eq!(get(&format!("{}/healthz", host.base)).await.0, 200);
    let (status, metrics) = get(&format!("{}/metrics", host.base)).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("numbering_http_request_duration_seconds"),
        "{metrics}"
    );

    // gRPC on the same port: the standard health service
    let channel = tonic::transport::Channel::from_shared(host.base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("grpc.health.v1.Health/Check answers")
        .into_inner();
    assert_eq!(
        answer.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // the demo inventory answers through the validate-lease route
    let verdict: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/validate-lease", host.base))
        .json(&serde_json::json!({ "identifier": "+93790001234", "tenant_id": "smb-sim" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["allowed"], false);
    assert_eq!(verdict["reason"], "NOT_REGISTERED");

    crate::host_rest::check(&host.base, &host.banner).await;

    // the embedded cluster is reached over its Unix-domain socket
    let pg_url = host.address("(embedded; data in");
    assert!(pg_url.starts_with("postgres://postgres@%2F"), "{pg_url}");
    let mut conn = PgConnection::connect(&pg_url).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    conn.close().await.unwrap();

    let status = host.stop();
    assert!(status.success(), "graceful shutdown exits 0: {status}");

    // the next start reuses the cluster and does not seed twice
    let host = Host::start(&dir);
    assert_eq!(get(&format!("{}/readyz", host.base)).await.0, 200);
    assert!(host.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `numbering import` on the data directory of a running `serve` uses that
/// serve's embedded cluster (it used to start a second postmaster there,
/// wait for it and exit 1); a missing input file is refused with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_the_data_directory_of_a_running_serve_uses_its_cluster() {
    let dir =
        std::env::temp_dir().join(format!("numbering-host-{}", uuid::Uuid::new_v4().simple()));
    let host = Host::start(&dir);
    let pg_url = host.address("(embedded; data in");
    let key = numbering_tests::imports::MnoKey::ed25519("roshan-host-import");
    let mut conn = PgConnection::connect(&pg_url).await.unwrap();
    sqlx::query(
        "INSERT INTO numbering.mno_signing_keys (key_id, operator_id, algorithm, public_key_pem, valid_from) \
         VALUES ($1, 'roshan', $2::numbering.signing_algorithm, $3, now() - interval '1 day')",
    )
    .bind(&key.key_id)
    .bind(key.algorithm())
    .bind(key.public_pem())
    .execute(&mut conn)
    .await
    .unwrap();
    let csv = numbering_tests::imports::roshan_file(90_000, 5, "ROSHAN-2026-001");
    let file = dir.join("roshan.csv");
    std::fs::write(&file, &csv).unwrap();
    std::fs::write(dir.join("roshan.csv.sig"), key.sign(&csv)).unwrap();
    let import = |file: &std::path::Path| {
        Command::new(numbering_bin())
            .arg("import")
            .arg("--file")
            .arg(file)
            .arg("--sig")
            .arg(dir.join("roshan.csv.sig"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NUMBERING_DATA_DIR", &dir)
            .output()
            .unwrap()
    };

    let out = import(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("5 total, 5 applied, 0 rejected"),
        "{stdout}"
    );
    let imported: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM numbering.numbers WHERE identifier BETWEEN '+93790090000' AND '+93790090004'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(imported, 5, "imported into the serve's own database");
    conn.close().await.unwrap();

    let missing = import(&dir.join("missing.csv"));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refused: --file")
            && stderr.contains("missing.csv")
            && stderr.contains("No such file"),
        "{stderr}"
    );

    // the serve still owns its cluster and stops cleanly
    assert_eq!(get(&format!("{}/readyz", host.base)).await.0, 200);
    assert!(host.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_token_command_mints_a_three_part_jwt_for_a_tenant() {
    let dir =
        std::env::temp_dir().join(format!("numbering-token-{}", uuid::Uuid::new_v4().simple()));
    let out = Command::new(numbering_bin())
        .args([
            "token",
            "--tenant",
            "smb-sim",
            "--role",
            "tenant_pool_admin",
        ])
        .env_clear()
        .env("NUMBERING_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    let bad = Command::new(numbering_bin())
        .args(["token", "--role", "tenant_pool_admin"])
        .env_clear()
        .env("NUMBERING_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--tenant"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_private_nats_server_starts_stops_and_restarts_on_its_port() {
    let dir =
        std::env::temp_dir().join(format!("numbering-nats-{}", uuid::Uuid::new_v4().simple()));
    let mut nats = numbering::nats::EmbeddedNats::start(&dir, 0).expect("nats-server starts");
    let port = nats.port();
    let greets = || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    assert_eq!(greets(), Some(*b"INFO"));
    nats.stop();
    assert_eq!(greets(), None, "stopped");
    nats.restart().expect("restarts");
    assert_eq!(greets(), Some(*b"INFO"));
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_test_cluster_answers_on_its_socket_and_on_loopback_tcp() {
    let db = numbering_tests::TestDb::new().await;
    // with DATABASE_URL the harness runs no cluster of its own
    let Some(tcp) = numbering_tests::tcp_url(&db.name) else {
        return;
    };
    if std::env::var("NUMBERING_TEST_PG_TCP").is_err() {
        assert!(db.owner_url.contains("@%2F"), "{}", db.owner_url);
    }
    assert!(tcp.contains("@127.0.0.1:"), "{tcp}");
    let mut conn = PgConnection::connect(&tcp).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, db.name);
    conn.close().await.unwrap();
}
