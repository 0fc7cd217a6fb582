//! The REST contract: /openapi.json is OpenAPI 3.1 and lists exactly the
//! routes the routers serve; every route answers bad tokens and bad input
//! with a 4xx problem+json, never a 5xx; and a seeded fuzzer walking the
//! document finds no 5xx either.

use std::collections::BTreeSet;

use jsonwebtoken::{EncodingKey, Header, encode};
use numbering_tests::app::{Answer, TestApp, admin_token, claims, sign, sign_with, tenant_token};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Operation {
    method: Method,
    path: String,
    op: Value,
}

async fn operations(app: &TestApp) -> (Value, Vec<Operation>) {
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push(Operation {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                op: op.clone(),
            });
        }
    }
    (doc, ops)
}

fn token_for(path: &str) -> String {
    if path.starts_with("/v1/admin") {
        admin_token()
    } else {
        tenant_token("acme")
    }
}

fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&encode_segment(value));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~+".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn assert_client_problem(a: &Answer, what: &str) {
    assert!(
        a.status.is_client_error(),
        "{what}: expected a 4xx, got {} {:?}",
        a.status,
        String::from_utf8_lossy(&a.bytes)
    );
    assert!(
        a.is_problem(),
        "{what}: not problem+json: {:?} {:?}",
        a.headers,
        a.json
    );
}

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&[u8]>,
    ctype: &str,
) -> Answer {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(b) = body {
        req = req.header("content-type", ctype).body(b.to_vec());
    }
    numbering_tests::app::answer(req.send().await.unwrap()).await
}

/// A tenant with a reservation, a lease and a quarantined number, so that
/// generated requests meet real rows too.
async fn seeded() -> (TestApp, Vec<String>) {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    app.db
        .inventory(&[
            "+93791234567",
            "+93791234568",
            "+93791234569",
            "4455",
            "AcmeBank",
        ])
        .await;
    let t = tenant_token("acme");
    let r = app
        .post(
            &t,
            "/v1/portal/numbering/reservations",
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    let r2 = app
        .post(
            &t,
            "/v1/portal/numbering/reservations",
            json!({ "identifier": "+93791234568" }),
        )
        .await;
    let l = app
        .post(
            &t,
            "/v1/portal/numbering/leases",
            json!({ "reservation_id": r2.str("id") }),
        )
        .await;
    let ids = vec![
        r.str("id"),
        l.str("id"),
        "+93791234567".into(),
        "+93791234568".into(),
        "+93791234569".into(),
        "acme".into(),
        "roshan".into(),
    ];
    (app, ids)
}

#[tokio::test]
async fn openapi_json_is_openapi_3_1_and_lists_exactly_the_served_routes() {
    let app = TestApp::new().await;
    let (doc, ops) = operations(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut ids = BTreeSet::new();
    for o in &ops {
        let responses = o.op["responses"].as_object().expect("responses");
        assert!(
            !responses.is_empty(),
            "{} {} has no responses",
            o.method,
            o.path
        );
        for (status, r) in responses {
            // a shared problem response is a reference to components.responses
            let r = match r["$ref"].as_str() {
                Some(to) => &doc["components"]["responses"][to.rsplit('/').next().unwrap()],
                None => r,
            };
            assert!(
                status.parse::<u16>().is_ok() && r["description"].is_string(),
                "{} {}",
                o.method,
                o.path
            );
        }
        assert!(
            ids.insert(o.op["operationId"].as_str().unwrap().to_owned()),
            "duplicate operationId"
        );
        // every templated path parameter is declared
        for seg in o.path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                o.op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{} {}: {name} undeclared",
                o.method,
                o.path
            );
        }
        if matches!(
            o.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) {
            assert!(
                o.op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key")
            );
        }
    }
    assert_eq!(doc["components"]["schemas"]["Problem"]["type"], "object");

    let documented: BTreeSet<(String, String)> = ops
        .iter()
        .map(|o| (o.method.to_string(), o.path.clone()))
        .collect();
    let served: BTreeSet<(String, String)> = numbering_portal_api::served_routes()
        .into_iter()
        .chain(numbering_admin_api::served_routes())
        .map(|(m, p)| (m.to_uppercase(), p.to_owned()))
        .collect();
    assert_eq!(documented, served);
    // and each is really routed (not the catch-all 404, not a 405)
    for (m, p) in &served {
        let path = fill(p, "probe");
        let a = raw(&app, m.parse().unwrap(), &path, &token_for(p), None, "").await;
        assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
        assert_ne!(a.json["detail"], "route not found", "{m} {p}");
    }
    let unknown = raw(
        &app,
        Method::GET,
        "/v1/portal/numbering/nothing-here",
        &tenant_token("acme"),
        None,
        "",
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.is_problem());
    let docs = app
        .client
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        docs.contains("/openapi.json") && !docs.contains("https://"),
        "docs page must work offline"
    );
}

