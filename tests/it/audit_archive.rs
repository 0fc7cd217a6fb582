//! Audit retention: partitions past 13 months go to WORM storage with their
//! chain positions and hashes, are detached, and stay provable.

use std::process::Command;

use numbering_export::{
    archive::{self, FORMAT, Outcome},
    worm::{LocalDirWorm, S3Worm},
};
use numbering_store::{audit, audit_jobs};
use numbering_tests::{TestDb, hot_path::TestMoto, numbering_bin, tenant_ctx};
use serde_json::Value;
use sha2::{Digest, Sha256};

const SEAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A partition for the month `months_ago` before this one (as the owner),
/// holding `entries` back-dated entries; returns its name.
async fn old_partition(db: &TestDb, months_ago: i32, entries: i32) -> String {
    let part: String = sqlx::query_scalar(
        "SELECT numbering.create_audit_partition((date_trunc('month', now()) - make_interval(months => $1))::date)",
    )
    .bind(months_ago)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id, occurred_at) \
         SELECT 'tenant:acme:legacy', 'reserve', 'acme', '+9379' || lpad(g::text, 7, '0'), \
                '{\"state\": \"AVAILABLE\"}', ('{\"state\":\"RESERVED\",\"n\":' || g || '}')::json, 'req-' || g, \
                date_trunc('month', now()) - make_interval(months => $1) + g * interval '1 hour' \
         FROM generate_series(1, $2) g",
    )
    .bind(months_ago)
    .bind(entries)
    .execute(&db.owner)
    .await
    .unwrap();
    part
}

