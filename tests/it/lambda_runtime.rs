//! Each Lambda runs as AWS runs it: its shipped binary (the `[[bin]]`
//! `cargo lambda build` packs as `bootstrap`; here its native debug build,
//! which `./dev test` makes) started against a Lambda Runtime API on
//! loopback, given only its environment, sent its real event type: API
//! Gateway v2 HTTP for the portal and admin, a Function URL request for
//! validate-lease, an S3 `ObjectCreated` notification for the import,
//! EventBridge scheduled events for the sweeper and the export. Its logs
//! are JSON lines; a misconfiguration is an init error, not a panic.

use std::time::Duration;

use numbering_tests::{
    TestDb,
    app::{AUDIENCE, ISSUER, SECRET, admin_token, tenant_token},
    hot_path::TestMoto,
    imports::{MnoKey, roshan_file},
    lambda_runtime::{LAMBDAS, LambdaProcess, RuntimeApi, function_url_post, scheduled_event},
    lease_all, workspace_bin,
};
use serde_json::{Value, json};

use crate::clients::{FakeRegistry, serve_registry};

const WITHIN: Duration = Duration::from_secs(120);

/// A Lambda on its own Runtime API, with `DATABASE_URL` and `env`.
async fn start(bin: &str, db: &TestDb, env: &[(&str, String)]) -> (RuntimeApi, LambdaProcess) {
    let api = RuntimeApi::start().await;
    let mut vars = vec![("DATABASE_URL", db.owner_url.clone())];
    vars.extend_from_slice(env);
    let lambda = LambdaProcess::spawn(&workspace_bin(bin), &api, &vars);
    (api, lambda)
}

fn edge_env() -> Vec<(&'static str, String)> {
    vec![
        ("NUMBERING_JWT_HS256_SECRET", SECRET.into()),
        ("NUMBERING_JWT_ISSUER", ISSUER.into()),
        ("NUMBERING_JWT_AUDIENCE", AUDIENCE.into()),
    ]
}