#[tokio::test]
async fn every_route_refuses_missing_expired_foreign_forged_and_unsigned_tokens_with_401() {
    let app = TestApp::new().await;
    let (_, ops) = operations(&app).await;
    let mut expired = claims(Some("acme"), "tenant_pool_admin");
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut wrong_aud = claims(Some("acme"), "tenant_pool_admin");
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = claims(Some("acme"), "tenant_pool_admin");
    wrong_iss["iss"] = json!("evil");
    let mut not_yet = claims(Some("acme"), "tenant_pool_admin");
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 3600);
    let good = claims(Some("acme"), "tenant_pool_admin");
    let forged = sign_with(&good, "another-secret-entirely-000000000000");
    // alg: none — header {"alg":"none"}, no signature
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&good)
    );
    // HS512 with the right secret: an algorithm we do not accept
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &good,
        &EncodingKey::from_secret(b"x"),
    )
    .unwrap();
    let bad = [
        ("expired", sign(&expired)),
        ("wrong audience", sign(&wrong_aud)),
        ("wrong issuer", sign(&wrong_iss)),
        ("not yet valid", sign(&not_yet)),
        ("wrongly signed", forged),
        ("alg none", none),
        ("hs512", hs512),
        ("garbage", "not.a.jwt".into()),
    ];
    for o in &ops {
        let path = fill(&o.path, "x");
        let a = app
            .call(o.method.clone(), &path, None, Some("k"), None)
            .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "no token: {} {}",
            o.method,
            o.path
        );
        assert!(a.is_problem());
        for (what, token) in &bad {
            let a = app
                .call(o.method.clone(), &path, Some(token), Some("k"), None)
                .await;
            assert_eq!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{what}: {} {}",
                o.method,
                o.path
            );
            assert!(a.is_problem(), "{what}");
        }
    }
}

#[tokio::test]
async fn every_route_answers_malformed_json_wrong_types_and_unknown_or_malformed_ids_with_a_4xx_problem()
 {
    let (app, _) = seeded().await;
    let (_, ops) = operations(&app).await;
    let unknown = [
        uuid::Uuid::new_v4().to_string(),
        "+93799999999".into(),
        "nobody".into(),
        "9999".into(),
    ];
    let malformed = [
        "not an id!",
        "+93",
        "%",
        "'; DROP TABLE numbers; --",
        "😀",
        &"9".repeat(300),
    ];
    for o in &ops {
        let token = token_for(&o.path);
        let has_params = o.path.contains('{');
        // JSON bodies (the multipart import upload has a limit and checks of its own)
        let has_body = o.op["requestBody"]["content"]
            .get("application/json")
            .is_some();
        if has_params {
            for id in unknown
                .iter()
                .map(String::as_str)
                .chain(malformed.iter().copied())
            {
                let path = fill(&o.path, id);
                let body: &[u8] = if has_body { b"{}" } else { b"" };
                let a = raw(
                    &app,
                    o.method.clone(),
                    &path,
                    &token,
                    has_body.then_some(body),
                    "application/json",
                )
                .await;
                assert_client_problem(&a, &format!("{} {path}", o.method));
            }
        }
        if has_body {
            let path = fill(&o.path, "+93791234569");
            for body in [
                &b"{\"a\":"[..],
                b"not json",
                b"[]",
                b"\"s\"",
                b"42",
                b"null",
                b"{\"identifier\": 5}",
                b"{\"reservation_id\": true}",
                b"{\"auto_renew\": \"yes\"}",
                b"{\"justification\": [1]}",
                b"{\"quotas\": {\"MSISDN\": -1}}",
                b"{\"unknown_field\": 1}",
            ] {
                let a = raw(
                    &app,
                    o.method.clone(),
                    &path,
                    &token,
                    Some(body),
                    "application/json",
                )
                .await;
                assert_client_problem(
                    &a,
                    &format!("{} {path} {}", o.method, String::from_utf8_lossy(body)),
                );
            }
            let a = raw(
                &app,
                o.method.clone(),
                &path,
                &token,
                Some(b"{}"),
                "text/plain",
            )
            .await;
            assert_client_problem(&a, "wrong content type");
            let big = vec![b' '; 70 * 1024];
            let a = raw(
                &app,
                o.method.clone(),
                &path,
                &token,
                Some(&big),
                "application/json",
            )
            .await;
            assert_eq!(
                a.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{} {path}",
                o.method
            );
            assert!(a.is_problem());
        }
        for q in o.op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
        {
            let name = q["name"].as_str().unwrap();
            let path = format!("{}?{name}=%FF%FE-bad-{{}}", fill(&o.path, "x"));
            let a = raw(&app, o.method.clone(), &path, &token, None, "").await;
            assert!(a.status.as_u16() < 500, "{path}: {}", a.status);
        }
    }
}

