//! Starting up and being operated: a start that cannot reach Postgres says
//! why (the host on stderr, a Lambda through the Runtime API's
//! `/init/error`), and every request leaves one access-log line and an
//! `X-Request-Id` on its answer.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, http::HeaderMap, routing::post};
use numbering_tests::{TestDb, numbering_bin, workspace_bin};
use serde_json::{Value, json};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Postgres URL whose port nothing listens on.
fn closed_port_url() -> String {
    format!("postgres://numbering@127.0.0.1:{}/numbering", free_port())
}

fn temp_dir(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "numbering-{what}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

#[test]
fn the_host_that_cannot_reach_postgres_at_start_says_why_and_exits_non_zero() {
    let dir = temp_dir("no-pg");
    for command in ["serve", "migrate"] {
        let out = Command::new(numbering_bin())
            .arg(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NUMBERING_DATA_DIR", &dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("DATABASE_URL", closed_port_url())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(
            stderr.to_lowercase().contains("connection refused"),
            "{command} names the cause: {stderr}"
        );
        assert!(!stderr.contains("PoolTimedOut"), "{command}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_lambda_that_cannot_reach_postgres_at_init_reports_the_cause_to_the_runtime_api() {
    // the Runtime API, as far as init goes: it records /init/error
    let reported: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let api = Router::new().route(
        "/2018-06-01/runtime/init/error",
        post({
            let reported = reported.clone();
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                reported.lock().unwrap().push((headers, body));
                axum::Json(json!({ "status": "OK" }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, api).await });

    let mut lambda = tokio::process::Command::new(workspace_bin("validate-lease"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "validate-lease")
        .env("DATABASE_URL", closed_port_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), lambda.wait())
        .await
        .expect("the Lambda exits after a failed init")
        .unwrap();
    server.abort();

    assert!(!status.success(), "{status}");
    let reported = reported.lock().unwrap();
    assert_eq!(reported.len(), 1, "one init error: {reported:?}");
    let (headers, body) = &reported[0];
    assert_eq!(
        headers["lambda-runtime-function-error-type"],
        "Runtime.InitError"
    );
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("connection refused"),
        "the cause is reported: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_a_request_id_and_one_json_access_log_line() {
    let db = TestDb::new().await;
    let dir = temp_dir("access-log");
    let port = free_port();
    let secret = "access-log-test-secret-0123456789abcdef";
    let mut host = Command::new(numbering_bin())
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NUMBERING_DATA_DIR", &dir)
        .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &db.owner_url)
        .env("NUMBERING_JWT_HS256_SECRET", secret)
        .env("NUMBERING_LOG_FORMAT", "json")
        .env("NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stderr = host.stderr.take().unwrap();
    std::thread::spawn({
        let lines = lines.clone();
        move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    lines.lock().unwrap().push(v);
                }
            }
        }
    });
    let access = |lines: &Arc<Mutex<Vec<Value>>>| -> Vec<Value> {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["target"] == "access")
            .map(|l| l["fields"].clone())
            .collect()
    };

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(120);
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < until && host.try_wait().unwrap().is_none(),
            "the host comes up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let token = {
        let now = chrono::Utc::now().timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &json!({ "sub": "ops", "tenant_id": "acme", "roles": ["tenant_pool_admin"],
                     "iss": "numbering-dev", "aud": "numbering",
                     "iat": now, "nbf": now, "exp": now + 600 }),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let given = http
        .get(format!("{base}/v1/portal/numbering/leases"))
        .bearer_auth(&token)
        .header("X-Request-Id", "caller-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.status(), 200);
    assert_eq!(given.headers()["x-request-id"], "caller-chosen-42");
    let generated = http
        .get(format!("{base}/v1/portal/numbering/nothing-here"))
        .send()
        .await
        .unwrap();
    let generated_id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated_id).is_ok(),
        "a request without an id gets a new one: {generated_id}"
    );
    // the hot path over gRPC, on the same port
    use numbering_proto::numbering::v1::{
        ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
    };
    let mut grpc = NumberingServiceClient::connect(base.clone()).await.unwrap();
    let mut hot_ids = Vec::new();
    for _ in 0..4 {
        let answer = grpc
            .validate_lease(ValidateLeaseRequest {
                identifier: "+93790001234".into(),
                tenant_id: "acme".into(),
            })
            .await
            .unwrap();
        let id = answer.metadata().get("x-request-id").expect("an id");
        hot_ids.push(id.to_str().unwrap().to_owned());
    }
    // the lines are written before the answers leave; wait for the reader
    let until = Instant::now() + Duration::from_secs(60);
    let logged = loop {
        let logged = access(&lines);
        let ids: Vec<&str> = logged
            .iter()
            .filter_map(|l| l["request_id"].as_str())
            .collect();
        if ids.contains(&"caller-chosen-42")
            && ids.contains(&generated_id.as_str())
            && ids.contains(&hot_ids[2].as_str())
        {
            break logged;
        }
        assert!(Instant::now() < until, "access lines: {logged:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let _ = host.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let line = |id: &str| {
        let found: Vec<&Value> = logged.iter().filter(|l| l["request_id"] == id).collect();
        assert!(found.len() <= 1, "one line per request: {found:#?}");
        found.first().map(|l| (*l).clone())
    };
    let leases = line("caller-chosen-42").unwrap();
    assert_eq!(leases["method"], "GET");
    assert_eq!(leases["route"], "/v1/portal/numbering/leases");
    assert_eq!(leases["status"], 200);
    assert!(leases["duration_ms"].as_f64().is_some(), "{leases}");
    let unknown = line(&generated_id).unwrap();
    assert_eq!(unknown["status"], 404);
    // one in NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE=2 hot-path requests
    let hot: Vec<bool> = hot_ids.iter().map(|id| line(id).is_some()).collect();
    assert_eq!(hot, [true, false, true, false], "{logged:#?}");
    assert_eq!(
        line(&hot_ids[0]).unwrap()["route"],
        "/numbering.v1.NumberingService/ValidateLease"
    );
}