/// An API Gateway v2 event fixture with `token` in it.
fn apigw_event(name: &str, token: &str) -> Value {
    let path = format!("{}/fixtures/apigw-v2/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("{{TOKEN}}", token);
    serde_json::from_str(&text).unwrap()
}

/// The HTTP answer inside a Lambda proxy response: status, headers, JSON body.
fn http_answer(response: &Value) -> (u64, Value, Value) {
    let body = response["body"].as_str().unwrap_or_default();
    (
        response["statusCode"].as_u64().unwrap_or_default(),
        response["headers"].clone(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// Its output is JSON lines only, and it logged its database connection.
fn assert_json_logs(lambda: &LambdaProcess) {
    assert_eq!(lambda.non_json_lines(), Vec::<String>::new());
    assert!(
        !lambda.logged("connected to Postgres").is_empty(),
        "{:#?}",
        lambda.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lambda_without_database_url_reports_an_init_error_and_exits_without_a_panic() {
    for bin in LAMBDAS {
        let api = RuntimeApi::start().await;
        let mut lambda = LambdaProcess::spawn(&workspace_bin(bin), &api, &[]);
        let status = tokio::task::block_in_place(|| lambda.wait_exit(WITHIN))
            .unwrap_or_else(|| panic!("{bin} exits after a failed init"));
        assert!(!status.success(), "{bin}: {status}");
        let reported = api.init_errors();
        assert_eq!(reported.len(), 1, "{bin}: one init error: {reported:?}");
        let (kind, body) = &reported[0];
        assert_eq!(kind, "Runtime.InitError", "{bin}");
        assert_eq!(body["errorMessage"], "DATABASE_URL is not set", "{bin}");
        let lines = lambda.lines();
        assert!(
            !lines.iter().any(|l| l.contains("panicked")),
            "{bin}: {lines:#?}"
        );
        assert_eq!(lambda.non_json_lines(), Vec::<String>::new(), "{bin}");
        assert!(api.first_next().is_none(), "{bin} never asks for an event");
    }
}

/// A portal `POST path` event with `body`, built on the reserve fixture.
fn portal_post(token: &str, path: &str, body: Value, idempotency_key: &str) -> Value {
    let mut event = apigw_event("portal-reserve.json", token);
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["headers"]["idempotency-key"] = json!(idempotency_key);
    event["body"] = json!(body.to_string());
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_lambda_answers_api_gateway_v2_events_as_configured_and_logs_json_lines() {
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["+93791234567", "+93797770001", "ACME-BANK"])
        .await;
    let registry = FakeRegistry::default();
    registry
        .verified
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut env = edge_env();
    env.extend([
        (
            "NUMBERING_SENDER_ID_REGISTRY_URL",
            serve_registry(registry).await,
        ),
        // four requests, then the bucket is empty for the rest of the test
        ("NUMBERING_PORTAL_RATE_LIMIT", "0.001".into()),
        ("NUMBERING_PORTAL_RATE_BURST", "4".into()),
    ]);
    let (api, lambda) = start("portal-api", &db, &env).await;
    let t = tenant_token("acme");
    let call = async |event: Value| http_answer(&api.invoke(event, WITHIN).await.unwrap());

    let (status, headers, body) = call(apigw_event("portal-available.json", &t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["identifier"], "+93797770001");
    assert!(headers["x-request-id"].is_string(), "{headers}");
    let (status, _, body) = call(apigw_event("portal-reserve.json", &t)).await;
    assert_eq!(
        (status, body["identifier"].as_str()),
        (201, Some("+93791234567"))
    );

    // an ALPHA assign asks the registry Terraform names
    let reserve = json!({ "identifier": "ACME-BANK" });
    let reservations = "/v1/portal/numbering/reservations";
    let (status, _, reserved) = call(portal_post(&t, reservations, reserve, "alpha-1")).await;
    assert_eq!(status, 201, "{reserved}");
    let assign = json!({ "reservation_id": reserved["id"], "auto_renew": true });
    let (status, _, lease) = call(portal_post(
        &t,
        "/v1/portal/numbering/leases",
        assign,
        "alpha-2",
    ))
    .await;
    assert_eq!(
        (status, lease["identifier"].as_str()),
        (201, Some("ACME-BANK")),
        "{lease}"
    );

    // the configured rate limit, not a built-in one
    let (status, _, body) = call(apigw_event("portal-available.json", &t)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("RATE_LIMITED")),
        "{body}"
    );

    // The access line is written as the response leaves, which may be a
    // moment after the Runtime API has it: wait for the fifth, then check
    // that there are exactly five.
    let access_lines = || -> Vec<Value> {
        lambda
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["target"] == "access")
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while access_lines().len() < 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_json_logs(&lambda);
    let access = access_lines();
    assert_eq!(access.len(), 5, "one access line per request: {access:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_lambda_answers_a_malformed_api_gateway_v2_event_with_a_problem() {
    let db = TestDb::new().await;
    let (api, lambda) = start("admin-api", &db, &edge_env()).await;
    let response = api
        .invoke(apigw_event("admin-malformed.json", &admin_token()), WITHIN)
        .await;
    let (status, headers, body) = http_answer(&response.unwrap());
    assert_eq!(status, 400, "{body}");
    let ctype = headers["content-type"].as_str().unwrap_or_default();
    assert!(ctype.starts_with("application/problem+json"), "{headers}");
    assert_eq!(body["code"], "MALFORMED_JSON");
    assert_json_logs(&lambda);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validate_lease_lambda_answers_function_url_requests() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db.inventory(&["+93790000001", "+93790000002"]).await;
    lease_all(&db, &acme, &ids[..1]).await;
    let (api, lambda) = start("validate-lease", &db, &[]).await;
    for (identifier, allowed) in [("+93790000001", true), ("+93790000002", false)] {
        let request = json!({ "identifier": identifier, "tenant_id": "acme" });
        let response = api
            .invoke(function_url_post("/v1/validate-lease", &request), WITHIN)
            .await;
        let (status, _, body) = http_answer(&response.unwrap());
        assert_eq!(
            (status, body["allowed"].as_bool()),
            (200, Some(allowed)),
            "{body}"
        );
    }
    assert_json_logs(&lambda);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_lambda_imports_the_file_an_s3_object_created_notification_names() {
    let moto = TestMoto::start();
    let s3 = moto.s3().await;
    let db = TestDb::new().await;
    let key = MnoKey::ed25519("roshan-2026");
    key.install(&db, Some("roshan")).await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/s3/object-created.json"
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap();
    let object = "incoming/roshan 2026-11.csv";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let file = roshan_file(0, 300, "ROSHAN-2026-001");
    for (name, bytes) in [
        (format!("{object}.sig"), key.sign(&file)),
        (object.into(), file),
    ] {
        let put = s3.put_object().bucket(bucket).key(name).body(bytes.into());
        put.send().await.unwrap();
    }
    let aws = [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ];
    let (api, lambda) = start("import-s3", &db, &aws).await;
    let handled = api.invoke(event, WITHIN).await.unwrap();
    assert_eq!(handled[0]["outcome"], "imported", "{handled}");
    assert_eq!(handled[0]["import"]["status"], "APPLIED", "{handled}");
    assert_eq!(db.count("numbering.numbers").await, 300);
    assert_json_logs(&lambda);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_lambda_sweeps_once_per_eventbridge_scheduled_event() {
    let db = TestDb::new().await;
    // `-`: no SET ROLE (the login acts as itself), as in the host
    let env = [("NUMBERING_DB_ROLE", "-".to_owned())];
    let (api, lambda) = start("lifecycle-sweeper", &db, &env).await;
    let event = scheduled_event("numbering-lifecycle-sweeper", "2026-11-26T07:15:00Z");
    let report = api.invoke(event, WITHIN).await.unwrap();
    assert_eq!(report["ran"], true, "{report}");
    assert_eq!(report["leases_expired"], 0, "{report}");
    assert_json_logs(&lambda);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_lambda_exports_the_month_before_its_eventbridge_scheduled_event_once() {
    let db = TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("numbering-export-{}", uuid::Uuid::new_v4()));
    let env = [
        (
            "NUMBERING_EXPORT_STORE",
            dir.join("store").display().to_string(),
        ),
        (
            "NUMBERING_EXPORT_SIGNING_KEY",
            dir.join("key.pem").display().to_string(),
        ),
    ];
    let (api, lambda) = start("export-scheduled", &db, &env).await;
    let event = scheduled_event("numbering-export-scheduled", "2026-11-01T01:00:00Z");
    let first = api.invoke(event.clone(), WITHIN).await.unwrap();
    assert_eq!(
        (&first["generated"], &first["period"]),
        (&json!(true), &json!("2026-10")),
        "{first}"
    );
    let again = api.invoke(event, WITHIN).await.unwrap();
    assert_eq!(again["generated"], false, "{again}");
    assert_json_logs(&lambda);
    drop(lambda);
    let _ = std::fs::remove_dir_all(&dir);
}
