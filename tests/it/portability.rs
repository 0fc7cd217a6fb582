//! Number portability (issue 20): ATRA's signed `atra-port-v1` files change
//! `Lookup`'s serving operator for their numbers only — through the real
//! relay, lease cache (moto DynamoDB), invalidation bus and gRPC service —,
//! a bad file changes nothing and says which line and why, and a client
//! built from the proto before portability still decodes `Lookup`.

use std::{sync::Arc, time::Duration};

use numbering_import::{PortImportError, PortImporter, PortUpload};
use numbering_outbox_relay::{LeaseCacheProjection, Relay};
use numbering_proto::numbering::v1::{LookupRequest, LookupResponse};
use numbering_store::portings::Ported;
use numbering_tests::{
    TestDb, TestNats, eventually,
    hot_path::{HostSetup, TestHost, TestMoto},
    imports::MnoKey,
    system_ctx,
};
use numbering_validate_lease::TierConfig;
use serde_json::Value;

const HEADER: &str = "msisdn,mcc,mnc,ported_at\n";

/// Three Roshan numbers (412/40) in inventory.
pub(crate) const NUMBERS: [&str; 3] = ["+93790000001", "+93790000002", "+93790000003"];

/// A test database with the three numbers and ATRA's key installed.
pub(crate) async fn atra() -> (TestDb, MnoKey) {
    let db = TestDb::new().await;
    db.inventory(&NUMBERS).await;
    let key = MnoKey::ed25519("atra-port-2026");
    key.install(&db, None).await;
    (db, key)
}