fn random_string(rng: &mut StdRng) -> String {
    let choices = [
        "",
        "+93791234567",
        "+93791234569",
        "4455",
        "AcmeBank",
        "acme",
        "roshan",
        "MSISDN",
        "SHORT_CODE",
        "ALPHA",
        "RESERVED",
        "ACTIVE",
        "ed25519",
        "2026-01-01",
        "true",
        "0",
        "-1",
        "null",
        "💥",
        "%",
        "a very long justification that is surely longer than twenty characters",
    ];
    if rng.random_bool(0.7) {
        (*choices.choose(rng).unwrap()).to_owned()
    } else {
        let len = rng.random_range(0..40);
        (0..len)
            .map(|_| rng.random_range(0x20u8..0x7f) as char)
            .collect()
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random_range(-5i64..1_000_000_000_000)),
        3 => json!(rng.random::<f64>()),
        4 => json!(random_string(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..3))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(random_string(rng), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// A value for `schema`, mostly valid, sometimes not.
fn from_schema(rng: &mut StdRng, schema: &Value, ids: &[String]) -> Value {
    if rng.random_bool(0.1) {
        return random_value(rng, 0);
    }
    if let Some(e) = schema["enum"].as_array() {
        return e.choose(rng).cloned().unwrap_or(Value::Null);
    }
    let ty = match &schema["type"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .choose(rng)
            .and_then(Value::as_str)
            .unwrap_or("null")
            .to_owned(),
        _ => "object".into(),
    };
    match ty.as_str() {
        "object" => {
            let mut m = serde_json::Map::new();
            if let Some(props) = schema["properties"].as_object() {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (k, s) in props {
                    if required.contains(&k.as_str()) || rng.random_bool(0.5) {
                        m.insert(k.clone(), from_schema(rng, s, ids));
                    }
                }
            }
            Value::Object(m)
        }
        "array" => Value::Array(
            (0..rng.random_range(0..3))
                .map(|_| from_schema(rng, &schema["items"], ids))
                .collect(),
        ),
        "string" => {
            if rng.random_bool(0.5) {
                json!(ids.choose(rng).unwrap())
            } else {
                json!(random_string(rng))
            }
        }
        "integer" => json!(rng.random_range(-2i64..200)),
        "boolean" => json!(rng.random_bool(0.5)),
        "null" => Value::Null,
        _ => random_value(rng, 0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_fuzzer_walking_openapi_json_never_gets_a_5xx() {
    let (app, ids) = seeded().await;
    let (_, ops) = operations(&app).await;
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261126u64);
    let mut rng = StdRng::seed_from_u64(seed);
    for o in &ops {
        let token = token_for(&o.path);
        for _ in 0..25 {
            let id = if rng.random_bool(0.6) {
                ids.choose(&mut rng).unwrap().clone()
            } else {
                random_string(&mut rng)
            };
            let mut path = fill(&o.path, &id);
            let mut query = Vec::new();
            for p in o.op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "query")
            {
                if rng.random_bool(0.4) {
                    let v = match from_schema(&mut rng, &p["schema"], &ids) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    query.push(format!(
                        "{}={}",
                        p["name"].as_str().unwrap(),
                        encode_segment(&v)
                    ));
                }
            }
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            let body = o.op["requestBody"]["content"]["application/json"]["schema"].clone();
            let body = (!body.is_null())
                .then(|| from_schema(&mut rng, &body, &ids).to_string().into_bytes());
            let a = raw(
                &app,
                o.method.clone(),
                &path,
                &token,
                body.as_deref(),
                "application/json",
            )
            .await;
            // readiness is evaluated by the host only: the routers alone
            // answer its documented 503, which is no fault of the service
            let not_configured = a.code() == "READINESS_NOT_CONFIGURED";
            assert!(
                a.status.as_u16() < 500 || not_configured,
                "seed {seed}: {} {path} {:?} → {} {:?}",
                o.method,
                body.map(|b| String::from_utf8_lossy(&b).into_owned()),
                a.status,
                a.json
            );
            if a.status.is_client_error() {
                assert!(a.is_problem(), "{} {path}: {:?}", o.method, a.json);
            }
        }
    }
}

/// The REST routers exactly as the host mounts them: no test-only
/// fallback on top (the host keeps tonic's).
async fn as_the_host_mounts_them() -> (numbering_tests::TestDb, String, tokio::task::JoinHandle<()>)
{
    let db = numbering_tests::TestDb::new().await;
    let app = numbering::serve::rest_router(db.store.clone(), numbering_tests::app::edge());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (db, base, server)
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_a_405_problem_with_allow_on_both_apis_as_the_host_mounts_them()
 {
    let (_db, base, server) = as_the_host_mounts_them().await;
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut paths: Vec<(String, BTreeSet<String>)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            (p.clone(), methods)
        })
        .collect();
    paths.push(("/openapi.json".into(), BTreeSet::from(["GET".to_owned()])));
    let (mut portal, mut admin) = (0, 0);
    for (path, served) in &paths {
        let url = format!("{base}{}", fill(path, "probe"));
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if served.contains(method) {
                continue;
            }
            let r = http
                .request(method.parse().unwrap(), &url)
                .bearer_auth(token_for(path))
                .send()
                .await
                .unwrap();
            let a = numbering_tests::app::answer(r).await;
            assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                a.is_problem(),
                "{method} {path}: {:?} {:?}",
                a.headers,
                a.bytes
            );
            assert_eq!(a.code(), "METHOD_NOT_ALLOWED", "{method} {path}");
            let allow: BTreeSet<String> = a
                .headers
                .get("allow")
                .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| m != "HEAD")
                .collect();
            assert_eq!(&allow, served, "{method} {path}: Allow");
            if path.starts_with("/v1/portal") {
                portal += 1;
            } else if path.starts_with("/v1/admin") {
                admin += 1;
            }
        }
    }
    assert!(portal > 0 && admin > 0, "both APIs were asked");
    server.abort();
}

