//! The regulator export and its write-once storage: S3 Object Lock in
//! COMPLIANCE mode against moto's S3, a local directory in development.

use numbering_export::worm::{Body, S3Worm, WormError, WormStore, retention_years};
use numbering_tests::hot_path::TestMoto;

/// Objects land with COMPLIANCE retention until the requested date; the
/// locked version cannot be deleted, and the key is never written twice.
#[tokio::test]
async fn s3_worm_objects_are_locked_in_compliance_mode() {
    let moto = TestMoto::start();
    let store = S3Worm::new(moto.s3().await, "worm-test", "exports");
    store.ensure_bucket().await.unwrap();
    assert_eq!(store.describe(), "s3://worm-test/exports");

    let until = retention_years(7);
    let stored = store
        .put("2026-05/v1/manifest.json", Body::Bytes("{}".into()), until)
        .await
        .unwrap();
    assert_eq!(
        stored.uri,
        "s3://worm-test/exports/2026-05/v1/manifest.json"
    );
    let version = stored.version_id.clone().expect("a versioned bucket");

    let s3 = store.client();
    // moto answers GetObjectRetention with the object itself; HeadObject
    // carries the same lock headers.
    let head = s3
        .head_object()
        .bucket("worm-test")
        .key("exports/2026-05/v1/manifest.json")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode,
        Some(aws_sdk_s3::types::ObjectLockMode::Compliance)
    );
    let retain_until = head.object_lock_retain_until_date.unwrap().secs();
    assert!(
        (retain_until - until.timestamp()).abs() <= 1,
        "{retain_until}"
    );

    let delete = s3
        .delete_object()
        .bucket("worm-test")
        .key("exports/2026-05/v1/manifest.json")
        .version_id(&version)
        .send()
        .await;
    let refused = aws_sdk_s3::error::DisplayErrorContext(delete.unwrap_err()).to_string();
    assert!(refused.contains("AccessDenied"), "{refused}");

    let again = store
        .put(
            "2026-05/v1/manifest.json",
            Body::Bytes("{\"x\":1}".into()),
            until,
        )
        .await;
    assert!(
        matches!(again, Err(WormError::AlreadyExists(_))),
        "{again:?}"
    );
    assert_eq!(store.get("2026-05/v1/manifest.json").await.unwrap(), b"{}");

    // A file body is streamed from disk.
    let file = std::env::temp_dir().join(format!("worm-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "a,b\r\n1,2\r\n").unwrap();
    store
        .put("2026-05/v1/inventory.csv", Body::File(file.clone()), until)
        .await
        .unwrap();
    assert_eq!(
        store.get("2026-05/v1/inventory.csv").await.unwrap(),
        b"a,b\r\n1,2\r\n"
    );
    std::fs::remove_file(file).ok();
    let (sha, size) = store.sha256("2026-05/v1/inventory.csv").await.unwrap();
    assert_eq!(
        (sha.as_str(), size),
        (
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"a,b\r\n1,2\r\n")).as_str(),
            10
        )
    );
    assert!(matches!(
        store.get("2026-05/v9/manifest.json").await,
        Err(WormError::NotFound(_))
    ));
}

// ---------------------------------------------------------------------------
// The export of a month.

use std::{path::PathBuf, sync::Arc};

use chrono::{Duration as Days, Utc};
use numbering_export::{
    Exporter, Outcome, Period, Step,
    export::ExportError,
    manifest::Manifest,
    signer::{self, KmsSigner, LocalSigner, Signer, VaultSigner},
    verify::{VerifyError, verify_stored},
    worm::LocalDirWorm,
};
use numbering_store::audit;
use numbering_tests::{TestDb, admin_ctx, lease_all, tenant_ctx};

fn temp_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "numbering-{what}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// A local Ed25519 signer and a local WORM directory.
fn local_exporter(db: &TestDb) -> (Exporter, PathBuf) {
    let dir = temp_dir("exports");
    let signer = LocalSigner::load_or_generate(&dir.join("key/signing-key.pem")).unwrap();
    let store = LocalDirWorm::new(dir.join("worm"));
    (
        Exporter::new(db.app.clone(), Arc::new(signer), Arc::new(store)),
        dir,
    )
}

/// Three MSISDNs: two leased to acme, one reserved by acme.
async fn a_month_of_activity(db: &TestDb) -> Vec<numbering_store::Lease> {
    let acme = db.pool_for("acme").await;
    let ids = db
        .inventory(&["+93790000001", "+93790000002", "+93790000003"])
        .await;
    let leases = lease_all(db, &acme, &ids[..2]).await;
    db.store
        .reserve(&tenant_ctx(&acme), &acme, &ids[2])
        .await
        .unwrap();
    leases
}