pub(crate) fn file(rows: &[&str]) -> Vec<u8> {
    let mut s = HEADER.to_owned();
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

pub(crate) async fn import(
    db: &TestDb,
    file: &[u8],
    sig: &[u8],
) -> Result<Ported, PortImportError> {
    PortImporter::new(db.store.clone(), Default::default())
        .import(
            &system_ctx(),
            PortUpload {
                file: file.to_vec(),
                signature: sig.to_vec(),
                file_name: Some("atra-port.csv".into()),
            },
        )
        .await
}

async fn lookup(host: &TestHost, identifier: &str) -> LookupResponse {
    host.client()
        .await
        .lookup(LookupRequest {
            identifier: identifier.into(),
        })
        .await
        .expect("lookup answers")
        .into_inner()
}

fn serving(l: &LookupResponse) -> (&str, &str, &str, &str, bool) {
    (
        l.operator_id.as_str(),
        l.operator_name.as_str(),
        l.mcc.as_str(),
        l.mnc.as_str(),
        l.ported,
    )
}

fn seconds(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// What the database holds that a porting could have changed.
async fn fingerprint(db: &TestDb) -> (i64, i64, i64, i64, i64) {
    (
        db.count("numbering.portings").await,
        db.count("numbering.porting_batches").await,
        db.count("numbering.numbers WHERE version <> 1").await,
        db.count("numbering.outbox").await,
        db.count("numbering.audit_log WHERE action <> 'porting_import.refused'")
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_portability_file_changes_lookups_serving_operator_for_its_numbers_only() {
    let (db, key) = atra().await;
    let nats = TestNats::start();
    let moto = TestMoto::start();
    let table = moto.tier(Duration::from_secs(30)).await;
    // a long in-process TTL: only the relay's invalidation can change an answer
    let tiers = TierConfig {
        local_ttl: Duration::from_secs(300),
        ..Default::default()
    };
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(table.clone()),
            tiers,
            nats: Some(nats.client().await),
            grpc_tls: None,
        },
    )
    .await;
    for n in NUMBERS {
        let before = lookup(&host, n).await;
        assert_eq!(serving(&before), ("roshan", "Roshan", "412", "40", false));
        assert_eq!(before.home_operator_id, "roshan");
        assert!(before.ported_at.is_none());
        // the lease cache and the in-process tier hold the number too
        let id = numbering_shared::Identifier::parse(n).unwrap();
        let snapshot = db.store.snapshot(&id).await.unwrap();
        host.reader.project(&id, snapshot).await.unwrap();
    }
    let relay = Relay::new(db.app.clone(), nats.client().await, crate::relay::fast())
        .with_projection_first(Arc::new(LeaseCacheProjection::standalone(
            db.store.clone(),
            table.clone(),
        )));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = tokio::spawn(relay.run(stopped));

    let ported = file(&[
        "0790000001,412,50,2026-12-01",
        "+93 79 000 0002,412,20,2026-12-02T08:30:00+04:30",
    ]);
    let batch = match import(&db, &ported, &key.sign(&ported)).await {
        Ok(Ported::Created(b)) => b,
        other => panic!("expected a new batch, got {other:?}"),
    };
    assert_eq!(batch.total_rows, 2);
    eventually(
        Duration::from_secs(60),
        "Lookup names the recipients",
        || {
            let host = &host;
            async move {
                lookup(host, NUMBERS[0]).await.operator_id == "etisalat-af"
                    && lookup(host, NUMBERS[1]).await.operator_id == "mtn-af"
            }
        },
    )
    .await;
    let one = lookup(&host, NUMBERS[0]).await;
    assert_eq!(
        serving(&one),
        ("etisalat-af", "Etisalat-AF", "412", "50", true)
    );
    assert_eq!(
        (
            one.home_operator_id.as_str(),
            one.home_mcc.as_str(),
            one.home_mnc.as_str()
        ),
        ("roshan", "412", "40")
    );
    assert_eq!(
        one.ported_at.as_ref().map(|t| t.seconds),
        Some(seconds("2026-12-01T00:00:00Z"))
    );
    let two = lookup(&host, NUMBERS[1]).await;
    assert_eq!(serving(&two), ("mtn-af", "MTN-AF", "412", "20", true));
    assert_eq!(
        two.ported_at.as_ref().map(|t| t.seconds),
        Some(seconds("2026-12-02T04:00:00Z"))
    );
    // the number not in the file: unchanged, still cached, still home
    let three = lookup(&host, NUMBERS[2]).await;
    assert_eq!(serving(&three), ("roshan", "Roshan", "412", "40", false));
    assert_eq!(
        db.count("numbering.numbers WHERE version = 1").await,
        1,
        "only the ported numbers changed"
    );
    // the lease cache moved forward for the ported numbers, to their new version
    let cached = table.get(NUMBERS[0]).await.unwrap().expect("cached");
    assert_eq!(cached.version, 2);
    assert_eq!(table.get(NUMBERS[2]).await.unwrap().unwrap().version, 1);
    // the JSON Lookup says the same
    let json: Value = reqwest::Client::new()
        .post(format!("{}/v1/lookup", host.url()))
        .json(&serde_json::json!({ "identifier": NUMBERS[0] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["operator_id"], "etisalat-af");
    assert_eq!(json["ported"], true);
    assert_eq!(json["home_operator_id"], "roshan");
    assert_eq!(
        seconds(json["ported_at"].as_str().unwrap()),
        seconds("2026-12-01T00:00:00Z")
    );
    assert_events_match_their_schema(&db).await;

    // ported back home: the port is cleared
    let home = file(&["+93790000001,412,40,2026-12-05"]);
    import(&db, &home, &key.sign(&home)).await.unwrap();
    eventually(
        Duration::from_secs(60),
        "Lookup names the home operator",
        || {
            let host = &host;
            async move { !lookup(host, NUMBERS[0]).await.ported }
        },
    )
    .await;
    let back = lookup(&host, NUMBERS[0]).await;
    assert_eq!(serving(&back), ("roshan", "Roshan", "412", "40", false));
    assert!(back.ported_at.is_none());
    assert_eq!(db.count("numbering.portings").await, 1);
    let _ = stop.send(true);
    let _ = relay.await;
    host.stop().await;
}

async fn assert_events_match_their_schema(db: &TestDb) {
    use numbering_tests::schema::{event_schema, violations};
    let payloads: Vec<Value> = sqlx::query_scalar(
        "SELECT payload::jsonb FROM numbering.outbox WHERE event_type = 'number.ported.v1' ORDER BY id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(payloads.len(), 2);
    let schema = event_schema("number.ported.v1").expect("a schema");
    for p in &payloads {
        assert_eq!(violations(&schema, p), Vec::<String>::new(), "{p}");
    }
    assert_eq!(payloads[0]["version"], 2);
    assert_eq!(payloads[0]["operator_id"], "etisalat-af");
    let audit = db
        .count("numbering.audit_log WHERE action = 'number.ported' AND subject = '+93790000001'")
        .await;
    assert_eq!(audit, 1);
}

/// One bad file: how it is refused (code, and the first refused line with
/// a word of its reason).
struct Bad {
    name: &'static str,
    file: Vec<u8>,
    sig: Option<Vec<u8>>,
    code: &'static str,
    line: Option<(u64, &'static str)>,
}

#[tokio::test]
async fn a_bad_portability_file_changes_nothing_and_says_which_line_and_why() {
    let (db, key) = atra().await;
    let roshan_key = MnoKey::ed25519("roshan-2026");
    roshan_key.install(&db, Some("roshan")).await;
    let good = file(&["+93790000001,412,50,2026-12-01"]);
    let mut truncated = file(&[
        "+93790000001,412,50,2026-12-01",
        "+93790000002,412,20,2026-12-01",
    ]);
    truncated.truncate(truncated.len() - 16);
    let cases = [
        Bad {
            name: "signed by another key than the one it names",
            file: good.clone(),
            sig: Some(key.sig_file(&key.key_id, &roshan_key.raw_signature(&good))),
            code: "SIGNATURE_INVALID",
            line: None,
        },
        Bad {
            name: "signed by an operator, not ATRA",
            file: good.clone(),
            sig: Some(roshan_key.sign(&good)),
            code: "KEY_NOT_FOR_FILE",
            line: None,
        },
        Bad {
            name: "truncated in its last row",
            file: truncated,
            sig: None,
            code: "PORTING_REJECTED",
            line: Some((3, "malformed row")),
        },
        Bad {
            name: "an unknown operator",
            file: file(&[
                "+93790000001,412,50,2026-12-01",
                "+93790000002,412,99,2026-12-01",
            ]),
            sig: None,
            code: "PORTING_REJECTED",
            line: Some((3, "unknown operator")),
        },
        Bad {
            name: "a malformed MSISDN",
            file: file(&["+93790000001,412,50,2026-12-01", "+9312,412,50,2026-12-01"]),
            sig: None,
            code: "PORTING_REJECTED",
            line: Some((3, "invalid MSISDN")),
        },
        Bad {
            name: "a duplicate line",
            file: file(&[
                "+93790000001,412,50,2026-12-01",
                "0790000001,412,20,2026-12-01",
            ]),
            sig: None,
            code: "PORTING_REJECTED",
            line: Some((3, "duplicate")),
        },
        Bad {
            name: "a number not in inventory",
            file: file(&[
                "+93790000001,412,50,2026-12-01",
                "+93799999999,412,50,2026-12-01",
            ]),
            sig: None,
            code: "PORTING_REJECTED",
            line: Some((3, "not in inventory")),
        },
        Bad {
            name: "a lease file",
            file: b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,false\n".to_vec(),
            sig: None,
            code: "MALFORMED_FILE",
            line: Some((1, "the header must be")),
        },
    ];
    let before = fingerprint(&db).await;
    for bad in &cases {
        let sig = bad.sig.clone().unwrap_or_else(|| key.sign(&bad.file));
        let e = import(&db, &bad.file, &sig).await.expect_err(bad.name);
        assert_eq!(e.code(), bad.code, "{}: {e}", bad.name);
        match (&e, bad.line) {
            (PortImportError::Rejected { rows, .. }, Some((line, reason))) => {
                assert_eq!(rows.len(), 1, "{}: {rows:?}", bad.name);
                assert_eq!(u64::from(rows[0].line), line, "{}", bad.name);
                assert!(rows[0].reason.starts_with(reason), "{}: {rows:?}", bad.name);
            }
            (e, Some((line, detail))) => {
                assert_eq!(numbering_import::portability::refused_line(e), Some(line));
                assert!(e.to_string().contains(detail), "{}: {e}", bad.name);
            }
            (_, None) => {}
        }
        assert_eq!(
            fingerprint(&db).await,
            before,
            "{} changed something",
            bad.name
        );
    }
    // each refusal is on the audit trail, with its code
    let refusals: Vec<Value> = sqlx::query_scalar(
        "SELECT after::jsonb FROM numbering.audit_log WHERE action = 'porting_import.refused' ORDER BY id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let codes: Vec<&str> = refusals
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, cases.iter().map(|c| c.code).collect::<Vec<_>>());
    // and the good file still applies afterwards
    import(&db, &good, &key.sign(&good)).await.unwrap();
    assert_eq!(db.count("numbering.portings").await, 1);
}

/// `numbering.v1.LookupRequest` / `LookupResponse` as prost-build generates
/// them from tests/fixtures/proto/numbering-v1-before-portability.proto: a
/// client built before portability (fields 1-6 only).
mod before {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LookupRequest {
        #[prost(string, tag = "1")]
        pub identifier: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LookupResponse {
        #[prost(string, tag = "1")]
        pub kind: String,
        #[prost(string, tag = "2")]
        pub state: String,
        #[prost(string, tag = "3")]
        pub operator_id: String,
        #[prost(string, tag = "4")]
        pub operator_name: String,
        #[prost(string, tag = "5")]
        pub mcc: String,
        #[prost(string, tag = "6")]
        pub mnc: String,
    }
}

/// The field lines of `message <name> { … }` in a .proto file.
fn fields_of(proto: &str, name: &str) -> Vec<String> {
    let start = proto
        .find(&format!("message {name} {{"))
        .unwrap_or_else(|| panic!("message {name}"));
    let body = &proto[start..];
    body[..body.find('}').unwrap()]
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_built_from_the_proto_before_portability_still_decodes_lookup() {
    // the contract: every field of the old messages is still there, unchanged
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let old = std::fs::read_to_string(
        root.join("tests/fixtures/proto/numbering-v1-before-portability.proto"),
    )
    .unwrap();
    let new = std::fs::read_to_string(root.join("proto/numbering/v1/numbering.proto")).unwrap();
    for message in ["LookupRequest", "LookupResponse"] {
        let now = fields_of(&new, message);
        for field in fields_of(&old, message) {
            assert!(
                now.contains(&field),
                "{message}: `{field}` changed or is gone"
            );
        }
    }
    assert_eq!(fields_of(&old, "LookupResponse").len(), 6);

    // a ported number, served by a current server over real gRPC
    let (db, key) = atra().await;
    let ported = file(&["+93790000001,412,50,2026-12-01"]);
    import(&db, &ported, &key.sign(&ported)).await.unwrap();
    let host = TestHost::start(db.store.clone(), HostSetup::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(host.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let mut old_lookup = async |identifier: &str| {
        grpc.ready().await.unwrap();
        grpc.unary(
            tonic::Request::new(before::LookupRequest {
                identifier: identifier.into(),
            }),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/numbering.v1.NumberingService/Lookup",
            ),
            tonic_prost::ProstCodec::<before::LookupRequest, before::LookupResponse>::default(),
        )
        .await
        .expect("the old client decodes the answer")
        .into_inner()
    };
    let one = old_lookup(NUMBERS[0]).await;
    assert_eq!(
        one,
        before::LookupResponse {
            kind: "MSISDN".into(),
            state: "AVAILABLE".into(),
            operator_id: "etisalat-af".into(),
            operator_name: "Etisalat-AF".into(),
            mcc: "412".into(),
            mnc: "50".into(),
        },
        "an old client routes a ported number to its serving operator"
    );
    let two = old_lookup(NUMBERS[1]).await;
    assert_eq!(
        (two.operator_id.as_str(), two.mcc.as_str(), two.mnc.as_str()),
        ("roshan", "412", "40")
    );
    // and the new client sees what the old one skipped
    let new = lookup(&host, NUMBERS[0]).await;
    assert!(new.ported);
    assert_eq!(new.home_operator_id, "roshan");
    host.stop().await;
}

/// `POST /v1/admin/numbering/porting-imports` with `file` and `signature`.
async fn upload(
    app: &numbering_tests::app::TestApp,
    file: &[u8],
    sig: &[u8],
) -> numbering_tests::app::Answer {
    let boundary = "numbering-port-5e1a";
    let mut body = Vec::new();
    for (name, bytes) in [("file", file), ("signature", sig)] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let r = app
        .client
        .post(app.url("/v1/admin/numbering/porting-imports"))
        .bearer_auth(numbering_tests::app::admin_token())
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

#[tokio::test]
async fn the_admin_upload_applies_a_good_file_once_and_refuses_a_bad_one_with_its_lines() {
    let app = numbering_tests::app::TestApp::new().await;
    app.db.inventory(&NUMBERS).await;
    let key = MnoKey::ed25519("atra-port-2026");
    key.install(&app.db, None).await;
    let bad = file(&[
        "+93790000001,412,50,2026-12-01",
        "+93790000002,412,99,2026-12-01",
        "+93790000002,412,50,2026-12-01",
    ]);
    let refused = upload(&app, &bad, &key.sign(&bad)).await;
    assert_eq!(refused.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.code(), "PORTING_REJECTED");
    let lines: Vec<(u64, String)> = refused.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.starts_with("unknown operator"), "{lines:?}");
    assert!(lines[1].1.starts_with("duplicate"), "{lines:?}");
    assert_eq!(app.db.count("numbering.portings").await, 0);

    let tampered = upload(
        &app,
        b"msisdn,mcc,mnc,ported_at\n+93790000001,412,20,2026-12-01\n",
        &key.sign(&bad),
    )
    .await;
    assert_eq!(tampered.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(tampered.code(), "SIGNATURE_INVALID");

    let good = file(&["+93790000001,412,50,2026-12-01"]);
    let created = upload(&app, &good, &key.sign(&good)).await;
    assert_eq!(
        created.status,
        reqwest::StatusCode::CREATED,
        "{:?}",
        created.json
    );
    assert_eq!(created.json["total_rows"], 1);
    assert_eq!(created.json["already_imported"], false);
    let again = upload(&app, &good, &key.sign(&good)).await;
    assert_eq!(again.status, reqwest::StatusCode::OK);
    assert_eq!(again.json["id"], created.json["id"]);
    assert_eq!(app.db.count("numbering.portings").await, 1);
    assert_eq!(
        app.db
            .count("numbering.outbox WHERE event_type = 'number.ported.v1'")
            .await,
        1
    );
    let lookup = app
        .db
        .store
        .lookup(&numbering_shared::Identifier::parse(NUMBERS[0]).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (lookup.operator_id.as_deref(), lookup.ported),
        (Some("etisalat-af"), true)
    );
}
