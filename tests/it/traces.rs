//! Traces over OTLP: the `numbering` host, pointed at an OTLP receiver
//! this test runs on loopback (HTTP, `/v1/traces`, protobuf), exports the
//! spans of a portal request and of its store transaction under one trace
//! id; that trace id is in the audit entry, in the event the relay
//! publishes and in the request's log lines. A caller's W3C `traceparent`
//! (HTTP header, gRPC metadata) is joined.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, routing::post};
use numbering_proto::numbering::v1::{
    ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_tests::{
    TestDb, TestNats,
    app::{AUDIENCE, ISSUER, SECRET, admin_token, tenant_token},
    eventually, numbering_bin, read_stream,
    schema::{assert_valid, event_schema},
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};

/// A span as the receiver got it (ids in lowercase hex).
#[derive(Debug, Clone)]
struct Got {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    attributes: Vec<(String, String)>,
}

impl Got {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Spans = Arc<Mutex<Vec<Got>>>;

/// An OTLP/HTTP receiver on a free loopback port: its URL and what it got.
async fn otlp_receiver() -> (String, Spans) {
    let spans = Spans::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, spans)
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    let mut got = spans.lock().unwrap();
    for s in request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
    {
        let attributes = s
            .attributes
            .iter()
            .map(|kv| {
                let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                (kv.key.clone(), format!("{v:?}"))
            })
            .collect();
        got.push(Got {
            trace_id: hex::encode(&s.trace_id),
            span_id: hex::encode(&s.span_id),
            parent: hex::encode(&s.parent_span_id),
            name: s.name.clone(),
            attributes,
        });
    }
    Vec::new()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `numbering serve` over `db` and `nats`, exporting to `otlp`, every
/// hot-path request traced; its JSON log lines collected.
struct Host {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<Value>>>,
}

impl Host {
    async fn start(db: &TestDb, nats: &TestNats, otlp: &str) -> Host {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "numbering-traces-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut child = Command::new(numbering_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NUMBERING_DATA_DIR", &dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &db.owner_url)
            .env("NATS_URL", nats.url())
            .env("NUMBERING_JWT_HS256_SECRET", SECRET)
            .env("NUMBERING_JWT_ISSUER", ISSUER)
            .env("NUMBERING_JWT_AUDIENCE", AUDIENCE)
            .env("NUMBERING_LOG_FORMAT", "json")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
            .env("OTEL_SERVICE_NAME", "numbering-traces-test")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("NUMBERING_TRACE_HOT_PATH_RATIO", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        let host = Host {
            child,
            base: format!("http://127.0.0.1:{port}"),
            logs,
        };
        host.wait_healthy().await;
        host
    }

    async fn wait_healthy(&self) {
        let http = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(120);
        while !http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < until, "the host comes up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn post(&self, token: &str, path: &str, body: Value, traceparent: Option<&str>) -> Value {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body);
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The spans received so far.
fn spans(s: &Spans) -> Vec<Got> {
    s.lock().unwrap().clone()
}

/// Waits for a span named `name` in trace `trace` (any trace: `None`).
async fn span_named(s: &Spans, name: &str, trace: Option<&str>) -> Got {
    let find = || {
        spans(s)
            .into_iter()
            .find(|g| g.name == name && trace.is_none_or(|t| g.trace_id == t))
    };
    eventually(Duration::from_secs(30), &format!("span {name}"), || async {
        find().is_some()
    })
    .await;
    find().unwrap()
}

/// The audit entry of `action` on `subject`, as the admin API shows it.
async fn audit_entry(host: &Host, subject: &str, action: &str) -> Value {
    let entries = host
        .get(
            &admin_token(),
            &format!(
                "/v1/admin/numbering/audit?subject={}",
                subject.replace('+', "%2B")
            ),
        )
        .await;
    entries["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == json!(action))
        .unwrap_or_else(|| panic!("no {action} entry: {entries}"))
        .clone()
}

/// The trace id in an audit entry's `after` (a JSON object or its text).
fn audited_trace_id(entry: &Value) -> Option<String> {
    let after = match &entry["after"] {
        Value::String(s) => serde_json::from_str(s).ok()?,
        v => v.clone(),
    };
    after["trace_id"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_assign_is_one_trace_from_request_to_audit_entry_and_event() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    db.pool_for("acme").await;
    db.inventory(&["+93791234567"]).await;
    let (otlp, received) = otlp_receiver().await;
    let host = Host::start(&db, &nats, &otlp).await;
    let acme = tenant_token("acme");

    // the reservation joins the caller's trace (W3C traceparent)
    let caller_trace = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let r = host
        .post(
            &acme,
            "/v1/portal/numbering/reservations",
            json!({ "identifier": "+93791234567" }),
            Some(&format!("00-{caller_trace}-{caller_span}-01")),
        )
        .await;
    let reserve = span_named(
        &received,
        "POST /v1/portal/numbering/reservations",
        Some(&caller_trace),
    )
    .await;
    assert_eq!(
        reserve.parent, caller_span,
        "the caller's span is the parent"
    );
    let entry = audit_entry(&host, "+93791234567", "reserve").await;
    assert_eq!(audited_trace_id(&entry), Some(caller_trace.clone()));

    // the assignment starts a trace of its own
    let lease = host
        .post(
            &acme,
            "/v1/portal/numbering/leases",
            json!({ "reservation_id": r["id"] }),
            None,
        )
        .await;
    let request = span_named(&received, "POST /v1/portal/numbering/leases", None).await;
    let trace = request.trace_id.clone();
    assert_ne!(trace, caller_trace);
    assert_eq!(request.parent, "", "a root span");
    let transaction = span_named(&received, "store.transaction", Some(&trace)).await;
    assert_eq!(
        transaction.parent, request.span_id,
        "the transaction is a child of the request"
    );
    assert!(
        request
            .attribute("http.response.status_code")
            .is_some_and(|v| v.contains("201")),
        "{request:?}"
    );

    // the same trace id in the audit entry …
    let entry = audit_entry(&host, "+93791234567", "assign").await;
    assert_eq!(entry["actor"], json!("tenant:acme:test-user"));
    assert_eq!(audited_trace_id(&entry), Some(trace.clone()), "{entry}");

    // … in the events the relay publishes (as documented) …
    let client = nats.client().await;
    for (stream, event) in [
        ("NUMBERING_EVENTS", "number.assigned.v1"),
        ("NUMBERING_LEASES", "lease.assigned.v1"),
    ] {
        let got = read_stream(&client, stream, event, 1, Duration::from_secs(30)).await;
        let envelope: Value = serde_json::from_slice(&got[0].payload).unwrap();
        assert_eq!(envelope["data"]["trace_id"], json!(trace), "{envelope}");
        assert_valid(&event_schema(event).unwrap(), &envelope["data"]);
    }
    assert_eq!(lease["status"], json!("ACTIVE"));

    // … and in the request's log lines
    let logged = host.logs.lock().unwrap().clone();
    let access = logged
        .iter()
        .filter(|l| l["target"] == "access")
        .find(|l| {
            l["fields"]["route"] == json!("/v1/portal/numbering/leases")
                && l["fields"]["method"] == json!("POST")
        })
        .unwrap_or_else(|| panic!("the assign's access line: {logged:?}"));
    assert_eq!(access["span"]["trace_id"], json!(trace), "{access}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_lease_joins_the_trace_named_in_grpc_metadata_with_a_span_per_tier() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    db.pool_for("acme").await;
    db.inventory(&["+93791234567"]).await;
    let (otlp, received) = otlp_receiver().await;
    let host = Host::start(&db, &nats, &otlp).await;

    let mut client = NumberingServiceClient::connect(host.base.clone())
        .await
        .unwrap();
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let mut request = tonic::Request::new(ValidateLeaseRequest {
        identifier: "+93791234567".into(),
        tenant_id: "acme".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-b7ad6b7169203331-01").parse().unwrap(),
    );
    let answer = client.validate_lease(request).await.unwrap().into_inner();
    assert!(!answer.allowed, "not leased to acme");

    let request = span_named(
        &received,
        "/numbering.v1.NumberingService/ValidateLease",
        Some(&trace),
    )
    .await;
    assert_eq!(request.parent, "b7ad6b7169203331");
    // a cold cache: the in-process tier misses, Postgres answers
    for tier in ["in_process", "postgres"] {
        let found = || {
            spans(&received).into_iter().any(|g| {
                g.trace_id == trace
                    && g.name == "validate.tier"
                    && g.attribute("tier").is_some_and(|v| v.contains(tier))
                    && g.parent == request.span_id
            })
        };
        eventually(Duration::from_secs(30), tier, || async { found() }).await;
    }
}
