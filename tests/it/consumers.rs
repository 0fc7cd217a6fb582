//! Inbound events: durable JetStream consumers on a real nats-server.

use std::time::Duration;

use async_nats::jetstream;
use numbering_event_consumer::{ConsumerConfig, EventConsumer};
use numbering_shared::{TenantId, ValidationReason, validation::validate};
use numbering_tests::{TestDb, TestNats, eventually, lease_all, read_stream, tenant_ctx};
use serde_json::json;
use tokio::sync::watch;

fn spawn_consumer(db: &TestDb, client: async_nats::Client) -> watch::Sender<bool> {
    let (stop_tx, stop) = watch::channel(false);
    let config = ConsumerConfig {
        max_deliver: 3,
        ..Default::default()
    };
    tokio::spawn(EventConsumer::new(db.store.clone(), client, config).run(stop));
    stop_tx
}

/// Publishes an inbound event (without a Nats-Msg-Id: a producer's retry
/// that JetStream cannot deduplicate).
async fn send(js: &jetstream::Context, subject: &str, id: &str, data: serde_json::Value) {
    let body = json!({
        "specversion": "1.0", "id": id, "type": subject, "source": "test",
        "time": chrono::Utc::now().to_rfc3339(), "data": data,
    });
    js.publish(subject.to_owned(), body.to_string().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
}

async fn wait_for_stream(js: &jetstream::Context) {
    for _ in 0..200 {
        if js.get_stream("NUMBERING_INBOUND").await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("inbound stream not created");
}

async fn processed(db: &TestDb, id: &str) -> bool {
    db.count(&format!(
        "numbering.processed_events WHERE event_id = '{id}'"
    ))
    .await
        == 1
}

async fn verdict(
    db: &TestDb,
    id: &numbering_shared::Identifier,
    tenant: &TenantId,
) -> ValidationReason {
    let snap = db.store.snapshot(id).await.unwrap();
    validate(snap.as_ref(), tenant, chrono::Utc::now()).reason
}

#[tokio::test]
async fn compliance_tenant_suspended_delivered_twice_recalls_every_lease_once() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db
        .inventory(&["+93781112223", "+93781112224", "ACME-BANK", "+93781112225"])
        .await;
    lease_all(&db, &tenant, &ids[..3]).await;
    db.store
        .reserve(&tenant_ctx(&tenant), &tenant, &ids[3])
        .await
        .unwrap();
    let _stop = spawn_consumer(&db, nats.client().await);
    let js = jetstream::new(nats.client().await);
    wait_for_stream(&js).await;

    let data = json!({ "tenant_id": "acme", "reason": "KYC_FAILED" });
    send(
        &js,
        "compliance.tenant.suspended.v1",
        "evt-compliance-1",
        data.clone(),
    )
    .await;
    send(
        &js,
        "compliance.tenant.suspended.v1",
        "evt-compliance-1",
        data,
    )
    .await;
    eventually(Duration::from_secs(20), "the event processed", || {
        processed(&db, "evt-compliance-1")
    })
    .await;
    // let the duplicate be delivered and ignored
    tokio::time::sleep(Duration::from_secs(1)).await;

    for id in &ids[..3] {
        let recalls = db
            .count(&format!(
                "numbering.audit_log WHERE action = 'recall' AND subject = '{}'",
                id.as_str()
            ))
            .await;
        assert_eq!(recalls, 1, "{id} recalled once");
        assert_eq!(
            verdict(&db, id, &tenant).await,
            ValidationReason::QuarantineActive,
            "{id}"
        );
    }
    assert_eq!(
        db.count("numbering.reservations WHERE status = 'CANCELLED'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.tenant_pools WHERE status = 'SUSPENDED'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.recalled.v1'")
            .await,
        3
    );
}

#[tokio::test]
async fn delinquent_then_paid_suspends_then_reinstates_the_tenants_leases() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223", "+93781112224"]).await;
    lease_all(&db, &tenant, &ids).await;
    let _stop = spawn_consumer(&db, nats.client().await);
    let js = jetstream::new(nats.client().await);
    wait_for_stream(&js).await;

    send(
        &js,
        "billing.account.delinquent.v1",
        "evt-d-1",
        json!({ "tenant_id": "acme" }),
    )
    .await;
    eventually(Duration::from_secs(20), "delinquency processed", || {
        processed(&db, "evt-d-1")
    })
    .await;
    for id in &ids {
        assert_eq!(
            verdict(&db, id, &tenant).await,
            ValidationReason::LeaseSuspended,
            "{id}"
        );
    }

    send(
        &js,
        "billing.account.paid.v1",
        "evt-p-1",
        json!({ "tenant_id": "acme" }),
    )
    .await;
    eventually(Duration::from_secs(20), "payment processed", || {
        processed(&db, "evt-p-1")
    })
    .await;
    for id in &ids {
        assert_eq!(
            verdict(&db, id, &tenant).await,
            ValidationReason::Ok,
            "{id}"
        );
    }
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'suspend'")
            .await,
        2
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'reinstate'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_revoked_sender_id_recalls_that_alpha_lease_only() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["ACME-BANK", "+93781112223"]).await;
    lease_all(&db, &tenant, &ids).await;
    let _stop = spawn_consumer(&db, nats.client().await);
    let js = jetstream::new(nats.client().await);
    wait_for_stream(&js).await;

    send(
        &js,
        "senderid.revoked.v1",
        "evt-r-1",
        json!({ "tenant_id": "acme", "alpha_id": "ACME-BANK" }),
    )
    .await;
    eventually(Duration::from_secs(20), "revocation processed", || {
        processed(&db, "evt-r-1")
    })
    .await;
    assert_eq!(
        verdict(&db, &ids[0], &tenant).await,
        ValidationReason::QuarantineActive
    );
    assert_eq!(verdict(&db, &ids[1], &tenant).await, ValidationReason::Ok);
}

