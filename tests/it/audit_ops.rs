//! The audit jobs: verification reported as an ops event and metrics, and
//! partition maintenance.

use std::time::Duration;

use numbering_store::audit_jobs::{self, VERIFIED_EVENT};
use numbering_tests::{TestDb, TestNats, read_stream};
use serde_json::Value;

use crate::{
    audit_chain::{chain_of_fourteen, entry_at, tamper},
    relay::{fast, spawn_relay},
};

/// The payload of the latest verification event.
async fn last_verified_event(db: &TestDb) -> Value {
    let payload: String = sqlx::query_scalar(
        "SELECT payload::text FROM numbering.outbox WHERE event_type = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(VERIFIED_EVENT)
    .fetch_one(&db.owner)
    .await
    .unwrap();
    serde_json::from_str(&payload).unwrap()
}

fn gauge(rendered: &str, name: &str) -> Option<f64> {
    rendered
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn the_verify_job_reports_a_broken_chain_with_its_position_as_an_ops_event_and_a_metric() {
    let metrics = numbering::telemetry::metrics();
    let db = chain_of_fourteen().await;
    let nats = TestNats::start();
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());

    let intact = audit_jobs::verify_and_publish(&db.app, None).await.unwrap();
    assert!(intact.is_intact());
    let event = last_verified_event(&db).await;
    assert_eq!(event["result"], "intact", "{event}");
    assert_eq!(event["entries_verified"], 14);
    assert_eq!(event["head"]["seq"], 14);
    assert!(event["broken"].is_null());

    let victim = entry_at(&db, 6).await;
    tamper(
        &db,
        "UPDATE numbering.audit_log SET actor = 'admin:nobody' WHERE id = $1",
        &[victim],
    )
    .await;
    let broken = audit_jobs::verify_and_publish(&db.app, None).await.unwrap();
    assert_eq!(broken.first_break.as_ref().unwrap().position, 6);
    let event = last_verified_event(&db).await;
    assert_eq!(event["result"], "broken", "{event}");
    assert_eq!(event["entries_verified"], 5);
    assert_eq!(event["broken"]["position"], 6);
    assert_eq!(event["broken"]["kind"], "entry_altered");
    assert_eq!(event["broken"]["entry_id"], victim);

    let rendered = metrics.render();
    assert_eq!(
        gauge(&rendered, "numbering_audit_verify_intact"),
        Some(0.0),
        "{rendered}"
    );
    assert_eq!(
        gauge(&rendered, "numbering_audit_verify_broken_position"),
        Some(6.0)
    );
    assert_eq!(
        gauge(&rendered, "numbering_audit_verify_entries_verified"),
        Some(5.0)
    );
    assert!(
        gauge(
            &rendered,
            "numbering_audit_verify_last_run_timestamp_seconds"
        )
        .unwrap()
            > 0.0
    );
    assert!(gauge(&rendered, "numbering_audit_verify_duration_seconds").is_some());

    // the relay publishes both results on the ops stream, per the schema
    let got = read_stream(
        &nats.client().await,
        "NUMBERING_OPS",
        VERIFIED_EVENT,
        2,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(got.len(), 2);
    let last: Value = serde_json::from_slice(&got[1].payload).unwrap();
    assert_eq!(last["type"], VERIFIED_EVENT);
    assert_eq!(last["data"]["broken"]["position"], 6);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../docs/events/{VERIFIED_EVENT}.schema.json")),
        )
        .unwrap(),
    )
    .unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(last["data"].get(key.as_str().unwrap()).is_some(), "{key}");
    }
}

#[tokio::test]
async fn partition_maintenance_creates_the_missing_months_ahead() {
    let db = TestDb::new().await;
    // two of the months ahead go missing (as the owner: the app cannot drop)
    let ahead: Vec<String> = sqlx::query_scalar(
        "SELECT format('audit_log_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM')) \
         FROM generate_series(date_trunc('month', now()), date_trunc('month', now()) + interval '3 months', \
                              interval '1 month') AS m",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    for p in &ahead[2..] {
        sqlx::query(&format!("DROP TABLE numbering.{p}"))
            .execute(&db.owner)
            .await
            .unwrap();
    }
    let created = audit_jobs::maintain_partitions(&db.app).await.unwrap();
    assert_eq!(created, ahead[2..].to_vec());
    let present = audit_jobs::partitions(&db.app).await.unwrap();
    for p in &ahead {
        assert!(present.contains(p), "{p} in {present:?}");
    }
    // and a second run has nothing to do
    assert!(
        audit_jobs::maintain_partitions(&db.app)
            .await
            .unwrap()
            .is_empty()
    );
}
