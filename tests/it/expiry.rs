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

/// The code of each refusal of `id` by hold, assign and cancel.
async fn refusals_of(
    db: &TestDb,
    acme: &numbering_shared::TenantId,
    id: ReservationId,
) -> Vec<String> {
    let ctx = tenant_ctx(acme);
    vec![
        db.store
            .hold(&ctx, acme, id)
            .await
            .unwrap_err()
            .code()
            .to_owned(),
        db.store
            .assign(&ctx, acme, id, true)
            .await
            .unwrap_err()
            .code()
            .to_owned(),
        db.store
            .cancel(&ctx, acme, id)
            .await
            .unwrap_err()
            .code()
            .to_owned(),
    ]
}

#[tokio::test]
async fn an_expired_reservation_is_refused_as_expired_whether_or_not_the_sweeper_marked_it() {
    let db = TestDb::new().await;
    let ids = db.inventory(&["+93791230011", "+93791230012"]).await;
    let acme = db.pool_for("acme").await;
    let unmarked = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[0])
        .await
        .unwrap();
    let marked = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &ids[1])
        .await
        .unwrap();
    lapse_one_second_ago(&db, unmarked.id).await;
    lapse_one_second_ago(&db, marked.id).await;
    // the sweeper gets to one of them only (it runs whenever it runs)
    sqlx::query("UPDATE numbering.numbers SET reserved_until = now() + interval '1 hour' WHERE identifier = $1")
        .bind(ids[0].as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(
        db.store
            .expire_lapsed_reservations(&system_ctx(), 100)
            .await
            .unwrap(),
        1
    );
    sqlx::query("UPDATE numbering.numbers SET reserved_until = now() - interval '1 second' WHERE identifier = $1")
        .bind(ids[0].as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    let status = |id: ReservationId| {
        sqlx::query_scalar::<_, String>(
            "SELECT status::text FROM numbering.reservations WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_one(&db.owner)
    };
    assert_eq!(status(unmarked.id).await.unwrap(), "RESERVED");
    assert_eq!(status(marked.id).await.unwrap(), "EXPIRED");

    let expired = vec!["RESERVATION_EXPIRED"; 3];
    assert_eq!(
        refusals_of(&db, &acme, unmarked.id).await,
        expired,
        "unmarked"
    );
    assert_eq!(refusals_of(&db, &acme, marked.id).await, expired, "marked");
    assert_eq!(db.count("numbering.leases").await, 0);
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'numbering.ops.invalid_transition.v1'")
            .await,
        0,
        "an expiry is not an invalid transition"
    );
}

#[tokio::test]
async fn an_expired_reservation_is_refused_as_expired_after_another_tenant_took_its_identifier() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93791230013"]).await.remove(0);
    let acme = db.pool_for("acme").await;
    let globex = db.pool_for("globex").await;
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    lapse_one_second_ago(&db, r.id).await;
    db.store
        .reserve(&tenant_ctx(&globex), &globex, &id)
        .await
        .unwrap();
    assert_eq!(
        refusals_of(&db, &acme, r.id).await,
        vec!["RESERVATION_EXPIRED"; 3]
    );
}

#[tokio::test]
async fn a_consumed_reservation_stays_an_invalid_transition_once_its_ttl_has_passed() {
    let db = TestDb::new().await;
    let id = db.inventory(&["+93791230014"]).await.remove(0);
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
    let before = refusals_of(&db, &acme, r.id).await;
    sqlx::query("UPDATE numbering.reservations SET created_at = now() - interval '1 hour', expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(r.id.as_uuid())
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(before, vec!["INVALID_TRANSITION"; 3]);
    assert_eq!(refusals_of(&db, &acme, r.id).await, before);
}
