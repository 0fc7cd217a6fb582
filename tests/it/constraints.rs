//! The database itself refuses double leases and double live reservations,
//! whatever the code does.

use numbering_store::is_constraint_violation;
use numbering_tests::{TestDb, tenant_ctx};

#[tokio::test]
async fn raw_sql_cannot_insert_a_second_active_lease_for_one_identifier() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93781112223"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    db.store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();

    let second = sqlx::query(
        "INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, term_end) \
         SELECT gen_random_uuid(), id, identifier, kind, 'globex', now() + interval '30 days' \
         FROM numbering.numbers WHERE identifier = $1",
    )
    .bind(id.as_str())
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        is_constraint_violation(&second, "leases_one_active_per_number"),
        "{second}"
    );

    // a suspended lease is still current
    let suspended = sqlx::query(
        "INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, status, suspended_by, term_end) \
         SELECT gen_random_uuid(), id, identifier, kind, 'globex', 'SUSPENDED', 'admin:x', now() + interval '30 days' \
         FROM numbering.numbers WHERE identifier = $1",
    )
    .bind(id.as_str())
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        is_constraint_violation(&suspended, "leases_one_active_per_number"),
        "{suspended}"
    );
}

#[tokio::test]
async fn raw_sql_cannot_insert_a_second_live_reservation_for_one_identifier() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93771112223"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    db.store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();

    for status in ["RESERVED", "HELD"] {
        let err = sqlx::query(
            "INSERT INTO numbering.reservations (id, number_id, identifier, kind, tenant_id, status, expires_at) \
             SELECT gen_random_uuid(), id, identifier, kind, 'globex', $2::numbering.reservation_status, \
                    now() + interval '1 hour' \
             FROM numbering.numbers WHERE identifier = $1",
        )
        .bind(id.as_str())
        .bind(status)
        .execute(&db.owner)
        .await
        .unwrap_err();
        assert!(
            is_constraint_violation(&err, "reservations_one_live_per_number"),
            "{err}"
        );
    }
    // ended reservations do not count
    sqlx::query(
        "INSERT INTO numbering.reservations (id, number_id, identifier, kind, tenant_id, status, expires_at, ended_at) \
         SELECT gen_random_uuid(), id, identifier, kind, 'globex', 'CANCELLED', now() + interval '1 hour', now() \
         FROM numbering.numbers WHERE identifier = $1",
    )
    .bind(id.as_str())
    .execute(&db.owner)
    .await
    .expect("an ended reservation beside a live one is fine");
}

#[tokio::test]
async fn raw_sql_cannot_put_one_identifier_in_inventory_twice() {
    let db = TestDb::new().await;
    db.inventory(&["ACME-BANK"]).await;
    let err = sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind) VALUES ('Acme-Bank', 'ACME-BANK', 'ALPHA')",
    )
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        is_constraint_violation(&err, "numbers_identity_unique"),
        "{err}"
    );
}

#[tokio::test]
async fn a_quarantine_shorter_than_the_floor_is_refused_by_the_database() {
    let db = TestDb::new().await;
    db.inventory(&["+93701112223"]).await;
    let err = sqlx::query(
        "INSERT INTO numbering.quarantine_records (id, number_id, identifier, kind, previous_tenant_id, reason, ends_at) \
         SELECT gen_random_uuid(), id, identifier, kind, 'acme', 'RELEASED', now() + interval '1 hour' \
         FROM numbering.numbers",
    )
    .execute(&db.owner)
    .await
    .unwrap_err();
    assert!(
        is_constraint_violation(&err, "quarantine_cool_off_floor"),
        "{err}"
    );
}

