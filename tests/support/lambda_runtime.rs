//! The AWS Lambda Runtime API, as far as a function uses it, on a free
//! loopback port ([`RuntimeApi`]), and a Lambda's shipped binary started
//! against it as Lambda starts it ([`LambdaProcess`]): `AWS_LAMBDA_RUNTIME_API`
//! set, the function's environment and nothing else, its stdout and stderr
//! kept line by line.
//!
//! Routes (`/2018-06-01/runtime/…`): `invocation/next` (long-polls until
//! [`RuntimeApi::invoke`] queues an event), `invocation/{id}/response`,
//! `invocation/{id}/error` and `init/error`.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// What a function answered to one event: its response, or the error it
/// posted (`errorType`, `errorMessage`).
pub type Outcome = Result<Value, Value>;

struct Invocation {
    id: String,
    event: Value,
}

#[derive(Default)]
struct Recorded {
    /// When each `/invocation/next` arrived.
    next_calls: Vec<Instant>,
    /// The bodies posted to `/init/error`, with their error-type header.
    init_errors: Vec<(String, Value)>,
}

#[derive(Clone)]
struct Api {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    recorded: Arc<Mutex<Recorded>>,
}

/// A Runtime API server; stopped when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::UnboundedSender<Invocation>,
    api: Api,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let api = Api {
            queue: Arc::new(tokio::sync::Mutex::new(rx)),
            waiting: Arc::default(),
            recorded: Arc::default(),
        };
        let routes = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s, p, b| answer(s, p, b, true)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s, p, b| answer(s, p, b, false)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Self {
            addr,
            queue,
            api,
            server,
        }
    }

    /// Hands `event` to the function's next `/invocation/next` and waits
    /// (up to `within`) for what it answers.
    pub async fn invoke(&self, event: Value, within: Duration) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.api.waiting.lock().unwrap().insert(id.clone(), tx);
        self.queue.send(Invocation { id, event }).unwrap();
        tokio::time::timeout(within, rx)
            .await
            .expect("the function answers the invocation")
            .expect("the answer is recorded")
    }

    /// The `/init/error` reports so far: (error-type header, body).
    pub fn init_errors(&self) -> Vec<(String, Value)> {
        self.api.recorded.lock().unwrap().init_errors.clone()
    }

    /// When the first `/invocation/next` arrived, if one has.
    pub fn first_next(&self) -> Option<Instant> {
        self.api
            .recorded
            .lock()
            .unwrap()
            .next_calls
            .first()
            .copied()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(api): State<Api>) -> Response {
    api.recorded.lock().unwrap().next_calls.push(Instant::now());
    let Some(invocation) = api.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    let headers = [
        ("lambda-runtime-aws-request-id", invocation.id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:test".into(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".into(),
        ),
        ("content-type", "application/json".into()),
    ];
    (headers, invocation.event.to_string()).into_response()
}

async fn answer(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
    ok: bool,
) -> impl IntoResponse {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = api.waiting.lock().unwrap().remove(&id) {
        let _ = tx.send(if ok { Ok(value) } else { Err(value) });
    }
    (StatusCode::ACCEPTED, Json(json!({ "status": "OK" })))
}

async fn init_error(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.recorded.lock().unwrap().init_errors.push((kind, body));
    (StatusCode::ACCEPTED, Json(json!({ "status": "OK" })))
}

/// A Lambda's binary running against a [`RuntimeApi`]; killed when dropped.
pub struct LambdaProcess {
    child: Child,
    pub started: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl LambdaProcess {
    /// Starts `binary` with only `env` (and `PATH`), JSON logs, and the
    /// Runtime API's address, as Lambda does.
    pub fn spawn(binary: &Path, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("NUMBERING_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("start the Lambda binary");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            started,
            lines,
        }
    }

    /// Everything it wrote so far, stdout and stderr, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Its output lines that are not JSON objects.
    pub fn non_json_lines(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| !serde_json::from_str::<Value>(l).is_ok_and(|v| v.is_object()))
            .collect()
    }

    /// The JSON log lines whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["message"] == message)
            .collect()
    }

    /// Waits up to `within` for it to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Still running?
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shipped binaries (`[[bin]]` names) of the six deployed functions.
pub const LAMBDAS: [&str; 6] = [
    "portal-api",
    "admin-api",
    "validate-lease",
    "import-s3",
    "lifecycle-sweeper",
    "export-scheduled",
];

/// An EventBridge scheduled event, as EventBridge sends it at `time`.
pub fn scheduled_event(rule: &str, time: &str) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time,
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:000000000000:rule/{rule}")],
        "detail": {}
    })
}

/// A Lambda Function URL request (payload format 2.0) for `POST path` with
/// a JSON body, signed with IAM as the deployment requires.
pub fn function_url_post(path: &str, body: &Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "x-amz-date": "20261126T071500Z"
        },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "abcdefghij",
            "authorizer": { "iam": {
                "accessKey": "AKIA0000000000000000", "accountId": "000000000000",
                "callerId": "AROA0000000000000000:sms-orchestrator", "cognitoIdentity": null,
                "principalOrgId": null, "userArn": "arn:aws:sts::000000000000:assumed-role/sms/sms-orchestrator",
                "userId": "AROA0000000000000000:sms-orchestrator"
            }},
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST", "path": path, "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.1", "userAgent": "sms-orchestrator"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:07:15:00 +0000",
            "timeEpoch": 1795677300000u64
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}