/// Seven reserve + cancel pairs this month: 14 current entries.
async fn current_entries(db: &TestDb) {
    let acme = db.pool_for("acme").await;
    let ids = db
        .inventory(
            &(1..=7)
                .map(|i| format!("+9378000000{i}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .await;
    for id in &ids {
        let r = db
            .store
            .reserve(&tenant_ctx(&acme), &acme, id)
            .await
            .unwrap();
        db.store
            .cancel(&tenant_ctx(&acme), &acme, r.id)
            .await
            .unwrap();
    }
}

fn run(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(numbering_bin())
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &db.owner_url)
        .env("NUMBERING_AUDIT_ARCHIVE_URI", dir)
        // the export signer and store (audit checkpoints) under the test's dir
        .env("NUMBERING_DATA_DIR", dir.join("data"))
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_partition_past_thirteen_months_is_archived_to_a_local_dir_detached_and_stays_provable() {
    let db = TestDb::new().await;
    let part = old_partition(&db, 15, 50).await;
    current_entries(&db).await;
    assert_eq!(
        audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap(),
        64
    );
    let dir = std::env::temp_dir().join(format!("audit-archive-{}", uuid::Uuid::new_v4().simple()));

    let (code, out) = run(&db, &dir, &["audit", "archive", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("would archive {part}: 50 entries")),
        "{out}"
    );
    assert!(!dir.exists(), "a dry run writes nothing");
    assert!(
        audit_jobs::partitions(&db.app)
            .await
            .unwrap()
            .contains(&part)
    );

    let (code, out) = run(&db, &dir, &["audit", "archive"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("archived {part}")) && out.contains("50 entries, chain 1..50"),
        "{out}"
    );

    // the object: a header with the chain hashes, then the 50 entries
    let record: (String, Vec<u8>, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT object_key, object_sha256, prev_hash, head_hash FROM numbering.audit_archives WHERE partition = $1",
    )
    .bind(&part)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let path = dir.join(&record.0);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(Sha256::digest(&bytes)[..], record.1[..]);
    let lines: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 51);
    assert_eq!(lines[0]["format"], FORMAT);
    assert_eq!(lines[0]["entry_count"], 50);
    assert_eq!(lines[0]["prev_hash"], hex::encode([0u8; 32]));
    let head_50: Vec<u8> =
        sqlx::query_scalar("SELECT hash FROM numbering.audit_chain WHERE seq = 50")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(lines[0]["head_hash"], hex::encode(&head_50));
    assert_eq!(record.3, head_50);
    assert_eq!(lines[1]["seq"], 1);
    assert_eq!(lines[1]["after"], "{\"state\":\"RESERVED\",\"n\":1}");

    // detached: the entries are gone from the hot table, their links stay
    assert!(
        !audit_jobs::partitions(&db.app)
            .await
            .unwrap()
            .contains(&part)
    );
    assert_eq!(db.count("numbering.audit_log").await, 14);
    assert_eq!(db.count("numbering.audit_chain").await, 64);

    // the chain still verifies: 14 recomputed, 50 continuous through the archive
    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.checked, report.archived), (14, 50));
    let (code, out) = run(&db, &dir, &["audit", "verify"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("14 entries verified, 50 archived"), "{out}");

    let (code, out) = run(&db, &dir, &["audit", "verify-archive", &part]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("50 entries match the hash chain"), "{out}");
    // a second run has nothing left to do
    let (code, out) = run(&db, &dir, &["audit", "archive"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no audit partition is due"), "{out}");

    // tampering with the archived object is detected
    let tampered =
        String::from_utf8(bytes)
            .unwrap()
            .replacen("tenant:acme:legacy", "tenant:acme:someone", 1);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, tampered).unwrap();
    let (code, out) = run(&db, &dir, &["audit", "verify-archive", &part]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("does NOT match: the object's SHA-256 differs"),
        "{out}"
    );
    let check = archive::verify_archive(&db.app, &LocalDirWorm::new(&dir), &part)
        .await
        .unwrap();
    assert!(!check.is_intact());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn archiving_to_s3_locks_the_object_and_detach_is_refused_unless_archived_and_old_enough() {
    let db = TestDb::new().await;
    let older = old_partition(&db, 17, 20).await;
    let old = old_partition(&db, 14, 30).await;
    let recent = old_partition(&db, 12, 5).await;
    current_entries(&db).await;
    audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap();

    // the application cannot detach what is not archived, nor anything younger than 13 months
    for (p, why) in [
        (&old, "has not been archived"),
        (&recent, "younger than 13 months"),
    ] {
        let err = sqlx::query("SELECT numbering.detach_audit_partition($1)")
            .bind(p)
            .execute(&db.app)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(why), "{p}: {err}");
    }
    let err = sqlx::query(&format!(
        "ALTER TABLE numbering.audit_log DETACH PARTITION numbering.{old}"
    ))
    .execute(&db.app)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("must be owner"), "{err}");

    let moto = TestMoto::start();
    let worm = S3Worm::new(moto.s3().await, "audit-archive", "numbering");
    worm.ensure_bucket().await.unwrap();
    let outcomes = archive::archive_due(&db.app, &worm, false).await.unwrap();
    let archived: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Archived(a) => (a.partition.clone(), a.entry_count),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(archived, [(older.clone(), 20), (old.clone(), 30)]);

    let key: String =
        sqlx::query_scalar("SELECT object_key FROM numbering.audit_archives WHERE partition = $1")
            .bind(&old)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    let head = worm
        .client()
        .head_object()
        .bucket("audit-archive")
        .key(worm.object_key(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode
            .map(|m| m.as_str().to_owned())
            .as_deref(),
        Some("COMPLIANCE")
    );
    let years = (head.object_lock_retain_until_date.unwrap().secs()
        - chrono::Utc::now().timestamp())
        / (365 * 24 * 3600);
    assert!((6..=7).contains(&years), "{years}");

    let partitions = audit_jobs::partitions(&db.app).await.unwrap();
    assert!(!partitions.contains(&older) && !partitions.contains(&old));
    assert!(
        partitions.contains(&recent),
        "the 12-month-old partition stays hot"
    );

    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.checked, report.archived), (5 + 14, 50));
    for p in [&older, &old] {
        let check = archive::verify_archive(&db.app, &worm, p).await.unwrap();
        assert!(check.is_intact(), "{check:?}");
    }
    assert_eq!(
        archive::verify_archive(&db.app, &worm, &older)
            .await
            .unwrap()
            .entries_verified,
        20
    );
}
