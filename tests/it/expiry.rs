//! A reservation is expired from the second its TTL passes, wherever it is
//! read, whether or not a sweeper has run.

use numbering_shared::{NumberState, ReservationId};
use numbering_store::{LifecycleError, ReservationStatus};
use numbering_tests::{TestDb, system_ctx, tenant_ctx};

/// Moves reservation `id` (and its number) one second past its TTL.
async fn lapse_one_second_ago(db: &TestDb, id: ReservationId) {
    sqlx::query(
        "WITH r AS (UPDATE numbering.reservations SET created_at = now() - interval '1 hour', \
                        expires_at = now() - interval '1 second' WHERE id = $1 RETURNING number_id) \
         UPDATE numbering.numbers SET reserved_until = now() - interval '1 second' \
         WHERE id = (SELECT number_id FROM r)",
    )
    .bind(id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_reservation_whose_ttl_passed_a_second_ago_cannot_be_held_or_assigned() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93791230001"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    lapse_one_second_ago(&db, r.id).await;

    let held = db
        .store
        .hold(&tenant_ctx(&acme), &acme, r.id)
        .await
        .unwrap_err();
    assert!(
        matches!(held, LifecycleError::ReservationExpired(_)),
        "{held:?}"
    );
    let assigned = db
        .store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap_err();
    assert!(
        matches!(assigned, LifecycleError::ReservationExpired(_)),
        "{assigned:?}"
    );
    assert_eq!(db.count("numbering.leases").await, 0);

    // every read already sees it as expired, with no sweeper having run
    let seen = db.store.reservation(&acme, r.id).await.unwrap().unwrap();
    assert_eq!(seen.status, ReservationStatus::Expired);
    let snapshot = db.store.snapshot(&id).await.unwrap().unwrap();
    assert_eq!(snapshot.state, NumberState::Available);
    assert_eq!(
        db.store.number(&id).await.unwrap().unwrap().state,
        NumberState::Available
    );
}

#[tokio::test]
async fn a_lapsed_hold_cannot_be_assigned_either() {
    let db = TestDb::new().await;
    let id = db.inventory(&["4461"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    db.store
        .hold(&tenant_ctx(&acme), &acme, r.id)
        .await
        .unwrap();
    lapse_one_second_ago(&db, r.id).await;
    let err = db
        .store
        .assign(&tenant_ctx(&acme), &acme, r.id, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LifecycleError::ReservationExpired(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_lapsed_reservation_does_not_block_another_tenant_and_its_expiry_is_recorded() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93771230002"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    let globex = db.pool_for("globex").await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    lapse_one_second_ago(&db, r.id).await;

    let theirs = db
        .store
        .reserve(&tenant_ctx(&globex), &globex, &id)
        .await
        .expect("the lapsed one does not block");
    assert_eq!(theirs.tenant_id, globex);
    // acme's reservation was expired (by the system) in the same transaction
    let status: String =
        sqlx::query_scalar("SELECT status::text FROM numbering.reservations WHERE id = $1")
            .bind(r.id.as_uuid())
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert_eq!(status, "EXPIRED");
    assert_eq!(db.count("numbering.audit_log WHERE action = 'expire_reservation' AND actor = 'system:reservation-expiry'").await, 1);
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.reservation_expired.v1'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_lapsed_reservation_does_not_count_against_the_quota() {
    let db = TestDb::new().await;
    let ids = db.inventory(&["+93701230003", "+93701230004"]).await;
    let acme = db.pool_with("acme", 1, 0, 0, &[], false).await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[0])
        .await
        .unwrap();
    let full = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[1])
        .await
        .unwrap_err();
    assert!(matches!(full, LifecycleError::QuotaExceeded(_)), "{full:?}");
    lapse_one_second_ago(&db, r.id).await;
    db.store
        .reserve(&tenant_ctx(&acme), &acme, &ids[1])
        .await
        .expect("quota freed by expiry");
}

#[tokio::test]
async fn the_sweeper_expires_lapsed_reservations_and_leaves_live_ones() {
    let db = TestDb::new().await;
    let ids = db.inventory(&["+93741230005", "+93741230006"]).await;
    let acme = db.pool_for("acme").await;
    let lapsed = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[0])
        .await
        .unwrap();
    db.store
        .reserve(&tenant_ctx(&acme), &acme, &ids[1])
        .await
        .unwrap();
    lapse_one_second_ago(&db, lapsed.id).await;
    assert_eq!(
        db.store
            .expire_lapsed_reservations(&system_ctx(), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.store
            .expire_lapsed_reservations(&system_ctx(), 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.count("numbering.reservations WHERE status = 'RESERVED'")
            .await,
        1
    );
}