/// The per-tenant count of current leases (what every reservation's quota
/// check reads) is kept by the database, whatever writes the leases: it
/// always equals a fresh count, and the application role cannot write it.
#[tokio::test]
async fn the_current_lease_counter_follows_every_lease_change() {
    use numbering_store::LifecycleError;
    use numbering_tests::{admin_ctx, lease_all, system_ctx};

    let db = TestDb::new().await;
    let ids = db
        .inventory(&[
            "+93781110001",
            "+93781110002",
            "+93781110003",
            "+93781110004",
        ])
        .await;
    let acme = db.pool_with("acme", 3, 0, 0, &[], true).await;
    db.pool_for("globex").await;
    let drift = |db: &TestDb| {
        let owner = db.owner.clone();
        async move {
            let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT t.tenant_id, t.kind::text, coalesce(c.current_leases, 0)::bigint, t.n FROM \
                   (SELECT tenant_id, kind, count(*) FILTER (WHERE status IN ('ACTIVE', 'SUSPENDED')) AS n \
                      FROM numbering.leases GROUP BY 1, 2) t \
                 LEFT JOIN numbering.tenant_lease_counts c USING (tenant_id, kind)",
            )
            .fetch_all(&owner)
            .await
            .unwrap();
            assert!(!rows.is_empty());
            for (tenant, kind, counted, actual) in rows {
                assert_eq!(counted, actual, "{tenant} {kind}");
            }
        }
    };
    let counter = |tenant: &'static str| {
        let owner = db.owner.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT current_leases FROM numbering.tenant_lease_counts WHERE tenant_id = $1 AND kind = 'MSISDN'",
            )
            .bind(tenant)
            .fetch_optional(&owner)
            .await
            .unwrap()
            .unwrap_or(0)
        }
    };

    let leases = lease_all(&db, &acme, &ids[..3]).await;
    assert_eq!(counter("acme").await, 3);
    drift(&db).await;
    // the quota (3) counts them: a fourth reservation is refused
    let full = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[3])
        .await
        .unwrap_err();
    assert!(matches!(full, LifecycleError::QuotaExceeded(_)), "{full:?}");

    // suspended still counts; reinstated, still one
    db.store.suspend(&system_ctx(), &ids[0]).await.unwrap();
    assert_eq!(counter("acme").await, 3);
    db.store.reinstate(&system_ctx(), &ids[0]).await.unwrap();
    assert_eq!(counter("acme").await, 3);
    // released and recalled leases no longer count
    db.store
        .release(&tenant_ctx(&acme), &acme, leases[1].id)
        .await
        .unwrap();
    db.store.recall(&admin_ctx(), &ids[2]).await.unwrap();
    assert_eq!(counter("acme").await, 1);
    drift(&db).await;
    // room again under the quota
    lease_all(&db, &acme, &ids[3..]).await;
    assert_eq!(counter("acme").await, 2);
    assert_eq!(counter("globex").await, 0);

    // raw SQL that bypasses the store is counted too, and a deleted lease
    sqlx::query("UPDATE numbering.leases SET tenant_id = 'globex' WHERE identifier = $1")
        .bind(ids[3].as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!((counter("acme").await, counter("globex").await), (1, 1));
    drift(&db).await;

    // the application role reads its own tenant's counter, and cannot write it
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.tenant_id', 'globex', true), set_config('numbering.scope', 'tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let visible: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM numbering.tenant_lease_counts")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(visible, ["globex"]);
    let write = sqlx::query("UPDATE numbering.tenant_lease_counts SET current_leases = 0")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(write.to_string().contains("permission denied"), "{write}");
}

#[tokio::test]
async fn raw_sql_cannot_port_a_number_home_to_a_short_code_or_to_codes_not_the_recipients() {
    let db = TestDb::new().await;
    db.inventory(&["+93790000001", "4455"]).await;
    sqlx::query(
        "INSERT INTO numbering.mno_signing_keys (key_id, algorithm, public_key_pem) \
         VALUES ('atra', 'ed25519', 'pem')",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO numbering.porting_batches (id, source, source_ref, key_id, total_rows, created_by) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'file', 'sha', 'atra', 1, 'test')",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let port = |identifier: &'static str, operator: &'static str, mnc: &'static str| {
        sqlx::query(
            "INSERT INTO numbering.portings (number_id, recipient_operator_id, recipient_mcc, recipient_mnc, ported_at, batch_id) \
             SELECT n.id, $2, '412', $3, now(), '00000000-0000-0000-0000-000000000001' \
             FROM numbering.numbers n WHERE n.identifier = $1",
        )
        .bind(identifier)
        .bind(operator)
        .bind(mnc)
        .execute(&db.owner)
    };
    for (identifier, operator, mnc, constraint) in [
        ("+93790000001", "roshan", "40", "portings_not_home"),
        ("4455", "etisalat-af", "50", "portings_msisdn_only"),
        (
            "+93790000001",
            "etisalat-af",
            "20",
            "portings_recipient_codes",
        ),
    ] {
        let e = port(identifier, operator, mnc).await.unwrap_err();
        let name = e.as_database_error().and_then(|d| d.constraint());
        assert_eq!(name, Some(constraint), "{identifier} → {operator}: {e}");
    }
    port("+93790000001", "etisalat-af", "50").await.unwrap();
    assert_eq!(db.count("numbering.portings").await, 1);
}