fn generated(outcome: Outcome) -> (numbering_export::ExportRecord, Manifest) {
    match outcome {
        Outcome::Generated(record, manifest) => (*record, manifest),
        Outcome::DryRun(_) => panic!("a dry run"),
    }
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The month's files, manifest and signature verify with the local public
/// key; the manifest's chain head is the one audit verification reports; the
/// row, its audit entry and its outbox event are written; a second run is a
/// new version that leaves the first intact; a tampered file is caught.
#[tokio::test]
async fn a_month_is_exported_signed_and_stored_once() {
    let db = TestDb::new().await;
    let leases = a_month_of_activity(&db).await;
    let (exporter, dir) = local_exporter(&db);
    let period = Period::containing(Utc::now());

    let (record, manifest) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    assert_eq!((record.status.as_str(), record.version), ("GENERATED", 1));
    assert_eq!(manifest.format, "atra-v1");
    assert_eq!(manifest.period, period.to_string());
    assert_eq!(manifest.rows("inventory.csv"), Some(3));
    assert_eq!(
        manifest.rows("events.csv"),
        Some(5),
        "2 × (reserve, assign) + reserve"
    );

    // The chain head in the manifest is the head audit verification reports.
    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    let head = report.head.expect("a sealed chain");
    let in_manifest = manifest.audit_chain_head.clone().expect("a chain head");
    assert_eq!(
        (in_manifest.seq, in_manifest.hash.as_str()),
        (head.seq, head.hash_hex().as_str())
    );
    assert_eq!(
        record.audit_chain_head.as_deref(),
        Some(head.hash_hex().as_str())
    );
    assert_eq!(head.seq, 5, "every entry of the period is sealed");
    // the running month's "end" is the generation time, and this export
    // sealed the period's entries only after it
    assert_eq!(manifest.audit_chain_head_at_period_end, None);

    // Signature and checksums verify with the public key alone.
    let public = exporter.signer().identity().await.unwrap().public_key_pem;
    let prefix = format!("{period}/v1");
    let verified = verify_stored(exporter.store().as_ref(), &prefix, &public)
        .await
        .unwrap();
    assert_eq!(verified.manifest, manifest);
    assert_eq!(verified.signature.algorithm, signer::ED25519);

    // The inventory at period end.
    let inventory = csv_rows(
        &exporter
            .store()
            .get(&format!("{prefix}/inventory.csv"))
            .await
            .unwrap(),
    );
    let states: Vec<(&str, &str, &str, &str)> = inventory
        .iter()
        .map(|r| (r[0].as_str(), r[5].as_str(), r[6].as_str(), r[7].as_str()))
        .collect();
    let lease = |i: usize| leases[i].id.to_string();
    assert_eq!(
        states,
        vec![
            ("+93790000001", "ASSIGNED", "acme", lease(0).as_str()),
            ("+93790000002", "ASSIGNED", "acme", lease(1).as_str()),
            ("+93790000003", "RESERVED", "acme", ""),
        ]
    );
    let raw = exporter
        .store()
        .get(&format!("{prefix}/events.csv"))
        .await
        .unwrap();
    assert!(raw.starts_with(b"audit_id,occurred_at,identifier,transition"));
    assert!(
        raw.windows(2).filter(|w| w == b"\r\n").count() == 6,
        "CRLF line ends"
    );

    // Recorded, audited and announced once.
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'numbering.regulator.export.generated.v1' AND stream = 'NUMBERING_REGULATOR'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'regulator_export.generated'")
            .await,
        1
    );

    // A second run is version 2; version 1 is untouched.
    let first_manifest = exporter
        .store()
        .get(&format!("{prefix}/manifest.json"))
        .await
        .unwrap();
    let (second, second_manifest) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    assert_eq!(second.version, 2);
    assert_ne!(second.id, record.id);
    // the head when the second run started is the first run's head; the
    // second run then sealed the first run's own audit entry after it
    assert_eq!(
        second_manifest.audit_chain_head_at_period_end,
        Some(in_manifest.clone())
    );
    assert!(second_manifest.audit_chain_head.unwrap().seq > in_manifest.seq);
    assert_eq!(
        exporter
            .store()
            .get(&format!("{prefix}/manifest.json"))
            .await
            .unwrap(),
        first_manifest
    );
    verify_stored(exporter.store().as_ref(), &prefix, &public)
        .await
        .unwrap();
    verify_stored(exporter.store().as_ref(), &format!("{period}/v2"), &public)
        .await
        .unwrap();
    assert_eq!(exporter.list(Some(period), 10).await.unwrap().len(), 2);

    // An insider who defeats the read-only file is caught by the verifier.
    let file = dir.join("worm").join(&prefix).join("inventory.csv");
    let mut permissions = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&file, permissions).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let tampered = verify_stored(exporter.store().as_ref(), &prefix, &public).await;
    assert!(
        matches!(tampered, Err(VerifyError::Checksum { ref name, .. }) if name == "inventory.csv"),
        "{tampered:?}"
    );
    // …and a manifest signed by another key is refused.
    let other = LocalSigner::load_or_generate(&dir.join("other.pem")).unwrap();
    let other_public = other.identity().await.unwrap().public_key_pem;
    let wrong_key = verify_stored(
        exporter.store().as_ref(),
        &format!("{period}/v2"),
        &other_public,
    )
    .await;
    assert!(
        matches!(wrong_key, Err(VerifyError::Signature(_))),
        "{wrong_key:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A dry run returns the manifest and its counts and writes nothing
/// durable: no row, no object, no outbox event, no audit entry.
#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let (exporter, dir) = local_exporter(&db);
    let audit_before = db.count("numbering.audit_log").await;
    let outbox_before = db.count("numbering.outbox").await;
    let Outcome::DryRun(manifest) = exporter
        .generate(Period::containing(Utc::now()), &admin_ctx(), true)
        .await
        .unwrap()
    else {
        panic!("not a dry run")
    };
    assert_eq!(manifest.rows("inventory.csv"), Some(3));
    assert_eq!(manifest.rows("events.csv"), Some(5));
    assert_eq!(manifest.version, None);
    assert_eq!(db.count("numbering.regulator_exports").await, 0);
    assert_eq!(db.count("numbering.audit_log").await, audit_before);
    assert_eq!(db.count("numbering.outbox").await, outbox_before);
    assert!(!dir.join("worm").exists(), "no object stored");
    std::fs::remove_dir_all(dir).ok();
}

