//! The audit trail is append-only for the application and tamper-evident
//! for everyone else.

use numbering_export::checkpoint::{
    Checkpoint, CheckpointError, Checkpointer, SignedCheckpoint, verify_and_checkpoint,
};
use numbering_shared::TenantId;
use numbering_store::audit::{self, BreakKind};
use numbering_tests::{TestDb, tenant_ctx};

const SEAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A database with a sealed chain of 14 entries: 7 identifiers reserved
/// then cancelled.
pub(crate) async fn chain_of_fourteen() -> TestDb {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db
        .inventory(&[
            "+93790000001",
            "+93790000002",
            "+93790000003",
            "+93790000004",
            "+93790000005",
            "+93790000006",
            "+93790000007",
        ])
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
    assert_eq!(
        audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap(),
        14
    );
    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 14);
    db
}

/// The audit entry id sealed at chain position `seq`.
pub(crate) async fn entry_at(db: &TestDb, seq: i64) -> i64 {
    sqlx::query_scalar("SELECT entry_id FROM numbering.audit_chain WHERE seq = $1")
        .bind(seq)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

/// Runs `sql` as a superuser who has switched off triggers and rules
/// (session_replication_role = replica): the strongest insider.
pub(crate) async fn tamper(db: &TestDb, sql: &str, entry_ids: &[i64]) {
    let mut tx = db.owner.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut q = sqlx::query(sql);
    for id in entry_ids {
        q = q.bind(id);
    }
    let done = q.execute(&mut *tx).await.unwrap();
    assert!(done.rows_affected() > 0, "tampering changed nothing: {sql}");
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_application_role_cannot_update_delete_or_truncate_the_audit_trail() {
    let db = chain_of_fourteen().await;
    for sql in [
        "UPDATE numbering.audit_log SET actor = 'someone-else'",
        "DELETE FROM numbering.audit_log",
        "TRUNCATE numbering.audit_log",
        "UPDATE numbering.audit_chain SET hash = prev_hash",
        "DELETE FROM numbering.audit_chain",
        "TRUNCATE numbering.audit_chain",
    ] {
        let err = sqlx::query(sql).execute(&db.app).await.expect_err(sql);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{sql}: {err}"); // insufficient_privilege
    }
    // a partition reached directly is no softer
    let partition: String = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'numbering.audit_log'::regclass AND c.relname <> 'audit_log_default' LIMIT 1",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    let err = sqlx::query(&format!("DELETE FROM numbering.{partition}"))
        .execute(&db.app)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(db.count("numbering.audit_log").await, 14);
}

#[tokio::test]
async fn even_a_superuser_is_refused_while_the_protections_stand() {
    let db = chain_of_fourteen().await;
    for sql in [
        "UPDATE numbering.audit_log SET actor = 'x'",
        "DELETE FROM numbering.audit_log",
        "TRUNCATE numbering.audit_log",
        "DELETE FROM numbering.audit_chain",
    ] {
        let err = sqlx::query(sql).execute(&db.owner).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(db.count("numbering.audit_log").await, 14);
}

#[tokio::test]
async fn verify_reports_an_edited_payload_at_its_exact_position() {
    let db = chain_of_fourteen().await;
    let victim = entry_at(&db, 5).await;
    tamper(
        &db,
        "UPDATE numbering.audit_log SET after = '{\"state\":\"AVAILABLE\"}' WHERE id = $1",
        &[victim],
    )
    .await;
    let report = audit::verify(&db.app).await.unwrap();
    let broken = report.first_break.expect("the edit is detected");
    assert_eq!(broken.position, 5);
    assert_eq!(broken.kind, BreakKind::EntryAltered { entry_id: victim });
    assert_eq!(report.checked, 4);
}

#[tokio::test]
async fn verify_reports_a_deleted_entry_at_its_exact_position() {
    let db = chain_of_fourteen().await;
    let victim = entry_at(&db, 9).await;
    tamper(
        &db,
        "DELETE FROM numbering.audit_log WHERE id = $1",
        &[victim],
    )
    .await;
    let broken = audit::verify(&db.app)
        .await
        .unwrap()
        .first_break
        .expect("the deletion is detected");
    assert_eq!(broken.position, 9);
    assert_eq!(broken.kind, BreakKind::MissingEntry { entry_id: victim });
}

#[tokio::test]
async fn verify_reports_an_entry_deleted_with_its_link_at_its_exact_position() {
    let db = chain_of_fourteen().await;
    let victim = entry_at(&db, 11).await;
    tamper(
        &db,
        "DELETE FROM numbering.audit_log WHERE id = $1",
        &[victim],
    )
    .await;
    tamper(
        &db,
        "DELETE FROM numbering.audit_chain WHERE entry_id = $1",
        &[victim],
    )
    .await;
    let broken = audit::verify(&db.app)
        .await
        .unwrap()
        .first_break
        .expect("the deletion is detected");
    assert_eq!(broken.position, 11);
    assert_eq!(broken.kind, BreakKind::MissingLink);
}

#[tokio::test]
async fn verify_reports_two_swapped_entries_at_the_first_of_them() {
    let db = chain_of_fourteen().await;
    let (a, b) = (entry_at(&db, 3).await, entry_at(&db, 8).await);
    tamper(
        &db,
        "UPDATE numbering.audit_log x SET actor = y.actor, action = y.action, subject = y.subject, \
                before = y.before, after = y.after \
         FROM numbering.audit_log y WHERE (x.id, y.id) IN (($1, $2), ($2, $1))",
        &[a, b],
    )
    .await;
    let broken = audit::verify(&db.app)
        .await
        .unwrap()
        .first_break
        .expect("the swap is detected");
    assert_eq!(broken.position, 3);
    assert_eq!(broken.kind, BreakKind::EntryAltered { entry_id: a });
}

#[tokio::test]
async fn verify_reports_an_entry_slipped_into_the_sealed_range() {
    let db = chain_of_fourteen().await;
    // an insider inserts a back-dated entry ordered before the sealed head
    let first: i64 = entry_at(&db, 1).await;
    tamper(
        &db,
        "INSERT INTO numbering.audit_log (id, txid, actor, action, subject) OVERRIDING SYSTEM VALUE \
         SELECT $1 + 1000000, txid, 'admin:mallory', 'release', '+93790000001' FROM numbering.audit_log WHERE id = $1",
        &[first],
    )
    .await;
    let broken = audit::verify(&db.app)
        .await
        .unwrap()
        .first_break
        .expect("the insertion is detected");
    assert_eq!(broken.position, 2);
    assert!(
        matches!(broken.kind, BreakKind::UnsealedEntry { .. }),
        "{broken:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_sealers_keep_one_intact_chain() {
    let db = TestDb::new().await;
    let mut writers = Vec::new();
    for w in 0..6 {
        let tenant = db.pool_for(&format!("writer-{w}")).await;
        let ids = db
            .inventory(&[
                &format!("+9379{w}00{:04}", 0),
                &format!("+9379{w}00{:04}", 1),
            ])
            .await;
        let store = db.store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..15 {
                let id = &ids[i % 2];
                let r = store
                    .reserve(&tenant_ctx(&tenant), &tenant, id)
                    .await
                    .unwrap();
                store
                    .cancel(&tenant_ctx(&tenant), &tenant, r.id)
                    .await
                    .unwrap();
            }
        }));
    }
    let sealers: Vec<_> = (0..2)
        .map(|_| {
            let pool = db.app.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    audit::seal(&pool, 7).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for s in sealers {
        s.await.unwrap();
    }
    audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap();
    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked, 6 * 15 * 2);
    assert_eq!(
        db.count("numbering.audit_chain").await,
        db.count("numbering.audit_log").await
    );
}

/// A fresh directory for the export signer's key and the write-once store
/// (where `numbering audit verify` keeps its checkpoints).
fn data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "numbering-exports-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}

#[tokio::test]
async fn the_audit_verify_command_reports_the_exact_position_and_fails() {
    let db = chain_of_fourteen().await;
    let dir = data_dir();
    let run = || {
        std::process::Command::new(numbering_tests::numbering_bin())
            .args(["audit", "verify"])
            .env_clear()
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", &dir)
            .output()
            .unwrap()
    };
    let intact = run();
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert!(
        intact.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(
        stdout.contains("audit chain intact: 14 entries verified"),
        "{stdout}"
    );

    let victim = entry_at(&db, 6).await;
    tamper(
        &db,
        "UPDATE numbering.audit_log SET actor = 'admin:nobody' WHERE id = $1",
        &[victim],
    )
    .await;
    let broken = run();
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN at position 6: entry {victim} altered")),
        "{stdout}"
    );
}

/// The fast path of `verify` (streamed, hashed in place) and the exact walk
/// must read every entry the same way: over NULL fields, non-ASCII text,
/// JSON spacing and microsecond timestamps the fast path proves the chain
/// intact — or every verify would silently take the slow walk.
#[tokio::test]
async fn the_fast_path_proves_an_intact_chain_over_nulls_unicode_and_json() {
    let db = chain_of_fourteen().await;
    sqlx::query(
        "INSERT INTO numbering.audit_log (occurred_at, actor, action, tenant_id, subject, before, after, request_id) VALUES \
         ('2026-11-26 10:11:12.345678+00', 'admin:Zoë', 'note', NULL, NULL, NULL, '{\"x\" : \"ñ ✓\", \"n\": [1, 2.50]}', NULL), \
         (now(), 'system:sweeper', 'ünïcode ✓', 'acme', '+93790000001', '{ }', '{\"a\":null}', 'req-☃'), \
         ('1999-12-31 23:59:59.999999+00', 'x', '', '', '', '\"\"', '[]', '')",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    assert_eq!(audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap(), 3);
    let fast = audit::verify_fast_path(&db.app)
        .await
        .unwrap()
        .expect("the fast path proves the intact chain");
    assert_eq!((fast.checked, fast.pending), (17, 0));
    assert_eq!(fast.head, audit::verify(&db.app).await.unwrap().head);

    // one changed byte of JSON spacing: the fast path no longer proves it,
    // and the exact walk names the entry
    let id = entry_at(&db, 15).await;
    tamper(
        &db,
        "UPDATE numbering.audit_log SET after = '{\"x\": \"ñ ✓\", \"n\": [1, 2.50]}' WHERE id = $1",
        &[id],
    )
    .await;
    assert!(audit::verify_fast_path(&db.app).await.unwrap().is_none());
    let report = audit::verify(&db.app).await.unwrap();
    assert_eq!(report.first_break.map(|b| b.position), Some(15));
}

/// Tampering with the links themselves: the fast path never vouches for
/// such a chain, and the exact walk names the position.
#[tokio::test]
async fn the_fast_path_proves_no_chain_whose_links_were_forged() {
    let cases = [
        // a link that no longer continues its predecessor
        (
            "UPDATE numbering.audit_chain SET prev_hash = hash WHERE entry_id = $1",
            5,
        ),
        // a link whose stored hash was replaced
        (
            "UPDATE numbering.audit_chain SET hash = sha256(hash) WHERE entry_id = $1",
            7,
        ),
        // a link that names another transaction than its entry's
        (
            "UPDATE numbering.audit_chain SET entry_txid = ((entry_txid::text)::bigint + 1)::text::xid8 \
             WHERE entry_id = $1",
            9,
        ),
    ];
    for (sql, position) in cases {
        let db = chain_of_fourteen().await;
        let victim = entry_at(&db, position).await;
        tamper(&db, sql, &[victim]).await;
        assert!(
            audit::verify_fast_path(&db.app).await.unwrap().is_none(),
            "{sql}"
        );
        let report = audit::verify(&db.app).await.unwrap();
        assert_eq!(
            report.first_break.map(|b| b.position),
            Some(position),
            "{sql}"
        );
    }
}

/// The fast path stops reading its COPY streams at the first mismatch; the
/// connections it leaves mid-COPY must not go back into the pool, or the
/// next statement on them would read the rest of the old data.
#[tokio::test]
async fn a_fast_path_that_stops_early_leaves_the_pool_usable() {
    let db = TestDb::new().await;
    sqlx::query(
        "INSERT INTO numbering.audit_log (actor, action, subject, after) \
         SELECT 'system:test', 'note', 'row-' || g, json_build_object('g', g, 'pad', repeat('x', 200)) \
         FROM generate_series(1, 20000) g",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap(),
        20000
    );
    let victim = entry_at(&db, 2).await;
    tamper(
        &db,
        "UPDATE numbering.audit_log SET actor = 'admin:nobody' WHERE id = $1",
        &[victim],
    )
    .await;
    for _ in 0..3 {
        assert!(audit::verify_fast_path(&db.app).await.unwrap().is_none());
        let report = audit::verify(&db.app).await.unwrap();
        assert_eq!(
            report.first_break,
            Some(audit::ChainBreak {
                position: 2,
                kind: BreakKind::EntryAltered { entry_id: victim }
            })
        );
        for _ in 0..25 {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM numbering.audit_chain")
                .fetch_one(&db.app)
                .await
                .unwrap();
            assert_eq!(n, 20000);
        }
    }
}

#[tokio::test]
async fn verify_reports_a_sealed_entry_copied_past_the_head() {
    let db = chain_of_fourteen().await;
    // the id of a sealed entry inserted again with a txid after the head:
    // sorted among the pending entries, but the link of that id now meets
    // two entries
    let seventh = entry_at(&db, 7).await;
    tamper(
        &db,
        "INSERT INTO numbering.audit_log (id, txid, actor, action, subject) OVERRIDING SYSTEM VALUE \
         SELECT id, (txid::text::bigint + 1000000)::text::xid8, actor, action, subject \
         FROM numbering.audit_log WHERE id = $1",
        &[seventh],
    )
    .await;
    assert_eq!(
        audit::verify_fast_path(&db.app).await.unwrap(),
        None,
        "the fast path does not prove this chain"
    );
    let broken = audit::verify(&db.app)
        .await
        .unwrap()
        .first_break
        .expect("the copy is detected");
    // the exact walk meets the copy right after the original (position 8)
    // or before it (position 7), as the join returns them
    assert!([7, 8].contains(&broken.position), "{broken:?}");
}

/// Deletes the entries sealed at `from_seq` and after, with their links, as
/// a superuser with triggers and rules off: the chain left is shorter and
/// intact in itself.
async fn truncate_from(db: &TestDb, from_seq: i64) {
    let mut tx = db.owner.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    for sql in [
        "DELETE FROM numbering.audit_log WHERE id IN (SELECT entry_id FROM numbering.audit_chain WHERE seq >= $1)",
        "DELETE FROM numbering.audit_chain WHERE seq >= $1",
    ] {
        let n = sqlx::query(sql)
            .bind(from_seq)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert!(n.rows_affected() > 0, "{sql}");
    }
    tx.commit().await.unwrap();
}

/// The checkpointer of the export tools (local Ed25519 key, local
/// write-once directory), optionally with a second log.
fn checkpointer(tools: &numbering_export::ExportTools) -> Checkpointer {
    Checkpointer::for_exports(tools)
}

#[tokio::test]
async fn deleting_the_newest_entries_with_their_links_is_caught_by_the_signed_checkpoint_and_the_command_exits_1()
 {
    let db = chain_of_fourteen().await;
    let dir = data_dir();
    let run = || {
        let out = std::process::Command::new(numbering_tests::numbering_bin())
            .args(["audit", "verify"])
            .env_clear()
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", &dir)
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
    };
    // the verify run checkpoints the intact head, signed, in the export store
    let (code, out) = run();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("checkpointed seq 14"), "{out}");
    let stored: Vec<_> = std::fs::read_dir(dir.join("exports/audit-checkpoints").join(&db.name))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1);

    truncate_from(&db, 12).await;
    // the chain alone cannot tell: it is intact in itself
    assert!(audit::verify(&db.app).await.unwrap().is_intact());

    let (code, out) = run();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("BROKEN at position 12: head seq 11 is behind checkpoint seq 14"),
        "{out}"
    );
    // and no checkpoint was written over the evidence
    let stored: Vec<_> = std::fs::read_dir(dir.join("exports/audit-checkpoints").join(&db.name))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_checkpoint_job_refuses_to_checkpoint_a_chain_that_no_longer_reaches_its_newest_checkpoint()
 {
    let db = chain_of_fourteen().await;
    let tools = numbering_tests::app::export_tools();
    let cp = checkpointer(&tools);
    let first = cp
        .checkpoint_head(&db.app)
        .await
        .unwrap()
        .expect("a first checkpoint");
    assert_eq!(first.seq, 14);
    assert!(
        cp.checkpoint_head(&db.app).await.unwrap().is_none(),
        "nothing new to checkpoint"
    );

    // cut the chain at 12 and grow it again past the checkpoint
    truncate_from(&db, 12).await;
    let acme = TenantId::parse("acme").unwrap();
    let ids = db.inventory(&["+93790000011", "+93790000012"]).await;
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
    audit::seal_pending(&db.app, SEAL_TIMEOUT).await.unwrap();
    assert!(
        audit::verify(&db.app).await.unwrap().is_intact(),
        "intact in itself"
    );
    let refused = cp.checkpoint_head(&db.app).await.unwrap_err();
    assert!(
        matches!(refused, CheckpointError::Inconsistent(_)),
        "{refused}"
    );

    let done = verify_and_checkpoint(&db.app, Some(&cp)).await.unwrap();
    let b = done.report.first_break.expect("broken");
    assert_eq!(
        (b.position, b.kind),
        (14, BreakKind::CheckpointMismatch { checkpoint_seq: 14 })
    );
    assert!(
        done.written.unwrap().is_none(),
        "a broken chain is not checkpointed"
    );
}

#[tokio::test]
async fn a_forged_or_unsigned_checkpoint_is_refused_and_trusted_for_nothing() {
    let db = chain_of_fourteen().await;
    let tools = numbering_tests::app::export_tools();
    let cp = checkpointer(&tools);
    let genuine = cp.checkpoint_head(&db.app).await.unwrap().unwrap();

    // a checkpoint far ahead, signed by another key; one with a signature
    // of other bytes; one unsigned; and a genuine one filed under a higher seq
    let other_dir = data_dir();
    let other =
        numbering_export::signer::LocalSigner::load_or_generate(&other_dir.join("k.pem")).unwrap();
    let ahead = Checkpoint {
        origin: db.name.clone(),
        seq: 1000,
        hash: [9; 32],
        time: chrono::Utc::now(),
    };
    let forged = SignedCheckpoint::sign(&other, &ahead).await.unwrap();
    let mut resigned = SignedCheckpoint::sign(tools.signer.as_ref(), &genuine)
        .await
        .unwrap();
    resigned.note = Checkpoint {
        seq: 999,
        ..ahead.clone()
    }
    .note();
    let mut unsigned = forged.clone();
    unsigned.signature.signature = String::new();
    unsigned.note = Checkpoint {
        seq: 998,
        ..ahead.clone()
    }
    .note();
    let real = SignedCheckpoint::sign(tools.signer.as_ref(), &genuine)
        .await
        .unwrap();
    let folder = format!("audit-checkpoints/{}", db.name);
    for (seq, signed) in [
        (1000, &forged),
        (999, &resigned),
        (998, &unsigned),
        (997, &real),
    ] {
        tools
            .store
            .put(
                &format!("{folder}/{seq:020}-forged.json"),
                signed.to_bytes().into(),
                numbering_export::worm::retention_years(1),
            )
            .await
            .unwrap();
    }
    assert!(
        forged
            .open(&tools.signer.identity().await.unwrap().public_key_pem)
            .is_err()
    );

    let done = verify_and_checkpoint(&db.app, Some(&cp)).await.unwrap();
    assert!(done.report.is_intact(), "{:?}", done.report.first_break);
    assert_eq!(done.refused.len(), 4, "{:?}", done.refused);
    assert_eq!(
        done.checkpoint,
        Some(genuine),
        "only the genuine checkpoint counts"
    );
    std::fs::remove_dir_all(&other_dir).ok();
}

#[tokio::test]
async fn checkpoints_go_to_the_numbering_audit_stream_too_and_are_read_back_from_it() {
    let db = chain_of_fourteen().await;
    let nats = numbering_tests::TestNats::start();
    let tools = numbering_tests::app::export_tools();
    // the stream alone: the write-once store of another deployment is empty
    let stream_only = Checkpointer::new(
        tools.signer.clone(),
        vec![std::sync::Arc::new(
            numbering::audit_jobs::JetStreamCheckpoints::new(nats.client().await),
        )],
    );
    let written = stream_only.checkpoint_head(&db.app).await.unwrap().unwrap();
    let newest = stream_only.newest(&db.app, 14).await.unwrap();
    assert_eq!(newest.checkpoint, Some(written));
    let got = numbering_tests::read_stream(
        &nats.client().await,
        "NUMBERING_AUDIT",
        numbering_export::checkpoint::SUBJECT,
        1,
        std::time::Duration::from_secs(10),
    )
    .await;
    let body: serde_json::Value = serde_json::from_slice(&got[0].payload).unwrap();
    numbering_tests::schema::assert_valid(
        &numbering_tests::schema::event_schema(numbering_export::checkpoint::SUBJECT).unwrap(),
        &body,
    );

    truncate_from(&db, 10).await;
    let done = verify_and_checkpoint(&db.app, Some(&stream_only))
        .await
        .unwrap();
    let b = done
        .report
        .first_break
        .expect("truncation detected from the stream's checkpoint");
    assert_eq!(b.position, 10);
    assert_eq!(
        b.kind.to_string(),
        "head seq 9 is behind checkpoint seq 14: the entries after 9 were deleted"
    );
}

#[tokio::test]
async fn get_audit_verify_answers_not_intact_with_the_position_when_the_newest_entries_are_deleted()
{
    use numbering_tests::app::{TestApp, admin_token, edge};
    let app = TestApp::with_edge(chain_of_fourteen().await, edge()).await;
    let path = "/v1/admin/numbering/audit/verify";
    let intact = app.get(&admin_token(), path).await;
    assert_eq!(intact.status, 200, "{:?}", intact.json);
    assert_eq!(intact.json["intact"], true, "{}", intact.json);

    truncate_from(&app.db, 12).await;
    let broken = app.get(&admin_token(), path).await;
    assert_eq!(broken.status, 200);
    assert_eq!(broken.json["intact"], false, "{}", broken.json);
    assert_eq!(broken.json["first_break"]["position"], 12);
    assert_eq!(broken.json["first_break"]["code"], "truncated");
    assert!(
        broken.json["first_break"]["kind"]
            .as_str()
            .unwrap()
            .starts_with("head seq 11 is behind checkpoint seq 14"),
        "{}",
        broken.json
    );
    assert_eq!(broken.json["checkpoint"]["seq"], 14);
}
