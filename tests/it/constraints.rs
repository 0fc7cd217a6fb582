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
        "INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, status, term_end) \
         SELECT gen_random_uuid(), id, identifier, kind, 'globex', 'SUSPENDED', now() + interval '30 days' \
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