/// The inventory at the end of a past month comes from the audit trail when
/// a row changed since: the state then, not now. Identifiers added after
/// the period are not in it.
#[tokio::test]
async fn the_state_at_period_end_comes_from_history() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db
        .inventory(&["+93790000001", "+93790000002", "+93790000003"])
        .await;
    let last_month = Period::previous(Utc::now());
    let before = last_month.start() - Days::days(3);
    sqlx::query("UPDATE numbering.numbers SET created_at = $1, state_changed_at = $1 WHERE identifier <> '+93790000003'")
        .bind(before)
        .execute(&db.owner)
        .await
        .unwrap();
    // Last month, +93790000001 was reserved by acme (as the trail says)…
    sqlx::query(
        "INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after) \
         VALUES ($1, 'tenant:acme:u', 'reserve', 'acme', '+93790000001', \
                 '{\"state\":\"AVAILABLE\",\"tenant_id\":null,\"version\":1}', '{\"state\":\"RESERVED\",\"version\":2}')",
    )
    .bind(last_month.start() + Days::days(10))
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query("UPDATE numbering.numbers SET state = 'RESERVED', tenant_id = 'acme', reserved_until = now() + interval '1 hour', version = 2, state_changed_at = $1 WHERE identifier = '+93790000001'")
        .bind(last_month.start() + Days::days(10))
        .execute(&db.owner)
        .await
        .unwrap();
    // …and this month it moves on: assigned.
    let reservation: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO numbering.reservations (id, number_id, identifier, kind, tenant_id, expires_at) \
         SELECT gen_random_uuid(), id, identifier, kind, 'acme', now() + interval '1 hour' FROM numbering.numbers \
         WHERE identifier = '+93790000001' RETURNING id",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    db.store
        .assign(
            &tenant_ctx(&acme),
            &acme,
            numbering_shared::ReservationId::from(reservation),
            true,
        )
        .await
        .unwrap();
    // +93790000002 also changes this month; +93790000003 is new this month.
    db.store
        .reserve(&tenant_ctx(&acme), &acme, &ids[1])
        .await
        .unwrap();

    let (exporter, dir) = local_exporter(&db);
    let (_, manifest) = generated(
        exporter
            .generate(last_month, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    assert_eq!(manifest.as_of, last_month.end());
    // every link was sealed this month, after last month's end
    assert!(manifest.audit_chain_head.is_some());
    assert_eq!(manifest.audit_chain_head_at_period_end, None);
    let inventory = csv_rows(
        &exporter
            .store()
            .get(&format!("{last_month}/v1/inventory.csv"))
            .await
            .unwrap(),
    );
    let states: Vec<(&str, &str, &str, &str)> = inventory
        .iter()
        .map(|r| (r[0].as_str(), r[5].as_str(), r[6].as_str(), r[7].as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("+93790000001", "RESERVED", "acme", ""),
            ("+93790000002", "AVAILABLE", "", ""),
        ]
    );
    assert_eq!(
        manifest.rows("events.csv"),
        Some(1),
        "only last month's transition"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A lease renewed after the period shows the term end it had at the
/// period's end (from its assign entry), not the renewed one.
#[tokio::test]
async fn a_renewal_after_the_period_does_not_change_its_lease_end() {
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["+93790000009"]).await;
    let last_month = Period::previous(Utc::now());
    let assigned_at = last_month.start() + Days::days(5);
    let first_term_end = last_month.start() + Days::days(35);
    let renewed_term_end = first_term_end + Days::days(30);
    let lease = uuid::Uuid::new_v4();
    // assigned last month, renewed this month: the rows as they are now …
    sqlx::query(
        "UPDATE numbering.numbers SET created_at = $1 - interval '1 day', state = 'ASSIGNED', \
             tenant_id = 'acme', version = 3, state_changed_at = now() WHERE identifier = '+93790000009'",
    )
    .bind(assigned_at)
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, started_at, term_end, renewals) \
         SELECT $1, id, identifier, kind, 'acme', $2, $3, 1 FROM numbering.numbers WHERE identifier = '+93790000009'",
    )
    .bind(lease)
    .bind(assigned_at)
    .bind(renewed_term_end)
    .execute(&db.owner)
    .await
    .unwrap();
    // … and the trail of both steps
    for (at, action, term_end) in [
        (assigned_at, "assign", first_term_end),
        (Utc::now(), "renew", renewed_term_end),
    ] {
        sqlx::query(
            "INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after) \
             VALUES ($1, 'tenant:acme:u', $2, 'acme', '+93790000009', '{}', \
                     json_build_object('state', 'ASSIGNED', 'lease_id', $3::text, 'term_end', $4::timestamptz))",
        )
        .bind(at)
        .bind(action)
        .bind(lease.to_string())
        .bind(term_end)
        .execute(&db.owner)
        .await
        .unwrap();
    }

    let (exporter, dir) = local_exporter(&db);
    generated(
        exporter
            .generate(last_month, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    let inventory = csv_rows(
        &exporter
            .store()
            .get(&format!("{last_month}/v1/inventory.csv"))
            .await
            .unwrap(),
    );
    assert_eq!(inventory.len(), 1);
    let row = &inventory[0];
    assert_eq!(
        (row[5].as_str(), row[7].as_str()),
        ("ASSIGNED", lease.to_string().as_str())
    );
    assert_eq!(
        row[9],
        first_term_end.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "{row:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// PENDING → GENERATED → REVIEWED → SUBMITTED → ACKNOWLEDGED, each step
/// audited; out-of-order steps are refused in code and by the database.
#[tokio::test]
async fn the_status_workflow_is_enforced() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let (exporter, dir) = local_exporter(&db);
    let period = Period::containing(Utc::now());
    let (record, _) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    let id = record.id;
    let refused = |r: Result<numbering_export::ExportRecord, ExportError>, from: &str| match r {
        Err(ExportError::TransitionRefused { from: f, .. }) => assert_eq!(f, from),
        other => panic!("not refused: {other:?}"),
    };
    refused(
        exporter.advance(id, Step::Submit, &admin_ctx()).await,
        "GENERATED",
    );
    refused(
        exporter.advance(id, Step::Acknowledge, &admin_ctx()).await,
        "GENERATED",
    );
    let reviewed = exporter
        .advance(id, Step::Review, &admin_ctx())
        .await
        .unwrap();
    assert_eq!(reviewed.status, "REVIEWED");
    assert_eq!(reviewed.reviewed_by.as_deref(), Some("admin:test-admin"));
    refused(
        exporter.advance(id, Step::Review, &admin_ctx()).await,
        "REVIEWED",
    );
    assert_eq!(
        exporter
            .advance(id, Step::Submit, &admin_ctx())
            .await
            .unwrap()
            .status,
        "SUBMITTED"
    );
    let acknowledged = exporter
        .advance(id, Step::Acknowledge, &admin_ctx())
        .await
        .unwrap();
    assert_eq!(acknowledged.status, "ACKNOWLEDGED");
    assert!(acknowledged.acknowledged_at.is_some());
    refused(
        exporter
            .advance(
                id,
                Step::Reject {
                    reason: "late".into(),
                },
                &admin_ctx(),
            )
            .await,
        "ACKNOWLEDGED",
    );
    for action in ["reviewed", "submitted", "acknowledged"] {
        assert_eq!(
            db.count(&format!(
                "numbering.audit_log WHERE action = 'regulator_export.{action}'"
            ))
            .await,
            1,
            "{action}"
        );
    }
    // The database refuses what the code would, even to its owner.
    for sql in [
        "UPDATE numbering.regulator_exports SET status = 'GENERATED'",
        "UPDATE numbering.regulator_exports SET status = 'REJECTED'",
        "UPDATE numbering.regulator_exports SET manifest_sha256 = 'x', status = 'ACKNOWLEDGED'",
        "INSERT INTO numbering.regulator_exports (id, period, version, status, created_by) \
         VALUES (gen_random_uuid(), '2026-01', 1, 'GENERATED', 'x')",
    ] {
        let e = sqlx::query(sql).execute(&db.owner).await.unwrap_err();
        assert!(
            e.as_database_error().and_then(|d| d.code()).as_deref() == Some("23514"),
            "{sql}: {e}"
        );
    }
    // Rejection from GENERATED, with its reason.
    let (second, _) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    let rejected = exporter
        .advance(
            second.id,
            Step::Reject {
                reason: "counts look wrong".into(),
            },
            &admin_ctx(),
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, "REJECTED");
    assert_eq!(
        rejected.rejection_reason.as_deref(),
        Some("counts look wrong")
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The monthly schedule exports the previous month once, whatever the
/// number of replicas or runs.
#[tokio::test]
async fn the_schedule_exports_the_previous_month_once() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let (exporter, dir) = local_exporter(&db);
    let next_month = Period::containing(Utc::now()).end() + Days::hours(1);
    // a run that died two hours ago left its PENDING row behind
    sqlx::query(
        "INSERT INTO numbering.regulator_exports (id, period, version, created_by, created_at) \
         VALUES (gen_random_uuid(), $1, 1, 'system:export-scheduler', now() - interval '2 hours')",
    )
    .bind(Period::containing(Utc::now()).to_string())
    .execute(&db.owner)
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        exporter.scheduled(next_month),
        exporter.scheduled(next_month)
    );
    let made: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0].period, Period::containing(Utc::now()).to_string());
    assert_eq!(made[0].created_by, "system:export-scheduler");
    assert_eq!(made[0].version, 2);
    assert!(exporter.scheduled(next_month).await.unwrap().is_none());
    assert_eq!(db.count("numbering.regulator_exports").await, 2);
    assert_eq!(
        db.count("numbering.regulator_exports WHERE version = 1 AND status = 'FAILED' AND failure_reason LIKE 'abandoned%'")
            .await,
        1
    );
    std::fs::remove_dir_all(dir).ok();
}

/// On start the host catches up a monthly run it missed: only once the
/// month is due, only if the service was live in it, and only once.
#[tokio::test]
async fn a_missed_monthly_run_is_caught_up_once_and_only_when_due() {
    let db = TestDb::new().await;
    let (exporter, dir) = local_exporter(&db);
    let end = Period::containing(Utc::now()).end();
    // a fresh installation: nothing happened in the month, nothing to catch up
    assert!(
        exporter
            .catch_up(end + Days::hours(2))
            .await
            .unwrap()
            .is_none()
    );
    a_month_of_activity(&db).await;
    // before 01:00 on the 1st the regular schedule makes it, not the catch-up
    assert!(
        exporter
            .catch_up(end + Days::minutes(30))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.count("numbering.regulator_exports").await, 0);
    let made = exporter
        .catch_up(end + Days::hours(2))
        .await
        .unwrap()
        .expect("the missed run is made");
    assert_eq!(made.period, Period::containing(Utc::now()).to_string());
    assert_eq!(made.created_by, "system:export-scheduler");
    // a restart later that month finds it made
    assert!(
        exporter
            .catch_up(end + Days::days(3))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.count("numbering.regulator_exports").await, 1);
    std::fs::remove_dir_all(dir).ok();
}

/// The KMS adapter (ECC_NIST_P256, ECDSA_SHA_256 on moto) with S3 Object
/// Lock: the signature verifies with GetPublicKey's SPKI, every stored
/// object is COMPLIANCE-locked seven years ahead, deleting a locked version
/// is refused, and a second run leaves the first version intact.
#[tokio::test]
async fn a_kms_signed_export_is_locked_in_s3() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    use numbering_export::worm::S3Worm;
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let moto = TestMoto::start();
    let kms = moto.kms().await;
    let key = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let store = S3Worm::new(moto.s3().await, "regulator-exports", "atra");
    store.ensure_bucket().await.unwrap();
    let s3 = store.client().clone();
    let exporter = Exporter::new(
        db.app.clone(),
        Arc::new(KmsSigner::new(kms.clone(), key.key_id())),
        Arc::new(store),
    );
    let period = Period::containing(Utc::now());
    let (record, manifest) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    assert_eq!(manifest.signer.algorithm, signer::ECDSA_P256_SHA256);
    assert_eq!(
        record.storage_uri.as_deref(),
        Some(format!("s3://regulator-exports/atra/{period}/v1").as_str())
    );

    // The public key straight from KMS, as a regulator would be given it.
    let der = kms
        .get_public_key()
        .key_id(key.key_id())
        .send()
        .await
        .unwrap()
        .public_key
        .unwrap();
    let public = {
        use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
        p256::PublicKey::from_public_key_der(der.as_ref())
            .unwrap()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let prefix = format!("{period}/v1");
    verify_stored(exporter.store().as_ref(), &prefix, &public)
        .await
        .unwrap();

    for name in [
        "inventory.csv",
        "events.csv",
        "manifest.json",
        "manifest.sig.json",
    ] {
        let head = s3
            .head_object()
            .bucket("regulator-exports")
            .key(format!("atra/{prefix}/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode,
            Some(aws_sdk_s3::types::ObjectLockMode::Compliance),
            "{name}"
        );
        let until = head.object_lock_retain_until_date.unwrap().secs();
        let years = (until - Utc::now().timestamp()) as f64 / (365.25 * 86400.0);
        assert!((6.99..7.01).contains(&years), "{name}: {years}");
        let delete = s3
            .delete_object()
            .bucket("regulator-exports")
            .key(format!("atra/{prefix}/{name}"))
            .version_id(head.version_id.unwrap())
            .send()
            .await;
        assert!(
            delete.is_err(),
            "{name}: deleting a locked version is refused"
        );
    }

    let (second, _) = generated(
        exporter
            .generate(period, &admin_ctx(), false)
            .await
            .unwrap(),
    );
    assert_eq!(second.version, 2);
    verify_stored(exporter.store().as_ref(), &prefix, &public)
        .await
        .unwrap();
    verify_stored(exporter.store().as_ref(), &format!("{period}/v2"), &public)
        .await
        .unwrap();
}

/// An in-test Vault Transit engine (no Vault binary here): the documented
/// `GET /v1/transit/keys/<key>` and `POST /v1/transit/sign/<key>` with
/// `X-Vault-Token`, over an Ed25519 key.
async fn transit_server(token: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    use axum::{
        Json, Router,
        extract::{Path, State},
        http::{HeaderMap, StatusCode},
        routing::{get, post},
    };
    use base64::{Engine, engine::general_purpose::STANDARD as B64};
    use ed25519_dalek::Signer as _;
    use serde_json::{Value, json};
    let key = Arc::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    let authorized = move |headers: &HeaderMap| {
        headers.get("x-vault-token").and_then(|v| v.to_str().ok()) == Some(token)
    };
    let denied = || {
        (
            StatusCode::FORBIDDEN,
            Json(json!({ "errors": ["permission denied"] })),
        )
    };
    let app = Router::new()
        .route(
            "/v1/transit/keys/{name}",
            get(
                move |State(key): State<Arc<ed25519_dalek::SigningKey>>, Path(name): Path<String>, headers: HeaderMap| async move {
                    if !authorized(&headers) || name != "exports" {
                        return denied();
                    }
                    let public = B64.encode(key.verifying_key().to_bytes());
                    (
                        StatusCode::OK,
                        Json(json!({ "data": {
                            "name": name, "type": "ed25519", "latest_version": 1,
                            "keys": { "1": { "public_key": public, "name": "ed25519" } }
                        } })),
                    )
                },
            ),
        )
        .route(
            "/v1/transit/sign/{name}",
            post(
                move |State(key): State<Arc<ed25519_dalek::SigningKey>>,
                      Path(name): Path<String>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| async move {
                    if !authorized(&headers) || name != "exports" {
                        return denied();
                    }
                    let input = B64.decode(body["input"].as_str().unwrap_or_default()).unwrap();
                    let signature = B64.encode(key.sign(&input).to_bytes());
                    (
                        StatusCode::OK,
                        Json(json!({ "data": { "signature": format!("vault:v1:{signature}"), "key_version": 1 } })),
                    )
                },
            ),
        )
        .with_state(key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

/// The Vault Transit adapter signs through the HTTP API and its signature
/// verifies with the key's public half; a bad token is a clear error.
#[tokio::test]
async fn the_vault_transit_adapter_signs_and_verifies() {
    let (url, server) = transit_server("s.test-token").await;
    let signer = VaultSigner::new(&url, "s.test-token", "exports");
    let identity = signer.identity().await.unwrap();
    assert_eq!(
        (identity.key_id.as_str(), identity.algorithm.as_str()),
        ("vault:exports:v1", signer::ED25519)
    );
    let record = signer.sign(b"the manifest").await.unwrap();
    signer::verify(&record, &identity.public_key_pem, b"the manifest").unwrap();
    assert!(signer::verify(&record, &identity.public_key_pem, b"the manifesto").is_err());

    let denied = VaultSigner::new(&url, "s.wrong", "exports")
        .sign(b"the manifest")
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("403"), "{denied}");
    server.abort();
}

// ---------------------------------------------------------------------------
// Triggers: REST, Lambda, CLI.

use numbering_tests::app::{TestApp, admin_token, tenant_token};
use serde_json::json;

/// The admin routes: generate (201), dry-run (200, nothing stored), list,
/// read, the workflow steps with 409 for a step out of order, 400 for a bad
/// period, 404 for an unknown id, and tenants are refused.
#[tokio::test]
async fn the_admin_routes_drive_the_workflow() {
    let app = TestApp::new().await;
    a_month_of_activity(&app.db).await;
    let admin = admin_token();
    let period = Period::containing(Utc::now()).to_string();

    let dry = app
        .post(
            &admin,
            "/v1/admin/numbering/exports",
            json!({ "period": period, "dry_run": true }),
        )
        .await;
    assert_eq!(dry.status.as_u16(), 200, "{:?}", dry.json);
    assert_eq!(dry.json["manifest"]["files"][0]["rows"], 3);
    assert_eq!(app.db.count("numbering.regulator_exports").await, 0);

    let created = app
        .post(
            &admin,
            "/v1/admin/numbering/exports",
            json!({ "period": period }),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.json);
    assert_eq!(created.json["status"], "GENERATED");
    assert_eq!(created.json["manifest"]["format"], "atra-v1");
    let id = created.str("id");

    let listed = app
        .get(
            &admin,
            &format!("/v1/admin/numbering/exports?period={period}"),
        )
        .await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    let one = app
        .get(&admin, &format!("/v1/admin/numbering/exports/{id}"))
        .await;
    assert_eq!((one.status.as_u16(), one.str("id")), (200, id.clone()));

    let submit = app
        .post(
            &admin,
            &format!("/v1/admin/numbering/exports/{id}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(
        (submit.status.as_u16(), submit.code()),
        (409, "EXPORT_TRANSITION_NOT_ALLOWED")
    );
    assert!(submit.is_problem());
    for (step, status) in [
        ("review", "REVIEWED"),
        ("submit", "SUBMITTED"),
        ("acknowledge", "ACKNOWLEDGED"),
    ] {
        let a = app
            .post(
                &admin,
                &format!("/v1/admin/numbering/exports/{id}/{step}"),
                json!({}),
            )
            .await;
        assert_eq!(
            (a.status.as_u16(), a.str("status")),
            (200, status.to_owned()),
            "{step}: {:?}",
            a.json
        );
    }
    let reject = app
        .post(
            &admin,
            &format!("/v1/admin/numbering/exports/{id}/reject"),
            json!({ "reason": "late" }),
        )
        .await;
    assert_eq!(reject.status.as_u16(), 409);

    let bad = app
        .post(
            &admin,
            "/v1/admin/numbering/exports",
            json!({ "period": "2026-13" }),
        )
        .await;
    assert_eq!((bad.status.as_u16(), bad.code()), (400, "INVALID_PERIOD"));
    let future = app
        .post(
            &admin,
            "/v1/admin/numbering/exports",
            json!({ "period": "2999-01" }),
        )
        .await;
    assert_eq!(
        (future.status.as_u16(), future.code()),
        (400, "INVALID_PERIOD")
    );
    let unknown = app
        .get(
            &admin,
            &format!("/v1/admin/numbering/exports/{}", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
    let tenant = app
        .get(&tenant_token("acme"), "/v1/admin/numbering/exports")
        .await;
    assert_eq!(tenant.status.as_u16(), 403);
}

/// EventBridge's scheduled event (as delivered) runs the monthly export of
/// the month before the event's time, once.
#[tokio::test]
async fn the_eventbridge_schedule_exports_once() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let (exporter, dir) = local_exporter(&db);
    let time = (Period::containing(Utc::now()).end() + Days::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let event: aws_lambda_events::event::eventbridge::EventBridgeEvent =
        serde_json::from_value(json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": time,
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/numbering-monthly-export"],
            "detail": {}
        }))
        .unwrap();
    let first = numbering_export::lambda::handle_scheduled(&exporter, event.clone())
        .await
        .unwrap();
    assert_eq!(first["generated"], true, "{first}");
    assert_eq!(first["period"], Period::containing(Utc::now()).to_string());
    let again = numbering_export::lambda::handle_scheduled(&exporter, event)
        .await
        .unwrap();
    assert_eq!(again["generated"], false, "{again}");
    assert_eq!(db.count("numbering.regulator_exports").await, 1);
    std::fs::remove_dir_all(dir).ok();
}

/// `numbering export --period P`, `--dry-run`, and `numbering export verify`
/// (exit 1 with a clear message once a file is tampered with).
#[tokio::test]
async fn the_cli_exports_and_verifies() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let dir = temp_dir("cli-exports");
    let period = Period::containing(Utc::now()).to_string();
    let run = |args: &[&str]| {
        std::process::Command::new(numbering_tests::numbering_bin())
            .args(args)
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", dir.join("data"))
            .env("NUMBERING_EXPORT_STORE", dir.join("worm"))
            .env("NUMBERING_EXPORT_SIGNING_KEY", dir.join("key.pem"))
            .env_remove("NUMBERING_EXPORT_SIGNER")
            .output()
            .expect("run numbering")
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let dry = run(&["export", "--period", &period, "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("\"format\": \"atra-v1\""),
        "{}",
        text(&dry)
    );
    assert!(!dir.join("worm").exists());

    let made = run(&["export", "--period", &period]);
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).contains("version 1 GENERATED"),
        "{}",
        text(&made)
    );
    let ok = run(&["export", "verify", "--period", &period]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("verified"), "{}", text(&ok));

    let file = dir.join("worm").join(&period).join("v1/events.csv");
    let mut permissions = std::fs::metadata(&file).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&file, permissions).unwrap();
    std::fs::write(&file, b"audit_id\r\n").unwrap();
    let bad = run(&["export", "verify", "--period", &period, "--version", "1"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("does NOT verify: events.csv"),
        "{}",
        text(&bad)
    );
    let bad_period = run(&["export", "--period", "2026-1"]);
    assert!(!bad_period.status.success());
    assert!(
        text(&bad_period).contains("is not a month YYYY-MM"),
        "{}",
        text(&bad_period)
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `numbering export public-key` prints the SPKI PEM that `openssl pkey
/// -pubout` derives from the generated key file (OpenSSL 3.0 refused the
/// PKCS#8 v2 file written before), and `export verify --public-key` takes it.
#[tokio::test]
async fn the_cli_prints_the_public_key_that_openssl_derives_and_verify_takes() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let dir = temp_dir("cli-public-key");
    let key = dir.join("key.pem");
    let period = Period::containing(Utc::now()).to_string();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(numbering_tests::numbering_bin())
            .args(args)
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", dir.join("data"))
            .env("NUMBERING_EXPORT_STORE", dir.join("worm"))
            .env("NUMBERING_EXPORT_SIGNING_KEY", &key)
            .env_remove("NUMBERING_EXPORT_SIGNER")
            .output()
            .expect("run numbering");
        assert!(
            output.status.success(),
            "numbering {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let made = run(&["export", "--period", &period]);
    assert!(made.contains("GENERATED"), "{made}");
    let printed = run(&["export", "public-key"]);
    assert!(
        printed.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{printed}"
    );

    let openssl = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl is installed (./dev setup)");
    assert!(
        openssl.status.success(),
        "openssl pkey refused the generated key: {}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    assert_eq!(String::from_utf8(openssl.stdout).unwrap(), printed);

    let public = dir.join("public.pem");
    std::fs::write(&public, &printed).unwrap();
    let verified = run(&[
        "export",
        "verify",
        "--period",
        &period,
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert!(verified.contains("verified"), "{verified}");
    std::fs::remove_dir_all(dir).ok();
}

/// `numbering.regulator.export.generated.v1` reaches the
/// `NUMBERING_REGULATOR` stream through the relay, with every field its
/// documented schema requires.
#[tokio::test]
async fn the_generated_event_is_published_on_the_regulator_stream() {
    let db = TestDb::new().await;
    a_month_of_activity(&db).await;
    let nats = numbering_tests::TestNats::start();
    let (stop, relay) = crate::relay::spawn_relay(&db, nats.client().await, crate::relay::fast());
    let (exporter, dir) = local_exporter(&db);
    let (record, _) = generated(
        exporter
            .generate(Period::containing(Utc::now()), &admin_ctx(), false)
            .await
            .unwrap(),
    );
    let got = numbering_tests::read_stream(
        &nats.client().await,
        "NUMBERING_REGULATOR",
        "numbering.regulator.>",
        1,
        std::time::Duration::from_secs(30),
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].subject.as_str(),
        "numbering.regulator.export.generated.v1"
    );
    let envelope: serde_json::Value = serde_json::from_slice(&got[0].payload).unwrap();
    let data = &envelope["data"];
    assert_eq!(data["export_id"], record.id.to_string());
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../docs/events/numbering.regulator.export.generated.v1.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(
            data.get(key.as_str().unwrap()).is_some(),
            "{key} missing from {data}"
        );
    }
    stop.send(true).ok();
    relay.await.ok();
    std::fs::remove_dir_all(dir).ok();
}
