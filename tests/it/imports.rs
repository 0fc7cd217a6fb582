//! Signed MNO / ATRA lease imports through all three triggers: the pipeline
//! itself, the admin upload, an S3 `ObjectCreated` event against moto's S3,
//! and the `numbering import` command.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use numbering_import::{
    DetachedSignature, ImportError, Importer, Limits, Quiet, Upload, file,
    s3::{Handled, S3Trigger},
};
use numbering_store::imports::Imported;
use numbering_tests::{
    TestDb,
    app::{TestApp, admin_token, answer},
    hot_path::TestMoto,
    imports::{MSISDN_HEADER, MnoKey, roshan_file},
    system_ctx,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ROSHAN: &str = "ROSHAN-2026-001";

/// A test database with Roshan's Ed25519 key installed.
async fn roshan() -> (TestDb, MnoKey) {
    let db = TestDb::new().await;
    let key = MnoKey::ed25519("roshan-2026");
    key.install(&db, Some("roshan")).await;
    (db, key)
}

async fn import(
    db: &TestDb,
    file: &[u8],
    sig: &[u8],
    partial: bool,
) -> Result<Imported, ImportError> {
    Importer::new(db.store.clone(), Limits::default())
        .import(
            &system_ctx(),
            Upload {
                file: file.to_vec(),
                signature: sig.to_vec(),
                file_name: Some("test.csv".into()),
                partial,
            },
            Arc::new(Quiet),
        )
        .await
}

fn created(r: Result<Imported, ImportError>) -> numbering_store::imports::ImportBatch {
    match r {
        Ok(Imported::Created(b)) => b,
        other => panic!("expected a new batch, got {other:?}"),
    }
}

fn refused(r: Result<Imported, ImportError>, code: &str) {
    match r {
        Err(e) => assert_eq!(e.code(), code, "{e}"),
        Ok(i) => panic!("expected {code}, got {i:?}"),
    }
}

async fn errors_of(db: &TestDb, id: uuid::Uuid) -> Vec<(u32, String)> {
    db.store
        .import_errors(id, 0, 500)
        .await
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap() as u32,
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_signed_10000_row_file_imports_and_the_same_file_again_changes_nothing() {
    let (db, key) = roshan().await;
    let file = roshan_file(0, 10_000, ROSHAN);
    let sig = key.sign(&file);
    let b = created(import(&db, &file, &sig, false).await);
    assert_eq!(
        (
            b.status.as_str(),
            b.total_rows,
            b.applied_rows,
            b.rejected_rows
        ),
        ("APPLIED", 10_000, 10_000, 0)
    );
    assert_eq!(
        db.count(
            "numbering.numbers n JOIN numbering.lease_contracts c ON c.id = n.contract_id \
             WHERE n.state = 'AVAILABLE' AND n.kind = 'MSISDN' AND n.operator_id = 'roshan' \
               AND n.mcc = '412' AND n.mnc = '40' AND n.tenant_id IS NULL AND n.version = 1 \
               AND c.contract_ref = 'ROSHAN-2026-001'"
        )
        .await,
        10_000
    );
    // one audit entry for the batch, with the counts and the file's hash
    let audit: Vec<Value> = sqlx::query_scalar(
        "SELECT after::jsonb FROM numbering.audit_log WHERE action = 'lease_import.completed'",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["file_sha256"], hex::encode(Sha256::digest(&file)));
    assert_eq!(audit[0]["applied_rows"], 10_000);
    assert_eq!(audit[0]["status"], "APPLIED");
    let event: Value = sqlx::query_scalar(
        "SELECT payload::jsonb FROM numbering.outbox \
         WHERE event_type = 'numbering.import.completed.v1' AND stream = 'NUMBERING_OPS'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(event["import_id"], b.id.to_string());
    assert_eq!(event["total_rows"], 10_000);

    let again = import(&db, &file, &sig, false).await.unwrap();
    let Imported::Existing(same) = again else {
        panic!("the same file again must return the first batch: {again:?}")
    };
    assert_eq!(same.id, b.id);
    assert_eq!(db.count("numbering.numbers").await, 10_000);
    assert_eq!(db.count("numbering.lease_imports").await, 1);
    assert_eq!(db.count("numbering.audit_log").await, 1);
    assert_eq!(db.count("numbering.outbox").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_uploads_of_one_file_make_one_batch() {
    let (db, key) = roshan().await;
    let file = roshan_file(0, 2_000, ROSHAN);
    let sig = key.sign(&file);
    let (a, b) = tokio::join!(
        import(&db, &file, &sig, false),
        import(&db, &file, &sig, false)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.batch().id, b.batch().id);
    assert_eq!(
        [&a, &b]
            .iter()
            .filter(|i| matches!(i, Imported::Created(_)))
            .count(),
        1
    );
    assert_eq!(db.count("numbering.numbers").await, 2_000);
    assert_eq!(db.count("numbering.lease_imports").await, 1);
}

#[tokio::test]
async fn a_flipped_byte_a_forged_or_foreign_signature_a_revoked_and_an_expired_key_are_refused_with_nothing_applied()
 {
    let (db, key) = roshan().await;
    let file = roshan_file(0, 100, ROSHAN);

    let mut flipped = file.clone();
    flipped[60] ^= 0x01;
    refused(
        import(&db, &flipped, &key.sign(&file), false).await,
        "SIGNATURE_INVALID",
    );

    // Etisalat's key, passing itself off as Roshan's
    let etisalat = MnoKey::ed25519("etisalat-2026");
    etisalat.install(&db, Some("etisalat-af")).await;
    let forged = etisalat.sig_file("roshan-2026", &etisalat.raw_signature(&file));
    refused(
        import(&db, &file, &forged, false).await,
        "SIGNATURE_INVALID",
    );

    let revoked = MnoKey::ed25519("roshan-revoked");
    revoked
        .install_with(
            &db,
            Some("roshan"),
            "now() - interval '30 days'",
            "NULL",
            true,
        )
        .await;
    refused(
        import(&db, &file, &revoked.sign(&file), false).await,
        "KEY_REVOKED",
    );

    let expired = MnoKey::ed25519("roshan-expired");
    expired
        .install_with(
            &db,
            Some("roshan"),
            "now() - interval '400 days'",
            "now() - interval '1 day'",
            false,
        )
        .await;
    refused(
        import(&db, &file, &expired.sign(&file), false).await,
        "KEY_EXPIRED",
    );

    let future = MnoKey::ed25519("roshan-next");
    future
        .install_with(
            &db,
            Some("roshan"),
            "now() + interval '1 day'",
            "NULL",
            false,
        )
        .await;
    refused(
        import(&db, &file, &future.sign(&file), false).await,
        "KEY_NOT_YET_VALID",
    );

    let stranger = MnoKey::ed25519("nobody-knows-me");
    refused(
        import(&db, &file, &stranger.sign(&file), false).await,
        "UNKNOWN_KEY",
    );

    let p256 = MnoKey::p256("roshan-2026"); // claims ECDSA for an Ed25519 key
    refused(
        import(&db, &file, &p256.sign(&file), false).await,
        "ALGORITHM_MISMATCH",
    );
    refused(
        import(&db, &file, b"{\"key_id\": 1}", false).await,
        "MALFORMED_SIGNATURE",
    );

    assert_eq!(db.count("numbering.numbers").await, 0);
    // refused as a whole: no batch (the same bytes may still be imported
    // with a good signature), but each refusal is in the audit trail
    assert_eq!(db.count("numbering.lease_imports").await, 0);
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'lease_import.refused'")
            .await,
        8
    );
    // and the genuine signature still imports the file
    let b = created(import(&db, &file, &key.sign(&file), false).await);
    assert_eq!(b.applied_rows, 100);
}

#[tokio::test]
async fn another_operators_genuinely_signed_file_of_roshans_numbers_is_rejected_whole() {
    let (db, _) = roshan().await;
    let etisalat = MnoKey::ed25519("etisalat-2026");
    etisalat.install(&db, Some("etisalat-af")).await;
    let file = roshan_file(0, 10, ROSHAN);
    let b = created(import(&db, &file, &etisalat.sign(&file), false).await);
    assert_eq!(
        (b.status.as_str(), b.applied_rows, b.rejected_rows),
        ("REJECTED", 0, 10)
    );
    let errors = errors_of(&db, b.id).await;
    assert!(
        errors.iter().all(|(_, r)| r.starts_with("wrong MNC")),
        "{errors:?}"
    );
    assert_eq!(db.count("numbering.numbers").await, 0);
}

/// Lines 2, 4 and 10 are good; 3 malformed, 5 a repeat of 2, 6 outside the
/// contract, 7 the wrong MNC, 8 another operator's contract, 9 already in
/// inventory.
fn mixed_file(line_end: &str) -> Vec<u8> {
    [
        MSISDN_HEADER.trim_end(),
        "+93790000001,412,40,ROSHAN-2026-001,false",
        "+93790000002,412,40,ROSHAN-2026-001",
        "+93790000003,412,40,ROSHAN-2026-001,false",
        "+93790000001,412,40,ROSHAN-2026-001,false",
        "+93790100000,412,40,ROSHAN-2026-001,false",
        "+93790000004,412,41,ROSHAN-2026-001,false",
        "+93790000005,412,40,ETISALAT-2026-001,false",
        "+93790000006,412,40,ROSHAN-2026-001,false",
        "+93790000007,412,40,ROSHAN-2026-001,true",
    ]
    .join(line_end)
    .into_bytes()
    .into_iter()
    .chain(line_end.bytes())
    .collect()
}

const MIXED_REFUSED: [(u32, &str); 6] = [
    (3, "malformed row"),
    (5, "duplicate"),
    (6, "out of contract"),
    (7, "wrong MNC"),
    (8, "unknown contract"),
    (9, "already in inventory"),
];

fn reasons(errors: &[(u32, String)]) -> Vec<(u32, String)> {
    errors
        .iter()
        .map(|(l, r)| (*l, r.split(':').next().unwrap().to_owned()))
        .collect()
}

fn expected_reasons() -> Vec<(u32, String)> {
    MIXED_REFUSED
        .iter()
        .map(|(l, r)| (*l, (*r).to_owned()))
        .collect()
}

#[tokio::test]
async fn bad_rows_reject_the_whole_file_by_default_and_partial_mode_applies_exactly_the_good_rows()
{
    let (db, key) = roshan().await;
    db.inventory(&["+93790000006"]).await;

    let file = mixed_file("\n");
    let b = created(import(&db, &file, &key.sign(&file), false).await);
    assert_eq!(
        (
            b.status.as_str(),
            b.total_rows,
            b.applied_rows,
            b.rejected_rows
        ),
        ("REJECTED", 9, 0, 6)
    );
    let errors = errors_of(&db, b.id).await;
    assert_eq!(reasons(&errors), expected_reasons());
    assert!(errors[1].1.contains("line 2"), "{errors:?}");
    let raw: String = sqlx::query_scalar(
        "SELECT raw FROM numbering.lease_import_errors WHERE import_id = $1 AND line = 6",
    )
    .bind(b.id)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(raw, "+93790100000,412,40,ROSHAN-2026-001,false");
    assert_eq!(db.count("numbering.numbers").await, 1, "nothing applied");

    // the same rows, re-signed (CRLF this time), in partial mode
    let file = mixed_file("\r\n");
    let b = created(import(&db, &file, &key.sign(&file), true).await);
    assert_eq!(
        (
            b.status.as_str(),
            b.total_rows,
            b.applied_rows,
            b.rejected_rows
        ),
        ("PARTIAL", 9, 3, 6)
    );
    assert_eq!(reasons(&errors_of(&db, b.id).await), expected_reasons());
    let imported: Vec<String> = sqlx::query_scalar(
        "SELECT identifier FROM numbering.numbers WHERE contract_id IS NOT NULL ORDER BY identifier",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(imported, ["+93790000001", "+93790000003", "+93790000007"]);
    assert_eq!(db.count("numbering.numbers").await, 4);
}

#[tokio::test]
async fn hostile_files_are_refused_with_a_clear_error_and_nothing_half_applied() {
    let (db, key) = roshan().await;
    let good_rows = "+93790000001,412,40,ROSHAN-2026-001,false\n";
    let ten_mb_line = format!(
        "{MSISDN_HEADER}{good_rows}+93790000002,412,40,{},false\n",
        "R".repeat(10 << 20)
    );
    let wide = format!(
        "{MSISDN_HEADER}{good_rows}{}\n",
        vec!["1"; 100_000].join(",")
    );
    let mut invalid_utf8 = format!("{MSISDN_HEADER}{good_rows}").into_bytes();
    invalid_utf8.extend_from_slice(b"+93790000002,412,40,ROSHAN-\xc3\x28,false\n");
    let cases: Vec<(&str, Vec<u8>, &str, Option<u64>)> = vec![
        ("empty", Vec::new(), "EMPTY_FILE", None),
        (
            "header only",
            MSISDN_HEADER.as_bytes().to_vec(),
            "NO_DATA_ROWS",
            None,
        ),
        (
            "a 10 MB line",
            ten_mb_line.into_bytes(),
            "RECORD_TOO_LONG",
            Some(3),
        ),
        (
            "100,000 columns",
            wide.into_bytes(),
            "TOO_MANY_COLUMNS",
            Some(3),
        ),
        ("invalid UTF-8", invalid_utf8, "INVALID_UTF8", Some(3)),
        (
            "not our header",
            b"phone;operator\n1;2\n".to_vec(),
            "MALFORMED_FILE",
            Some(1),
        ),
    ];
    for (what, bytes, code, line) in cases {
        match import(&db, &bytes, &key.sign(&bytes), false).await {
            Err(ImportError::File(e)) => {
                assert_eq!(e.code(), code, "{what}: {e}");
                assert_eq!(e.line(), line, "{what}: {e}");
            }
            other => panic!("{what}: expected {code}, got {other:?}"),
        }
    }
    assert_eq!(db.count("numbering.numbers").await, 0);
    assert_eq!(db.count("numbering.lease_imports").await, 0);

    // tolerated: a BOM, CRLF line ends, quoted fields with commas in them
    sqlx::query(
        "INSERT INTO numbering.lease_contracts (contract_ref, operator_id, kind, range_start, range_end, starts_on) \
         VALUES ('ROSHAN,2026 \"Q4\"', 'roshan', 'MSISDN', '+93790100000', '+93790199999', '2026-06-01')",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let friendly = b"\xEF\xBB\xBFmsisdn,mcc,mnc,contract_ref,vanity\r\n\
        \"+93790100001\",412,40,\"ROSHAN,2026 \"\"Q4\"\"\",false\r\n\
        +93790100002,\"412\",\"40\",\"ROSHAN,2026 \"\"Q4\"\"\",\"true\"\r\n";
    let b = created(import(&db, friendly, &key.sign(friendly), false).await);
    assert_eq!((b.status.as_str(), b.applied_rows), ("APPLIED", 2));
    assert_eq!(db.count("numbering.numbers").await, 2);
}

#[tokio::test]
async fn an_ecdsa_p256_signed_file_and_an_atra_short_code_file_import() {
    let db = TestDb::new().await;
    let roshan = MnoKey::p256("roshan-p256");
    roshan.install(&db, Some("roshan")).await;
    let file = roshan_file(500, 25, ROSHAN);
    let b = created(import(&db, &file, &roshan.sign(&file), false).await);
    assert_eq!((b.status.as_str(), b.applied_rows), ("APPLIED", 25));

    let atra = MnoKey::ed25519("atra-2026");
    atra.install(&db, None).await;
    let codes = b"short_code,contract_ref\n4455,ATRA-SC-2026-001\n4456,ATRA-SC-2026-001\n9999,ATRA-SC-2026-001\n";
    let b = created(import(&db, codes, &atra.sign(codes), false).await);
    assert_eq!(
        (b.status.as_str(), b.applied_rows),
        ("APPLIED", 3),
        "{:?}",
        errors_of(&db, b.id).await
    );
    assert_eq!(
        db.count(
            "numbering.numbers WHERE kind = 'SHORT_CODE' AND operator_id IS NULL AND mcc IS NULL AND state = 'AVAILABLE'"
        )
        .await,
        3
    );
    // 777 is outside ATRA-SC-2026-001 (1000–9999): a three-digit code compares by length
    let codes = b"short_code,contract_ref\n4457,ATRA-SC-2026-001\n778,ATRA-SC-2026-001\n";
    let b = created(import(&db, codes, &atra.sign(codes), false).await);
    assert_eq!(
        reasons(&errors_of(&db, b.id).await),
        vec![(3, "out of contract".to_owned())]
    );

    // each key signs only its own kind of file
    let file = roshan_file(600, 5, ROSHAN);
    refused(
        import(&db, &file, &atra.sign(&file), false).await,
        "KEY_NOT_FOR_FILE",
    );
    let codes = b"short_code,contract_ref\n5000,ATRA-SC-2026-001\n";
    refused(
        import(&db, codes, &roshan.sign(codes), false).await,
        "KEY_NOT_FOR_FILE",
    );
}

/// The checked-in corpus of seed and hostile inputs: each `.csv` named
/// `<expected code>-…` or `ok-…`, each `.sig` `ok-…` or `bad-…`.
#[test]
fn the_checked_in_corpus_parses_as_its_names_say() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/import-corpus");
    let roshan = file::OperatorCodes {
        operator_id: "roshan".into(),
        mcc: "412".into(),
        mnc_codes: vec!["40".into()],
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let expected = name.split('-').next().unwrap();
        if name.ends_with(".csv") {
            let got = match file::parse(&bytes, &Limits::default(), Some(&roshan), &mut |_| {}) {
                Ok(p) => {
                    assert_eq!(
                        p.rows.len() + p.rejected.len(),
                        p.total_rows as usize,
                        "{name}"
                    );
                    "ok"
                }
                Err(e) => e.code(),
            };
            let want = if expected == "ok" { "ok" } else { expected };
            assert_eq!(got, want, "{name}");
        } else if name.ends_with(".sig") {
            let ok = DetachedSignature::parse(&bytes).is_ok();
            assert_eq!(ok, expected == "ok", "{name}");
        }
        seen += 1;
    }
    assert!(seen >= 15, "the corpus is missing ({seen} files)");
}

// ----- the admin upload --------------------------------------------------

async fn upload(
    app: &TestApp,
    file: &[u8],
    sig: &[u8],
    partial: bool,
) -> numbering_tests::app::Answer {
    use std::io::Write;
    let boundary = "numbering-test-7d3f0c";
    let mut body = Vec::new();
    let mut part = |name: &str, filename: Option<&str>, bytes: &[u8]| {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\""
        )
        .unwrap();
        if let Some(f) = filename {
            write!(body, "; filename=\"{f}\"").unwrap();
        }
        body.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part("file", Some("roshan-2026-11.csv"), file);
    part("signature", Some("roshan-2026-11.csv.sig"), sig);
    if partial {
        part("partial", None, b"true");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    let r = app
        .client
        .post(app.url("/v1/admin/numbering/imports"))
        .bearer_auth(admin_token())
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    answer(r).await
}

#[tokio::test]
async fn the_admin_api_installs_keys_takes_uploads_and_lists_batches_and_their_refused_lines() {
    let app = TestApp::single_admin().await;
    let token = admin_token();
    let key = MnoKey::p256("roshan-p256");
    let install = |algorithm: &'static str, pem: String| json!({ "key_id": "roshan-p256", "operator_id": "roshan", "algorithm": algorithm, "public_key_pem": pem });
    let wrong_alg = app
        .post(
            &token,
            "/v1/admin/numbering/signing-keys",
            install("ed25519", key.public_pem()),
        )
        .await;
    assert_eq!(wrong_alg.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_alg.json["field"], "public_key_pem");
    let garbage = app
        .post(
            &token,
            "/v1/admin/numbering/signing-keys",
            install(
                "ecdsa-p256-sha256",
                "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n".into(),
            ),
        )
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app
        .post(
            &token,
            "/v1/admin/numbering/signing-keys",
            install("ecdsa-p256-sha256", key.public_pem()),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.json);

    let file = roshan_file(1000, 50, ROSHAN);
    let a = upload(&app, &file, &key.sign(&file), false).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json);
    assert_eq!(a.json["status"], "APPLIED");
    assert_eq!(a.json["applied_rows"], 50);
    let id = a.str("id");
    assert_eq!(
        a.headers["location"],
        format!("/v1/admin/numbering/imports/{id}").as_str()
    );
    let again = upload(&app, &file, &key.sign(&file), false).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.str("id"), id);
    assert_eq!(again.json["already_imported"], true);
    assert_eq!(app.db.count("numbering.numbers").await, 50);

    // a file with refused rows: 422, recorded, nothing applied, lines listed
    app.db.inventory(&["+93790000006"]).await;
    let mixed = mixed_file("\n");
    let r = upload(&app, &mixed, &key.sign(&mixed), false).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.code(), "IMPORT_REJECTED");
    assert!(r.is_problem());
    let rejected_id = r.json["import"]["id"].as_str().unwrap().to_owned();
    let errors = app
        .get(
            &token,
            &format!("/v1/admin/numbering/imports/{rejected_id}/errors"),
        )
        .await;
    assert_eq!(errors.status, StatusCode::OK);
    let listed: Vec<(u32, String)> = errors.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap() as u32,
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons(&listed), expected_reasons());
    let page = app
        .get(
            &token,
            &format!("/v1/admin/numbering/imports/{rejected_id}/errors?limit=4"),
        )
        .await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 4);
    let rest = app
        .get(
            &token,
            &format!(
                "/v1/admin/numbering/imports/{rejected_id}/errors?cursor={}",
                page.str("next_cursor")
            ),
        )
        .await;
    assert_eq!(rest.json["items"][0]["line"], 8);
    assert_eq!(app.db.count("numbering.numbers").await, 51);

    // partial mode over REST
    let mixed = mixed_file("\r\n");
    let p = upload(&app, &mixed, &key.sign(&mixed), true).await;
    assert_eq!(p.status, StatusCode::CREATED);
    assert_eq!(p.json["status"], "PARTIAL");
    assert_eq!(p.json["applied_rows"], 3);

    // refused as a whole
    let mut flipped = file.clone();
    flipped[40] ^= 0x20;
    let f = upload(&app, &flipped, &key.sign(&file), false).await;
    assert_eq!(f.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(f.code(), "SIGNATURE_INVALID");
    let wide = format!("{MSISDN_HEADER}{}\n", vec!["1"; 100_000].join(","));
    let w = upload(&app, wide.as_bytes(), &key.sign(wide.as_bytes()), false).await;
    assert_eq!(
        (w.status, w.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "TOO_MANY_COLUMNS")
    );
    assert_eq!(w.json["line"], 2);
    let not_form = app
        .post(
            &token,
            "/v1/admin/numbering/imports",
            json!({ "file": "x" }),
        )
        .await;
    assert_eq!(not_form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(not_form.is_problem());

    let list = app.get(&token, "/v1/admin/numbering/imports").await;
    let ids: Vec<&str> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&id.as_str()) && ids.contains(&rejected_id.as_str()));
    let one = app
        .get(&token, &format!("/v1/admin/numbering/imports/{id}"))
        .await;
    assert_eq!(one.json["file_sha256"], hex::encode(Sha256::digest(&file)));
    let missing = app
        .get(
            &token,
            &format!("/v1/admin/numbering/imports/{}", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

// ----- the bucket trigger --------------------------------------------------

fn s3_event() -> S3Event {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/s3/object-created.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_and_its_signature_landing_in_a_bucket_import_whichever_arrives_last() {
    let moto = TestMoto::start();
    let s3 = moto.s3().await;
    let (db, key) = roshan().await;
    let event = s3_event();
    let bucket = event.records[0].s3.bucket.name.clone().unwrap();
    let encoded_key = event.records[0].s3.object.key.clone().unwrap();
    let object = numbering_import::s3::url_decode(&encoded_key);
    assert_eq!(object, "incoming/roshan 2026-11.csv");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let trigger = S3Trigger::new(
        s3.clone(),
        Importer::new(db.store.clone(), Limits::default()),
    );

    let file = roshan_file(0, 300, ROSHAN);
    // the signature lands first: its event waits for the file
    s3.put_object()
        .bucket(&bucket)
        .key(format!("{object}.sig"))
        .body(key.sign(&file).into())
        .send()
        .await
        .unwrap();
    let mut sig_event = s3_event();
    sig_event.records[0].s3.object.key = Some(format!("{encoded_key}.sig"));
    let handled = trigger.handle(sig_event).await.unwrap();
    assert!(
        matches!(handled[..], [Handled::Waiting { .. }]),
        "{handled:?}"
    );
    assert_eq!(db.count("numbering.numbers").await, 0);

    // then the file: the real event (the fixture) imports the pair
    s3.put_object()
        .bucket(&bucket)
        .key(&object)
        .body(file.clone().into())
        .send()
        .await
        .unwrap();
    let handled = trigger.handle(s3_event()).await.unwrap();
    let [
        Handled::Imported {
            imported: Imported::Created(b),
            ..
        },
    ] = &handled[..]
    else {
        panic!("{handled:?}")
    };
    assert_eq!((b.status.as_str(), b.applied_rows), ("APPLIED", 300));
    assert_eq!(b.json["file_name"], format!("s3://{bucket}/{object}"));
    assert_eq!(db.count("numbering.numbers").await, 300);

    // a redelivered event changes nothing
    let handled = trigger.handle(s3_event()).await.unwrap();
    assert!(
        matches!(
            handled[..],
            [Handled::Imported {
                imported: Imported::Existing(_),
                ..
            }]
        ),
        "{handled:?}"
    );
    // a bad pair is refused (no retry), nothing applied
    let other = roshan_file(1000, 10, ROSHAN);
    for (k, body) in [
        ("incoming/bad.csv", other.clone()),
        ("incoming/bad.csv.sig", key.sign(&file)),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let mut bad = s3_event();
    bad.records[0].s3.object.key = Some("incoming/bad.csv".into());
    let handled = trigger.handle(bad).await.unwrap();
    assert!(
        matches!(
            handled[..],
            [Handled::Refused {
                code: "SIGNATURE_INVALID",
                ..
            }]
        ),
        "{handled:?}"
    );
    // an oversized signature object is refused without being read whole
    for (k, body) in [
        ("incoming/big.csv", other.clone()),
        ("incoming/big.csv.sig", vec![b' '; 5000]),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(k)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let mut big = s3_event();
    big.records[0].s3.object.key = Some("incoming/big.csv.sig".into());
    let handled = trigger.handle(big).await.unwrap();
    assert!(
        matches!(
            handled[..],
            [Handled::Refused {
                code: "FILE_TOO_LARGE",
                ..
            }]
        ),
        "{handled:?}"
    );
    assert_eq!(db.count("numbering.numbers").await, 300);
    assert_eq!(db.count("numbering.lease_imports").await, 1);
}

// ----- the command line --------------------------------------------------

#[tokio::test]
async fn the_import_command_shows_a_summary_and_exits_non_zero_when_refused() {
    let (db, key) = roshan().await;
    db.inventory(&["+93790000006"]).await;
    let dir = std::env::temp_dir().join(format!(
        "numbering-import-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, file: &[u8], sig: &[u8]| {
        let f = dir.join(name);
        std::fs::write(&f, file).unwrap();
        std::fs::write(dir.join(format!("{name}.sig")), sig).unwrap();
        f
    };
    let good = roshan_file(100, 20, ROSHAN);
    let good = write("good.csv", &good, &key.sign(&good));
    let mixed = mixed_file("\n");
    let mixed = write("mixed.csv", &mixed, &key.sign(&mixed));
    let forged = write(
        "forged.csv",
        b"short_code,contract_ref\n4455,ATRA-SC-2026-001\n",
        &key.sign(b"x"),
    );
    let run = |file: &std::path::Path, extra: &[&str]| {
        let sig = format!("{}.sig", file.display());
        std::process::Command::new(numbering_tests::numbering_bin())
            .arg("import")
            .arg("--file")
            .arg(file)
            .args(["--sig", &sig])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.owner_url)
            .output()
            .unwrap()
    };
    let out = run(&good, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("APPLIED") && stdout.contains("20 total, 20 applied, 0 rejected"),
        "{stdout}"
    );
    let again = run(&good, &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("imported before"));

    let out = run(&mixed, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REJECTED") && stdout.contains("line 6: out of contract"),
        "{stdout}"
    );

    let out = run(&forged, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGNATURE_INVALID"));
    assert_eq!(db.count("numbering.numbers").await, 21);

    let help = std::process::Command::new(numbering_tests::numbering_bin())
        .args(["import", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--file") && help.contains("--sig") && help.contains("--partial"),
        "{help}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
