//! Expiry and renewal: the lifecycle sweeper with a real gRPC billing
//! stand-in, and the relay publishing what it does.

use std::{sync::atomic::Ordering, time::Duration};

use numbering_lifecycle_sweeper::{Sweeper, SweeperConfig};
use numbering_shared::{LifecyclePolicy, NumberState};
use numbering_store::LeaseStatus;
use numbering_tests::{TestDb, TestNats, lease_all, read_stream, tenant_ctx};
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    clients::{FakeBilling, billing_client, nobody_listening, serve_billing},
    relay::{fast, spawn_relay},
};

async fn sweeper_with(db: &TestDb, billing_url: &str) -> Sweeper {
    Sweeper::new(
        db.store.clone(),
        billing_client(billing_url),
        SweeperConfig::default(),
    )
}

/// Moves the lease's term end to `offset` from now (as if time had passed).
async fn term_ends_in(db: &TestDb, lease: &numbering_store::Lease, offset: &str) {
    sqlx::query(&format!(
        "UPDATE numbering.leases SET started_at = now() - interval '60 days', term_end = now() + interval '{offset}' WHERE id = $1"
    ))
    .bind(lease.id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
}

async fn events_of(db: &TestDb, event_type: &str) -> i64 {
    db.count(&format!(
        "numbering.outbox WHERE event_type = '{event_type}'"
    ))
    .await
}

#[tokio::test]
async fn a_reservation_expiry_is_published_within_two_seconds_of_its_ttl() {
    let policy = LifecyclePolicy {
        reservation_ttl: chrono::Duration::seconds(1),
        ..Default::default()
    };
    let db = TestDb::with_policy(policy).await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let id = db.inventory(&["+93781112223"]).await.remove(0);
    let (_relay_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    let (_stop_tx, stop) = watch::channel(false);
    let sweeper = sweeper_with(&db, &nobody_listening().await).await;
    tokio::spawn(numbering_lifecycle_sweeper::run(
        sweeper,
        Duration::from_secs(60),
        Duration::from_millis(250),
        stop,
    ));

    let r = db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &id)
        .await
        .unwrap();
    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_EVENTS",
        "number.reservation_expired.v1",
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(got.len(), 1, "one expiry event");
    let e: Value = serde_json::from_slice(&got[0].payload).unwrap();
    assert_eq!(e["data"]["reservation_id"], r.id.to_string());
    // when JetStream stored it
    let stored = got[0].info().unwrap().published.unix_timestamp_nanos() as i64;
    let late = chrono::Duration::nanoseconds(stored - r.expires_at.timestamp_nanos_opt().unwrap());
    assert!(
        late < chrono::Duration::seconds(2),
        "published {late} after the TTL"
    );
    assert!(
        late >= chrono::Duration::zero(),
        "not before the TTL: {late}"
    );
    assert_eq!(
        db.store.number(&id).await.unwrap().unwrap().state,
        NumberState::Available
    );
}

#[tokio::test]
async fn auto_renewal_asks_billing_preview_charge_and_renews_on_approval() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223"]).await;
    let lease = lease_all(&db, &tenant, &ids).await.remove(0);
    term_ends_in(&db, &lease, "2 days").await;
    let billing = FakeBilling::default();
    let sweeper = sweeper_with(&db, &serve_billing(billing.clone()).await).await;

    let report = sweeper.sweep().await.unwrap();
    assert_eq!((report.renewed, report.declined), (1, 0), "{report:?}");
    assert_eq!(billing.calls.load(Ordering::SeqCst), 1);
    let renewed = db.store.lease(&tenant, lease.id).await.unwrap().unwrap();
    assert_eq!(renewed.renewals, 1);
    assert!(renewed.term_end > chrono::Utc::now() + chrono::Duration::days(30));
    assert_eq!(events_of(&db, "number.renewed.v1").await, 1);

    // renewed out of the window: not asked again
    sweeper.sweep().await.unwrap();
    assert_eq!(billing.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_declined_charge_is_not_renewed_and_the_lease_expires_at_term_end() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223"]).await;
    let lease = lease_all(&db, &tenant, &ids).await.remove(0);
    let billing = FakeBilling::default();
    billing.decline.store(true, Ordering::SeqCst);
    let sweeper = sweeper_with(&db, &serve_billing(billing.clone()).await).await;

    term_ends_in(&db, &lease, "2 days").await;
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(
        (report.renewed, report.declined, report.leases_expired),
        (0, 1, 0)
    );
    assert_eq!(
        db.store.number(&ids[0]).await.unwrap().unwrap().state,
        NumberState::Assigned
    );
    assert_eq!(billing.calls.load(Ordering::SeqCst), 1);
    // the next sweeps leave the declined lease alone …
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.declined, 0, "{report:?}");
    assert_eq!(billing.calls.load(Ordering::SeqCst), 1);
    // … until a day has passed: then billing is asked again
    sqlx::query(
        "UPDATE numbering.leases SET renewal_declined_at = now() - interval '25 hours' WHERE id = $1",
    )
    .bind(lease.id.as_uuid())
    .execute(&db.owner)
    .await
    .unwrap();
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.declined, 1, "{report:?}");
    assert_eq!(billing.calls.load(Ordering::SeqCst), 2);

    term_ends_in(&db, &lease, "-1 second").await;
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.leases_expired, 1, "{report:?}");
    assert_eq!(
        db.store.number(&ids[0]).await.unwrap().unwrap().state,
        NumberState::Quarantined
    );
    let ended = db.store.lease(&tenant, lease.id).await.unwrap().unwrap();
    assert_eq!(ended.status, LeaseStatus::Ended);
    assert_eq!(events_of(&db, "number.expired.v1").await, 1);
    assert_eq!(events_of(&db, "number.renewed.v1").await, 0);
}

