//! `numbering seed legacy-leases`: legacy leases enter through the normal
//! lifecycle, with their audit trail, and a re-run changes nothing.

use chrono::{DateTime, Utc};
use numbering_store::audit;
use numbering_tests::{TestDb, numbering_bin, tenant_ctx};

const HEADER: &str = "identifier,tenant_id,leased_at,term_end,auto_renew\n";

fn seed(db: &TestDb, csv: &std::path::Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(numbering_bin())
        .args(["seed", "legacy-leases"])
        .arg(format!("--csv={}", csv.display()))
        .env_clear()
        .env("DATABASE_URL", &db.owner_url)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A CSV file under the system temp dir, removed when dropped.
struct Csv(std::path::PathBuf);

impl Drop for Csv {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write_csv(body: &str) -> Csv {
    let path = std::env::temp_dir().join(format!("legacy-{}.csv", uuid::Uuid::new_v4()));
    std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
    Csv(path)
}

/// Audit entries, outbox rows and leases: what a re-run must not change.
async fn footprint(db: &TestDb) -> (i64, i64, i64) {
    (
        db.count("numbering.audit_log").await,
        db.count("numbering.outbox").await,
        db.count("numbering.leases").await,
    )
}

#[tokio::test]
async fn seeding_assigns_every_row_with_a_reserve_and_an_assign_entry_and_a_rerun_changes_nothing()
{
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.pool_for("globex").await;
    let ids = db
        .inventory(&["+93790000001", "+93790000002", "12345"])
        .await;
    let csv = write_csv(
        "+93790000001,acme,2025-06-01T08:00:00Z,2031-06-01T08:00:00Z,true\n\
         +93790000002,acme,2025-07-15,2030-07-15,false\n\
         12345,globex,2024-01-01T00:00:00+04:30,2032-01-01T00:00:00Z,true\n",
    );

    let (code, out) = seed(&db, &csv.0);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("3 rows, 3 seeded, 0 already seeded, 0 failed"),
        "{out}"
    );

    for (id, tenant) in ids.iter().zip(["acme", "acme", "globex"]) {
        let n = db.store.number(id).await.unwrap().unwrap();
        assert_eq!(n.state.as_str(), "ASSIGNED", "{id}");
        assert_eq!(n.tenant_id.unwrap().as_str(), tenant);
        // one audit entry per lifecycle step, in order, by the seeding actor
        let trail: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT action, actor, after::text FROM numbering.audit_log WHERE subject = $1 ORDER BY id",
        )
        .bind(id.as_str())
        .fetch_all(&db.owner)
        .await
        .unwrap();
        let actions: Vec<_> = trail.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(actions, ["reserve", "assign"], "{id}");
        assert!(
            trail
                .iter()
                .all(|t| t.1 == format!("tenant:{tenant}:legacy-seed"))
        );
        assert!(
            trail[1]
                .2
                .as_deref()
                .unwrap()
                .contains("\"legacy_seed\":true")
        );
        let events: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM numbering.outbox WHERE aggregate_id = $1 \
             AND event_type IN ('number.reserved.v1', 'number.assigned.v1')",
        )
        .bind(id.as_str())
        .fetch_one(&db.owner)
        .await
        .unwrap();
        assert_eq!(events, 2, "{id}: a reserve and an assign event");
    }
    // the lease keeps its legacy term
    let (started, ends, auto_renew): (DateTime<Utc>, DateTime<Utc>, bool) = sqlx::query_as(
        "SELECT started_at, term_end, auto_renew FROM numbering.leases WHERE identifier = '+93790000002'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(started.to_rfc3339(), "2025-07-15T00:00:00+00:00");
    assert_eq!(ends.to_rfc3339(), "2030-07-15T00:00:00+00:00");
    assert!(!auto_renew);
    let started: DateTime<Utc> =
        sqlx::query_scalar("SELECT started_at FROM numbering.leases WHERE identifier = '12345'")
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(started.to_rfc3339(), "2023-12-31T19:30:00+00:00");

    let before = footprint(&db).await;
    let (code, out) = seed(&db, &csv.0);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("3 rows, 0 seeded, 3 already seeded, 0 failed"),
        "{out}"
    );
    assert_eq!(footprint(&db).await, before, "a re-run writes nothing");

    audit::seal_pending(&db.app, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let report = audit::verify(&db.app).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checked as i64, before.0);
}

#[tokio::test]
async fn failed_rows_are_reported_by_line_and_the_other_rows_still_seed() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let globex = db.pool_for("globex").await;
    let ids = db
        .inventory(&[
            "+93790000001",
            "+93790000002",
            "+93790000003",
            "+93790000004",
        ])
        .await;
    // +93790000003 is leased to globex already
    let r = db
        .store
        .reserve(&tenant_ctx(&globex), &globex, &ids[2])
        .await
        .unwrap();
    db.store
        .assign(&tenant_ctx(&globex), &globex, r.id, true)
        .await
        .unwrap();
    // +93790000004 is leased to acme, with another term
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[3])
        .await
        .unwrap();
    db.store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();
    let csv = write_csv(
        "+93790000001,acme,2025-01-01,2031-01-01,true\n\
         +93790000002,acme,2025-01-01\n\
         not-a-number!,acme,2025-01-01,2031-01-01,true\n\
         +93790000099,acme,2025-01-01,2031-01-01,true\n\
         +93790000003,acme,2025-01-01,2031-01-01,true\n\
         +93790000004,acme,2025-01-01,2031-01-01,true\n\
         +93790000002,acme,2025-01-01,2020-01-01,true\n\
         +93790000002,acme,2025-01-01,2031-01-01,yes\n\
         +93790000002,acme,2025-01-01,2031-01-01,false\n",
    );
    let (code, out) = seed(&db, &csv.0);
    assert_eq!(code, Some(1), "a failed row fails the run: {out}");
    for expected in [
        "line 3: +93790000002: malformed row: 3 fields, expected 5",
        "line 4: not-a-number!: malformed row: identifier",
        "line 5: +93790000099: unknown identifier",
        "line 6: +93790000003: wrong state: ASSIGNED to another tenant",
        "line 7: +93790000004: wrong state: already ASSIGNED to this tenant by lease",
        "line 8: +93790000002: malformed row: term_end is not after leased_at",
        "line 9: +93790000002: malformed row: auto_renew",
        "9 rows, 2 seeded, 0 already seeded, 7 failed",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let lease = |id: usize| {
        let id = ids[id].clone();
        let store = db.store.clone();
        async move { store.snapshot(&id).await.unwrap().unwrap() }
    };
    for i in [0, 1] {
        let s = lease(i).await;
        assert_eq!(s.state.as_str(), "ASSIGNED");
        assert_eq!(s.tenant_id.as_ref(), Some(&acme));
    }
    assert_eq!(lease(2).await.tenant_id.as_ref(), Some(&globex));
    // the refused rows wrote nothing: no reservation was left behind
    assert_eq!(
        db.count("numbering.reservations WHERE status IN ('RESERVED', 'HELD')")
            .await,
        0
    );
    let active: Vec<(String, String)> =
        sqlx::query_as("SELECT identifier, status::text FROM numbering.leases ORDER BY identifier")
            .fetch_all(&db.owner)
            .await
            .unwrap();
    assert_eq!(active.len(), 4, "{active:?}");
    assert!(active.iter().all(|(_, s)| s == "ACTIVE"), "{active:?}");
}
