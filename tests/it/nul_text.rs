//! The NUL character, which Postgres text cannot store, is refused where
//! text comes in: by the REST extractors (400 `INVALID_TEXT` naming the
//! field, for every string of every operation of /openapi.json) and by the
//! import's CSV reader (a refused row with its line); a forged page cursor
//! is a 400 whatever it decodes to. None of it is ever a 500.

use std::sync::Arc;

use numbering_import::{Importer, Limits, Quiet, Upload};
use numbering_store::imports::Imported;
use numbering_tests::{
    TestDb,
    app::{Answer, TestApp, admin_token, tenant_token},
    imports::{MSISDN_HEADER, MnoKey},
    system_ctx,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn token_for(path: &str) -> String {
    if path.starts_with("/v1/admin") {
        admin_token()
    } else {
        tenant_token("acme")
    }
}

async fn send(app: &TestApp, method: &Method, path: &str, body: Option<&Value>) -> Answer {
    let mut req = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token_for(path))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    if let Some(b) = body {
        req = req.json(b);
    }
    numbering_tests::app::answer(req.send().await.unwrap()).await
}

fn is_string(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) => t == "string",
        Value::Array(ts) => ts.iter().any(|t| t == "string"),
        _ => false,
    }
}

/// Every string in a body of `schema`, as the body that holds NUL there
/// and nothing else (the edge refuses it before looking at the rest),
/// with the field's name.
fn nul_bodies(
    schema: &Value,
    at: &str,
    wrap: &dyn Fn(Value) -> Value,
    out: &mut Vec<(String, Value)>,
) {
    if is_string(schema) {
        out.push((at.to_owned(), wrap(json!("a\u{0}b"))));
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            let k = k.clone();
            nul_bodies(s, &here, &|v| wrap(json!({ k.clone(): v })), out);
        }
    }
    if schema["type"] == "array" {
        nul_bodies(
            &schema["items"],
            &format!("{at}[0]"),
            &|v| wrap(json!([v])),
            out,
        );
    }
}

/// A form of one text part.
async fn multipart(app: &TestApp, method: &Method, path: &str, name: &str, bytes: &[u8]) -> Answer {
    use std::io::Write;
    let boundary = "numbering-test-nul";
    let mut body = Vec::new();
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(bytes);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    let r = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(token_for(path))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    numbering_tests::app::answer(r).await
}

fn fill(path: &str, params: &[(String, String)]) -> String {
    let mut out = path.to_owned();
    for (name, value) in params {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_any_string_of_any_operation_of_openapi_json_is_a_400_problem_naming_the_field() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    let mut refused = |what: String, a: Answer, field: &str| {
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {:?}", a.json);
        assert!(a.is_problem(), "{what}: {:?}", a.headers);
        assert_eq!(a.code(), "INVALID_TEXT", "{what}: {:?}", a.json);
        assert_eq!(a.json["field"], field, "{what}");
        checked += 1;
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let params = op["parameters"].as_array().unwrap();
            let named = |p: &Value| p["name"].as_str().map(str::to_owned);
            let path_params: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(named)
                .collect();
            let probe: Vec<(String, String)> = path_params
                .iter()
                .map(|n| (n.clone(), "probe".to_owned()))
                .collect();
            let json_body = op["requestBody"]["content"].get("application/json");
            let skeleton = json_body.map(|_| json!({}));
            // each path parameter
            for name in &path_params {
                let with_nul: Vec<(String, String)> = probe
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.clone(),
                            if n == name { "a%00b".into() } else { v.clone() },
                        )
                    })
                    .collect();
                let url = fill(path, &with_nul);
                let a = send(&app, &method, &url, skeleton.as_ref()).await;
                refused(format!("{method} {url}"), a, name);
            }
            // each query parameter (all are text on the wire)
            for p in params.iter().filter(|p| p["in"] == "query") {
                let name = p["name"].as_str().unwrap();
                let url = format!("{}?{name}=a%00b", fill(path, &probe));
                let a = send(&app, &method, &url, skeleton.as_ref()).await;
                refused(format!("{method} {url}"), a, name);
            }
            // each string of a JSON body, however deep
            if let Some(media) = json_body {
                let mut bodies = Vec::new();
                nul_bodies(&media["schema"], "", &|v| v, &mut bodies);
                let url = fill(path, &probe);
                for (field, body) in bodies {
                    let a = send(&app, &method, &url, Some(&body)).await;
                    refused(format!("{method} {url} {body}"), a, &field);
                }
            }
            // the multipart upload's text part, where its form has one (a
            // NUL in a part's header, such as its file name, is malformed
            // HTTP: refused by the parser)
            let form = &op["requestBody"]["content"]["multipart/form-data"]["schema"];
            if form["properties"].get("partial").is_some() {
                let a = multipart(&app, &method, &fill(path, &probe), "partial", b"true\0").await;
                refused(format!("{method} {path} multipart partial"), a, "partial");
            }
        }
    }
    assert!(checked > 60, "only {checked} strings checked");
}