#[tokio::test]
async fn an_event_that_can_never_succeed_goes_to_the_dead_letter_subject_with_its_reason() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let _stop = spawn_consumer(&db, nats.client().await);
    let js = jetstream::new(nats.client().await);
    wait_for_stream(&js).await;

    js.publish("billing.account.paid.v1", "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    // a well-formed event for a tenant that does not exist keeps failing? no:
    // it changes nothing and is processed; a missing tenant id is permanent.
    send(&js, "billing.account.paid.v1", "evt-no-tenant", json!({})).await;
    let client = nats.client().await;
    let dead = read_stream(
        &client,
        "NUMBERING_OPS",
        "numbering.ops.deadletter.v1",
        2,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(dead.len(), 2);
    let reasons: Vec<String> = dead
        .iter()
        .map(|m| {
            m.headers
                .as_ref()
                .and_then(|h| h.get("Numbering-Dead-Letter-Reason"))
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(reasons[0].contains("not an event envelope"), "{reasons:?}");
    assert!(reasons[1].contains("tenant_id"), "{reasons:?}");
}

/// A payment lifts billing's suspension, never an admin's: a lease an admin
/// suspended (a compliance hold) stays suspended through
/// `billing.account.paid.v1` until an admin reinstates it.
#[tokio::test]
async fn a_payment_does_not_lift_an_admins_suspension() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112225", "+93781112226"]).await;
    lease_all(&db, &tenant, &ids).await;
    // the admin holds the first before billing suspends the rest
    db.store
        .suspend(&numbering_tests::admin_ctx(), &ids[0])
        .await
        .unwrap();
    let _stop = spawn_consumer(&db, nats.client().await);
    let js = jetstream::new(nats.client().await);
    wait_for_stream(&js).await;

    send(
        &js,
        "billing.account.delinquent.v1",
        "evt-d-2",
        json!({ "tenant_id": "acme" }),
    )
    .await;
    eventually(Duration::from_secs(20), "delinquency processed", || {
        processed(&db, "evt-d-2")
    })
    .await;
    let by: Vec<(String, String)> = sqlx::query_as(
        "SELECT identifier, suspended_by FROM numbering.leases WHERE status = 'SUSPENDED' ORDER BY identifier",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(by.len(), 2);
    assert!(by[0].1.starts_with("admin:"), "{by:?}");
    assert!(by[1].1.starts_with("system:"), "{by:?}");

    send(
        &js,
        "billing.account.paid.v1",
        "evt-p-2",
        json!({ "tenant_id": "acme" }),
    )
    .await;
    eventually(Duration::from_secs(20), "payment processed", || {
        processed(&db, "evt-p-2")
    })
    .await;
    assert_eq!(
        verdict(&db, &ids[0], &tenant).await,
        ValidationReason::LeaseSuspended
    );
    assert_eq!(verdict(&db, &ids[1], &tenant).await, ValidationReason::Ok);

    // the admin lifts their own hold; the record of who suspended goes with it
    db.store
        .reinstate(&numbering_tests::admin_ctx(), &ids[0])
        .await
        .unwrap();
    assert_eq!(verdict(&db, &ids[0], &tenant).await, ValidationReason::Ok);
    assert_eq!(
        db.count("numbering.leases WHERE suspended_by IS NOT NULL")
            .await,
        0
    );
}

/// What each consumer accepts is exactly what its schema in docs/events/
/// describes, on accepted and refused examples alike: a message the schema
/// refuses is dead-lettered at once (a permanent failure), one it accepts
/// is handled.
#[tokio::test]
async fn the_consumers_accept_exactly_what_their_schemas_describe() {
    use numbering_event_consumer::Failure;
    use numbering_tests::schema::{event_schema, violations};
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let consumer = EventConsumer::new(
        db.store.clone(),
        nats.client().await,
        ConsumerConfig::default(),
    );
    let long = "t".repeat(65);
    let mut n = 0;
    for subject in numbering_event_consumer::SUBJECTS {
        let schema = event_schema(subject).unwrap_or_else(|| panic!("no schema for {subject}"));
        let alpha = subject == "senderid.revoked.v1";
        let data = |tenant: serde_json::Value| {
            if alpha {
                json!({ "tenant_id": tenant, "alpha_id": "ACME-BANK" })
            } else {
                json!({ "tenant_id": tenant })
            }
        };
        let mut samples = vec![
            (
                true,
                json!({ "id": "e", "type": subject, "data": data(json!("acme")) }),
            ),
            (
                true,
                json!({ "specversion": "1.0", "id": "e", "source": "x", "data": data(json!("a.b:c_d-1")), "extra": 1 }),
            ),
            (
                true,
                json!({ "id": "e", "type": null, "data": data(json!("t".repeat(64))) }),
            ),
            (
                false,
                json!({ "type": subject, "data": data(json!("acme")) }),
            ),
            (false, json!({ "id": "", "data": data(json!("acme")) })),
            (false, json!({ "id": 7, "data": data(json!("acme")) })),
            (
                false,
                json!({ "id": "e", "type": 3, "data": data(json!("acme")) }),
            ),
            (false, json!({ "id": "e" })),
            (false, json!({ "id": "e", "data": [] })),
            (false, json!({ "id": "e", "data": data(json!(long)) })),
            (false, json!({ "id": "e", "data": data(json!("ac me")) })),
            (false, json!({ "id": "e", "data": data(json!(12)) })),
            (false, json!({ "id": "e", "data": data(json!("")) })),
            (false, json!(["not", "an", "object"])),
        ];
        if alpha {
            for (ok, id) in [
                (true, "Acme Bank"),
                (true, "A.1"),
                (false, "AB"),
                (false, "ABCDEFGHIJKL"),
                (false, "1234"),
                (false, "+93790000001"),
                (false, " Acme"),
                (false, "Acme  Bank"),
                (false, "Acme_Bank"),
            ] {
                samples.push((
                    ok,
                    json!({ "id": "e", "data": { "tenant_id": "acme", "alpha_id": id } }),
                ));
            }
            samples.push((false, json!({ "id": "e", "data": { "tenant_id": "acme" } })));
        }
        for (expected, sample) in samples {
            n += 1;
            let by_schema = violations(&schema, &sample);
            assert_eq!(
                by_schema.is_empty(),
                expected,
                "{subject} schema on {sample}: {by_schema:?}"
            );
            // a fresh id each time, so no sample is a duplicate of another
            let mut sent = sample.clone();
            if sent.get("id").is_some_and(|i| i == "e") {
                sent["id"] = json!(format!("evt-{n}"));
            }
            let by_consumer = consumer.handle(subject, sent.to_string().as_bytes()).await;
            match by_consumer {
                Ok(_) => assert!(expected, "{subject} consumer accepted {sample}"),
                Err(Failure::Permanent(reason)) => {
                    assert!(!expected, "{subject} consumer refused {sample}: {reason}")
                }
                Err(Failure::Transient(e)) => panic!("{subject} {sample}: {e:#}"),
            }
        }
    }
}

/// The same for the cache invalidation every ValidateLease instance reads.
#[test]
fn the_cache_invalidation_subscriber_accepts_exactly_what_its_schema_describes() {
    use numbering_tests::schema::{event_schema, violations};
    use numbering_validate_lease::invalidation::{Invalidation, SUBJECT};
    let schema = event_schema(SUBJECT).unwrap();
    for (expected, sample) in [
        (true, json!({ "identifier": "+93790000001", "version": 3 })),
        (true, json!({ "identifier": "4455" })),
        (
            true,
            json!({ "identifier": "Acme Bank", "version": null, "more": 1 }),
        ),
        (false, json!({ "identifier": "0790000001", "version": 3 })),
        (false, json!({ "identifier": "+93 79 000 0001" })),
        (false, json!({ "identifier": "+93690000001" })),
        (false, json!({ "identifier": "12" })),
        (false, json!({ "identifier": " Acme" })),
        (false, json!({ "identifier": 4455 })),
        (false, json!({ "identifier": "4455", "version": "3" })),
        (false, json!({ "identifier": "4455", "version": 1.5 })),
        (false, json!({ "version": 3 })),
        (false, json!("4455")),
    ] {
        let by_schema = violations(&schema, &sample);
        assert_eq!(
            by_schema.is_empty(),
            expected,
            "schema on {sample}: {by_schema:?}"
        );
        let by_subscriber = Invalidation::parse(sample.to_string().as_bytes());
        assert_eq!(
            by_subscriber.is_ok(),
            expected,
            "subscriber on {sample}: {by_subscriber:?}"
        );
    }
}