#[tokio::test]
async fn an_unreachable_billing_service_never_expires_a_lease_inside_the_grace_period() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223"]).await;
    let lease = lease_all(&db, &tenant, &ids).await.remove(0);
    let sweeper = sweeper_with(&db, &nobody_listening().await).await;

    term_ends_in(&db, &lease, "-1 minute").await;
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(
        (report.billing_unavailable, report.leases_expired),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(
        db.store.number(&ids[0]).await.unwrap().unwrap().state,
        NumberState::Assigned
    );
    assert_eq!(events_of(&db, "number.expired.v1").await, 0);

    // billing back: the late renewal goes through
    let billing = FakeBilling::default();
    let sweeper = sweeper_with(&db, &serve_billing(billing).await).await;
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(report.renewed, 1, "{report:?}");
}

#[tokio::test]
async fn a_lease_without_auto_renew_expires_at_term_end_without_asking_billing() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let id = db.inventory(&["+93781112223"]).await.remove(0);
    let r = db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &id)
        .await
        .unwrap();
    let lease = db
        .store
        .assign(&tenant_ctx(&tenant), &tenant, r.id, false)
        .await
        .unwrap();
    let billing = FakeBilling::default();
    let sweeper = sweeper_with(&db, &serve_billing(billing.clone()).await).await;
    term_ends_in(&db, &lease, "-1 second").await;
    assert_eq!(sweeper.sweep().await.unwrap().leases_expired, 1);
    assert_eq!(billing.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn concurrent_sweeps_do_each_change_once() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db
        .inventory(&["+93781112223", "+93781112224", "+93781112225"])
        .await;
    let leases = lease_all(&db, &tenant, &ids).await;
    for l in &leases {
        term_ends_in(&db, l, "1 day").await;
    }
    let billing = FakeBilling::default();
    let url = serve_billing(billing.clone()).await;
    let sweepers: Vec<_> = (0..4)
        .map(|_| {
            Sweeper::new(
                db.store.clone(),
                billing_client(&url),
                SweeperConfig::default(),
            )
        })
        .collect();
    let runs = futures_util::future::join_all(sweepers.iter().map(|s| s.sweep())).await;
    let renewed: usize = runs.into_iter().map(|r| r.unwrap().renewed).sum();
    assert_eq!(renewed, 3);
    assert_eq!(events_of(&db, "number.renewed.v1").await, 3);
}

#[tokio::test]
async fn a_served_quarantine_ends_and_the_identifier_is_available_again() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223"]).await;
    let lease = lease_all(&db, &tenant, &ids).await.remove(0);
    db.store
        .release(&tenant_ctx(&tenant), &tenant, lease.id)
        .await
        .unwrap();
    let sweeper = sweeper_with(&db, &nobody_listening().await).await;
    assert_eq!(
        sweeper.sweep().await.unwrap().quarantines_ended,
        0,
        "cool-off not served yet"
    );
    sqlx::query(
        "UPDATE numbering.quarantine_records SET started_at = now() - interval '100 days', ends_at = now() - interval '1 second'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    assert_eq!(sweeper.sweep().await.unwrap().quarantines_ended, 1);
    assert_eq!(
        db.store.number(&ids[0]).await.unwrap().unwrap().state,
        NumberState::Available
    );
    assert_eq!(events_of(&db, "number.quarantine.ended.v1").await, 1);
}

/// A sweep deletes expired Idempotency-Key records and inbound-event
/// records older than their dedupe window, in batches, and nothing else.
#[tokio::test]
async fn a_sweep_prunes_expired_idempotency_keys_and_old_processed_events() {
    let db = TestDb::new().await;
    let billing = serve_billing(FakeBilling::default()).await;
    // 5 expired keys, 2 live ones; 5 events from 40 days ago, 2 recent ones
    sqlx::query(
        "INSERT INTO numbering.idempotency_keys (scope, key, request_fingerprint, created_at, expires_at) \
         SELECT 'acme', 'old-' || g, 'fp', now() - interval '3 days', now() - interval '1 day' FROM generate_series(1, 5) g \
         UNION ALL \
         SELECT 'acme', 'live-' || g, 'fp', now(), now() + interval '1 day' FROM generate_series(1, 2) g",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO numbering.processed_events (event_id, event_type, processed_at) \
         SELECT 'old-' || g, 'billing.paid', now() - interval '40 days' FROM generate_series(1, 5) g \
         UNION ALL \
         SELECT 'new-' || g, 'billing.paid', now() - interval '1 day' FROM generate_series(1, 2) g",
    )
    .execute(&db.owner)
    .await
    .unwrap();

    let sweeper = Sweeper::new(
        db.store.clone(),
        billing_client(&billing),
        SweeperConfig {
            batch: 2, // several batches per table
            ..SweeperConfig::default()
        },
    );
    let report = sweeper.sweep().await.unwrap();
    assert!(report.ran);
    assert_eq!(report.idempotency_keys_pruned, 5);
    assert_eq!(report.processed_events_pruned, 5);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT key FROM numbering.idempotency_keys ORDER BY key")
            .fetch_all(&db.owner)
            .await
            .unwrap();
    assert_eq!(left, ["live-1", "live-2"]);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM numbering.processed_events ORDER BY event_id")
            .fetch_all(&db.owner)
            .await
            .unwrap();
    assert_eq!(left, ["new-1", "new-2"]);

    // nothing left to prune
    let again = sweeper.sweep().await.unwrap();
    assert_eq!(
        (again.idempotency_keys_pruned, again.processed_events_pruned),
        (0, 0)
    );
}