#[tokio::test]
async fn the_reported_nul_inputs_are_400_problems_and_nothing_is_written() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    let admin = admin_token();
    let before = app.db.count("numbering.audit_log").await;
    for (method, path, body) in [
        (Method::GET, "/v1/admin/numbering/audit?subject=%00", None),
        (Method::GET, "/v1/admin/numbering/audit?tenant_id=%00", None),
        (
            Method::PUT,
            "/v1/admin/numbering/pools/acme",
            Some(
                json!({ "display_name": "A\u{0}", "quotas": { "MSISDN": 1, "SHORT_CODE": 1, "ALPHA": 1 } }),
            ),
        ),
        (
            Method::PUT,
            "/v1/admin/numbering/pools/acme",
            Some(
                json!({ "segment": "\u{0}", "quotas": { "MSISDN": 1, "SHORT_CODE": 1, "ALPHA": 1 } }),
            ),
        ),
        (
            Method::PUT,
            "/v1/admin/numbering/operators/roshan",
            Some(json!({ "name": "Rosh\u{0}an", "mcc": "412", "mnc_codes": ["40"] })),
        ),
        (
            Method::POST,
            "/v1/admin/numbering/contracts",
            Some(
                json!({ "contract_ref": "C\u{0}", "operator_id": "roshan", "kind": "MSISDN",
                         "range_start": "+93790000000", "range_end": "+93790000099", "starts_on": "2026-01-01" }),
            ),
        ),
    ] {
        let mut req = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&admin)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        if let Some(b) = &body {
            req = req.json(b);
        }
        let a = numbering_tests::app::answer(req.send().await.unwrap()).await;
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::BAD_REQUEST, "INVALID_TEXT"),
            "{method} {path}: {:?}",
            a.json
        );
    }
    assert_eq!(
        app.db.count("numbering.audit_log").await,
        before,
        "nothing audited"
    );
}

#[tokio::test]
async fn a_forged_page_cursor_is_a_400_whatever_it_decodes_to() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567", "+93791234568"]).await;
    let tenant = tenant_token("acme");
    let admin = admin_token();
    // AAAA decodes to three NULs; the others to text that is no identity key
    for cursor in ["AAAA", "_w", "YWJj", "Kzkz", "%25%25", "AcmeBank"] {
        for (token, path) in [
            (&tenant, "/v1/portal/numbering/available"),
            (&admin, "/v1/admin/numbering/numbers"),
            (&admin, "/v1/admin/numbering/imports"),
        ] {
            let a = app.get(token, &format!("{path}?cursor={cursor}")).await;
            assert_eq!(
                (a.status, a.code()),
                (StatusCode::BAD_REQUEST, "INVALID_CURSOR"),
                "{path}?cursor={cursor}: {:?}",
                a.json
            );
            assert_eq!(a.json["field"], "cursor");
        }
    }
    // a cursor the API returned still pages on
    let first = app
        .get(&tenant, "/v1/portal/numbering/available?limit=1")
        .await;
    let next = first.str("next_cursor");
    let second = app
        .get(
            &tenant,
            &format!("/v1/portal/numbering/available?limit=1&cursor={next}"),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.json);
    assert_eq!(second.json["items"][0]["identifier"], "+93791234568");
}

#[tokio::test]
async fn a_nul_in_a_field_of_a_signed_import_refuses_that_row_with_its_line() {
    let db = TestDb::new().await;
    let key = MnoKey::ed25519("roshan-2026");
    key.install(&db, Some("roshan")).await;
    let file = format!(
        "{MSISDN_HEADER}+93790000001,412,40,ROSHAN-2026-001,false\n\
         +93790000002,412,40,ROSHAN-2026-001\u{0},false\n\
         +93790000003,412\u{0},40,ROSHAN-2026-001,false\n\
         +93790000004,412,40,ROSHAN-2026-001,\"fal\u{0}se\"\n"
    )
    .into_bytes();
    let imported = Importer::new(db.store.clone(), Limits::default())
        .import(
            &system_ctx(),
            Upload {
                file: file.clone(),
                signature: key.sign(&file),
                file_name: Some("nul.csv".into()),
                partial: true,
            },
            Arc::new(Quiet),
        )
        .await;
    let batch = match imported {
        Ok(Imported::Created(b)) => b,
        other => panic!("expected a new batch, got {other:?}"),
    };
    assert_eq!(
        (
            batch.status.as_str(),
            batch.applied_rows,
            batch.rejected_rows
        ),
        ("PARTIAL", 1, 3)
    );
    let errors: Vec<(u64, String, String)> = db
        .store
        .import_errors(batch.id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
                e["raw"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (
                3,
                "malformed row: contract_ref contains the NUL character (U+0000)".to_owned(),
                "+93790000002,412,40,ROSHAN-2026-001\u{2400},false".to_owned()
            ),
            (
                4,
                "malformed row: mcc contains the NUL character (U+0000)".to_owned(),
                "+93790000003,412\u{2400},40,ROSHAN-2026-001,false".to_owned()
            ),
            (
                5,
                "malformed row: vanity contains the NUL character (U+0000)".to_owned(),
                "+93790000004,412,40,ROSHAN-2026-001,\"fal\u{2400}se\"".to_owned()
            ),
        ]
    );
}