#[tokio::test]
async fn an_over_long_request_target_or_header_section_is_a_414_or_431_problem() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    let token = tenant_token("acme");
    let long = format!(
        "/v1/portal/numbering/available?prefix={}",
        "9".repeat(numbering_http_edge::limits::MAX_URI_BYTES)
    );
    let a = raw(&app, Method::GET, &long, &token, None, "").await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::URI_TOO_LONG, "URI_TOO_LONG"),
        "{:?}",
        a.json
    );
    assert!(a.is_problem());

    let many = (0..numbering_http_edge::limits::MAX_HEADER_FIELDS)
        .fold(
            app.client.get(app.url("/v1/portal/numbering/pool")),
            |r, i| r.header(format!("x-pad-{i}"), "1"),
        )
        .bearer_auth(&token);
    let big = app
        .client
        .get(app.url("/v1/admin/numbering/operators"))
        .bearer_auth(admin_token())
        .header(
            "x-pad",
            "p".repeat(numbering_http_edge::limits::MAX_HEADER_BYTES),
        );
    for req in [many, big] {
        let a = numbering_tests::app::answer(req.send().await.unwrap()).await;
        assert_eq!(
            (a.status, a.code()),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "HEADERS_TOO_LARGE"
            ),
            "{:?}",
            a.json
        );
        assert!(a.is_problem());
    }
    // just under the limits: answered as usual
    let fine = format!("/v1/portal/numbering/available?prefix={}", "9".repeat(32));
    assert_eq!(
        raw(&app, Method::GET, &fine, &token, None, "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn openapi_json_documents_every_status_the_edge_answers_and_the_request_id_header() {
    let app = TestApp::new().await;
    let (doc, ops) = operations(&app).await;
    let problem = |status: &str, o: &Operation| {
        let r = &o.op["responses"][status];
        assert!(!r.is_null(), "{} {} documents {status}", o.method, o.path);
        let name = r["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
        let r = &doc["components"]["responses"][name];
        assert_eq!(
            r["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem",
            "{status}"
        );
        assert_eq!(
            r["headers"]["X-Request-Id"]["$ref"],
            "#/components/headers/RequestId"
        );
    };
    for o in &ops {
        for status in ["400", "401", "403", "414", "429", "431", "500", "503"] {
            problem(status, o);
        }
        let params = o.op["parameters"].as_array().unwrap();
        if params.iter().any(|p| p["in"] == "query") {
            // limit=0, a wrong type: 422 VALIDATION_FAILED
            problem("422", o);
        }
        if params.iter().any(|p| p["in"] == "path") {
            problem("404", o);
        }
        assert!(
            params
                .iter()
                .any(|p| p["$ref"] == "#/components/parameters/RequestId"),
            "{} {} takes X-Request-Id",
            o.method,
            o.path
        );
        let success = o.op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap()
            .1;
        assert_eq!(
            success["headers"]["X-Request-Id"]["$ref"],
            "#/components/headers/RequestId"
        );
    }
    let p = &doc["components"]["parameters"]["RequestId"];
    assert_eq!(
        (p["name"].as_str(), p["in"].as_str()),
        (Some("X-Request-Id"), Some("header"))
    );
    assert_eq!(p["schema"]["maxLength"], 128);
    // the answer the issue saw undocumented
    let a = app
        .get(&tenant_token("acme"), "/v1/portal/numbering/leases?limit=0")
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
}
