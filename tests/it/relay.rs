//! The outbox relay against a real nats-server with JetStream.

use std::{collections::HashMap, time::Duration};

use numbering_outbox_relay::{Relay, RelayConfig};
use numbering_shared::Identifier;
use numbering_store::Store;
use numbering_tests::{TestDb, TestNats, eventually, lease_all, read_stream, system_ctx};
use serde_json::Value;
use tokio::{sync::watch, task::JoinHandle};

pub(crate) fn spawn_relay(
    db: &TestDb,
    client: async_nats::Client,
    config: RelayConfig,
) -> (watch::Sender<bool>, JoinHandle<()>) {
    let (stop_tx, stop) = watch::channel(false);
    let relay = Relay::new(db.app.clone(), client, config);
    (stop_tx, tokio::spawn(relay.run(stop)))
}

pub(crate) fn fast() -> RelayConfig {
    RelayConfig {
        poll_every: Duration::from_millis(200),
        standby_every: Duration::from_millis(100),
        ..Default::default()
    }
}

pub(crate) async fn unpublished(db: &TestDb) -> i64 {
    db.count("numbering.outbox WHERE published_at IS NULL")
        .await
}

fn envelope(m: &async_nats::jetstream::Message) -> Value {
    serde_json::from_slice(&m.payload).expect("envelope is JSON")
}

/// Per identifier, the versions received must be consecutive: in order,
/// none missing, none twice.
fn assert_in_order_and_complete(messages: &[async_nats::jetstream::Message], from_version: i64) {
    let mut last: HashMap<String, i64> = HashMap::new();
    for m in messages {
        let e = envelope(m);
        let id = e["subject"].as_str().unwrap().to_owned();
        let v = e["data"]["version"].as_i64().unwrap();
        let prev = last.get(&id).copied().unwrap_or(from_version - 1);
        assert_eq!(v, prev + 1, "{id}: version {v} after {prev}");
        last.insert(id, v);
    }
}

/// Suspends and reinstates `id` alternately `times` times.
async fn churn(store: Store, id: Identifier, times: usize) {
    for i in 0..times {
        if i % 2 == 0 {
            store.suspend(&system_ctx(), &id).await.expect("suspend");
        } else {
            store
                .reinstate(&system_ctx(), &id)
                .await
                .expect("reinstate");
        }
    }
}

fn msisdns(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

#[tokio::test]
async fn a_tenants_assign_reaches_a_jetstream_consumer_as_number_assigned_with_the_documented_envelope()
 {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let id = db.inventory(&["+93781112223"]).await;
    let lease = lease_all(&db, &tenant, &id).await.remove(0);
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());

    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_EVENTS",
        "number.assigned.v1",
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(got.len(), 1);
    let e = envelope(&got[0]);
    let event_id: uuid::Uuid = sqlx::query_scalar(
        "SELECT event_id FROM numbering.outbox WHERE event_type = 'number.assigned.v1'",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["id"], event_id.to_string());
    assert_eq!(e["type"], "number.assigned.v1");
    assert_eq!(e["source"], "numbering-service");
    assert_eq!(e["subject"], "+93781112223");
    assert_eq!(e["tenant"], "acme");
    assert_eq!(e["data"]["lease_id"], lease.id.to_string());
    assert_eq!(e["data"]["to_state"], "ASSIGNED");
    assert!(chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).is_ok());
    let msg_id = got[0]
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.to_string());
    assert_eq!(
        msg_id,
        Some(event_id.to_string()),
        "Nats-Msg-Id is the event id"
    );

    // The documented schemas name exactly what arrives.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events");
    for (file, value) in [
        ("envelope.schema.json", &e),
        ("number.assigned.v1.schema.json", &e["data"]),
    ] {
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
        for key in schema["required"].as_array().unwrap() {
            let key = key.as_str().unwrap();
            assert!(
                value.get(key).is_some(),
                "{file}: {key} missing from {value}"
            );
        }
    }
    eventually(Duration::from_secs(30), "rows marked published", || async {
        unpublished(&db).await == 0
    })
    .await;
}

#[tokio::test]
async fn per_identifier_order_holds_across_ten_thousand_events_from_concurrent_writers_with_two_relays()
 {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let raw = msisdns(40, "+937811");
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    lease_all(&db, &tenant, &ids).await;
    let (_s1, _r1) = spawn_relay(&db, nats.client().await, fast());
    let (_s2, _r2) = spawn_relay(&db, nats.client().await, fast());

    let writers: Vec<_> = ids
        .iter()
        .map(|id| tokio::spawn(churn(db.store.clone(), id.clone(), 250)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let total = 40 * 2 + 10_000;
    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_EVENTS",
        "number.>",
        total,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(got.len(), total, "every event once");
    assert_in_order_and_complete(&got, 2);
}

#[tokio::test]
async fn killing_the_relay_mid_publish_ten_times_loses_nothing_and_dedupe_leaves_no_duplicates() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let raw = msisdns(20, "+937812");
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    lease_all(&db, &tenant, &ids).await;
    let writers: Vec<_> = ids
        .iter()
        .map(|id| tokio::spawn(churn(db.store.clone(), id.clone(), 150)))
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let total = 20 * 2 + 20 * 150;
    let small = RelayConfig {
        batch: 100,
        ..fast()
    };
    let mut killed_mid_publish = 0;
    for round in 0..10u64 {
        let before = unpublished(&db).await;
        let (_stop, relay) = spawn_relay(&db, nats.client().await, small.clone());
        // until it has published something (or a little while) …
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while unpublished(&db).await == before && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(10 + 7 * round)).await;
        relay.abort(); // … then kill it, in the middle of a batch
        let _ = relay.await;
        if unpublished(&db).await > 0 {
            killed_mid_publish += 1;
        }
    }
    assert!(
        killed_mid_publish >= 5,
        "killed while publishing only {killed_mid_publish} times"
    );
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    eventually(Duration::from_secs(60), "every row published", || async {
        unpublished(&db).await == 0
    })
    .await;
    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_EVENTS",
        "number.>",
        total,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(got.len(), total, "every event, none twice");
    assert_in_order_and_complete(&got, 2);
}

#[tokio::test]
async fn with_nats_stopped_for_thirty_seconds_the_outbox_grows_and_everything_arrives_in_order_after()
 {
    let db = TestDb::new().await;
    let mut nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let raw = msisdns(5, "+937813");
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    lease_all(&db, &tenant, &ids).await;
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    eventually(
        Duration::from_secs(20),
        "the setup events published",
        || async { unpublished(&db).await == 0 },
    )
    .await;

    nats.stop();
    let outage = tokio::time::Instant::now();
    let mut ops = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        for id in &ids {
            churn_once(&db.store, id, ops).await;
        }
        ops += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let backlog = unpublished(&db).await;
    assert!(
        backlog >= (ops * ids.len()) as i64 - 5 * 5,
        "outbox grew: {backlog}"
    );
    nats.restart();

    eventually(Duration::from_secs(60), "the backlog published", || async {
        unpublished(&db).await == 0
    })
    .await;
    let total = 5 * 2 + ops * 5;
    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_EVENTS",
        "number.>",
        total,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got.len(), total, "nothing lost, nothing twice");
    assert_in_order_and_complete(&got, 2);
}

async fn churn_once(store: &Store, id: &Identifier, i: usize) {
    if i % 2 == 0 {
        store.suspend(&system_ctx(), id).await.expect("suspend");
    } else {
        store.reinstate(&system_ctx(), id).await.expect("reinstate");
    }
}

#[tokio::test]
async fn published_rows_are_pruned_after_the_retention_period_and_unpublished_ones_never() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112223", "+93781112224"]).await;
    lease_all(&db, &tenant, &ids).await;
    let relay = Relay::new(db.app.clone(), nats.client().await, fast());
    numbering_outbox_relay::ensure_streams(relay.jetstream())
        .await
        .unwrap();
    // per identifier: reserved, assigned, and the lease's lease.assigned
    assert_eq!(relay.publish_pending().await.unwrap(), 6);
    // number.suspended and lease.suspended stay unpublished
    db.store.suspend(&system_ctx(), &ids[0]).await.unwrap();
    sqlx::query("UPDATE numbering.outbox SET occurred_at = now() - interval '30 days'")
        .execute(&db.owner)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE numbering.outbox SET published_at = now() - interval '8 days' WHERE published_at IS NOT NULL",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    assert_eq!(relay.prune().await.unwrap(), 6);
    assert_eq!(db.count("numbering.outbox").await, 2);
    assert_eq!(unpublished(&db).await, 2);
}

/// A committed change wakes the relay at once (the store's wakeup after
/// its commit), not at its next poll: with polling every minute, the event
/// is published well before the poll. The write transaction itself notifies
/// nobody: no NOTIFY trigger is left on the outbox.
#[tokio::test]
async fn a_committed_change_wakes_the_relay_without_waiting_for_its_poll() {
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93793000001"]).await;
    lease_all(&db, &tenant, &ids).await;
    let slow = RelayConfig {
        poll_every: Duration::from_secs(60),
        standby_every: Duration::from_millis(100),
        ..Default::default()
    };
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, slow);
    // the relay's first pass drains what the setup wrote
    eventually(
        Duration::from_secs(10),
        "the setup's events published",
        || async { unpublished(&db).await == 0 },
    )
    .await;
    // give the relay time to be waiting on its 60 s poll
    tokio::time::sleep(Duration::from_millis(300)).await;
    churn_once(&db.store, &ids[0], 0).await;
    // well below the 60 s poll, far above what a busy machine takes
    eventually(Duration::from_secs(30), "the change published", || async {
        unpublished(&db).await == 0
    })
    .await;
    assert_eq!(
        db.count("pg_trigger WHERE tgname = 'outbox_notify'").await,
        0,
        "no NOTIFY inside the writing transaction"
    );
}

/// NUMBERING_LEASES carries every lease change (what billing needs: lease,
/// tenant, identifier, term); number.suspended / number.recalled name the
/// lease; NUMBERING_AUDIT carries each sealed entry, re-hashable into the
/// chain. Every payload matches its schema in docs/events/.
#[tokio::test]
async fn lease_changes_reach_numbering_leases_and_sealed_entries_reach_numbering_audit() {
    use numbering_store::audit;
    use numbering_tests::schema::{assert_valid, event_schema};
    let db = TestDb::new().await;
    let nats = TestNats::start();
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93781112231", "+93781112232"]).await;
    let leases = lease_all(&db, &tenant, &ids).await;
    let ctx = system_ctx();
    db.store.suspend(&ctx, &ids[0]).await.unwrap();
    db.store.reinstate(&ctx, &ids[0]).await.unwrap();
    db.store
        .release(&numbering_tests::tenant_ctx(&tenant), &tenant, leases[0].id)
        .await
        .unwrap();
    db.store.recall(&ctx, &ids[1]).await.unwrap();
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    let client = nats.client().await;

    let got = read_stream(
        &client,
        "NUMBERING_LEASES",
        "lease.>",
        6,
        Duration::from_secs(20),
    )
    .await;
    let seen: Vec<(String, String, String)> = got
        .iter()
        .map(|m| {
            let e = envelope(m);
            assert_valid(&event_schema("envelope").unwrap(), &e);
            assert_valid(
                &event_schema(e["type"].as_str().unwrap()).unwrap(),
                &e["data"],
            );
            assert_eq!(e["tenant"], "acme");
            assert_eq!(e["data"]["tenant_id"], "acme");
            assert_eq!(e["subject"], e["data"]["identifier"]);
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["lease_id"].as_str().unwrap().to_owned(),
                e["data"]["term_end"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (first, second) = (leases[0].id.to_string(), leases[1].id.to_string());
    let types: Vec<(&str, &str)> = seen
        .iter()
        .map(|(t, l, _)| (t.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("lease.assigned.v1", first.as_str()),
            ("lease.assigned.v1", second.as_str()),
            ("lease.suspended.v1", first.as_str()),
            ("lease.reinstated.v1", first.as_str()),
            ("lease.released.v1", first.as_str()),
            ("lease.recalled.v1", second.as_str()),
        ]
    );
    let term_end = chrono::DateTime::parse_from_rfc3339(&seen[0].2).unwrap();
    assert_eq!(term_end, leases[0].term_end, "the term billing charges for");

    // the number events name the lease they suspend or recall
    for (event_type, lease) in [
        ("number.suspended.v1", &first),
        ("number.recalled.v1", &second),
    ] {
        let got = read_stream(
            &client,
            "NUMBERING_EVENTS",
            event_type,
            1,
            Duration::from_secs(20),
        )
        .await;
        let e = envelope(&got[0]);
        assert_eq!(&e["data"]["lease_id"], lease.as_str(), "{event_type}: {e}");
        assert_valid(&event_schema(event_type).unwrap(), &e["data"]);
    }

    // every sealed entry, in seq order, re-hashable into the chain
    let sealed = audit::seal_pending(&db.app, Duration::from_secs(30))
        .await
        .unwrap() as usize;
    assert_eq!(sealed, 8, "4 lifecycle changes of each identifier");
    let got = read_stream(
        &client,
        "NUMBERING_AUDIT",
        audit::SEALED_EVENT,
        sealed,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(got.len(), sealed);
    let mut prev = audit::GENESIS;
    for (i, m) in got.iter().enumerate() {
        let e = envelope(m);
        let d = &e["data"];
        assert_valid(&event_schema(audit::SEALED_EVENT).unwrap(), d);
        assert_eq!(d["seq"], i as i64 + 1);
        let x = &d["entry"];
        let text = |k: &str| x[k].as_str().map(str::to_owned);
        let entry = audit::AuditEntry {
            id: x["id"].as_i64().unwrap(),
            txid: text("txid").unwrap(),
            occurred_at: text("occurred_at").unwrap().parse().unwrap(),
            actor: text("actor").unwrap(),
            action: text("action").unwrap(),
            tenant_id: text("tenant_id"),
            subject: text("subject"),
            before: text("before"),
            after: text("after"),
            request_id: text("request_id"),
        };
        let hash = audit::link_hash(&prev, i as i64 + 1, &audit::entry_digest(&entry));
        assert_eq!(d["hash"], hex::encode(hash), "seq {}", i + 1);
        prev = hash;
    }
    let head = audit::head(&db.app).await.unwrap().unwrap();
    assert_eq!((head.seq, head.hash), (sealed as i64, prev));
}

/// Every event type the service can emit — every transition's, every
/// lease's, and every type named in the sources — has its schema in
/// docs/events/, which the checker can read.
#[test]
fn every_event_type_the_service_can_emit_has_a_schema() {
    use numbering_tests::schema::{event_schema, events_dir, violations};
    let mut types: std::collections::BTreeSet<String> = numbering_shared::Transition::ALL
        .iter()
        .flat_map(|t| [Some(t.event_type()), numbering_store::lease_event_type(*t)])
        .flatten()
        .chain(
            numbering_shared::ContractAction::ALL
                .iter()
                .map(|a| a.event_type()),
        )
        .map(str::to_owned)
        .collect();
    // event types written as literals anywhere in the service's sources
    let pattern = regex_lite_types();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![
        root.join("store/src"),
        root.join("functions"),
        root.join("host/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                types.extend(
                    pattern
                        .find_iter(&text)
                        .map(|m| m.as_str().trim_matches('"').to_owned()),
                );
            }
        }
    }
    for t in [
        "numbering.audit.sealed.v1",
        "lease.expired.v1",
        "num.cache.invalidate.v1",
    ] {
        assert!(types.contains(t), "the scan finds {t}: {types:?}");
    }
    let missing: Vec<&String> = types.iter().filter(|t| event_schema(t).is_none()).collect();
    assert!(
        missing.is_empty(),
        "no schema in {}: {missing:?}",
        events_dir().display()
    );
    // and every schema there is one the checker reads (no unknown keyword)
    for entry in std::fs::read_dir(events_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        violations(&schema, &serde_json::json!({}));
    }
}

/// Quoted event types: `"<word>.<…>.v<n>"` starting with a subject family
/// the service publishes or consumes.
fn regex_lite_types() -> regex::Regex {
    regex::Regex::new(
        r#""(?:number|lease|numbering|num|compliance|senderid|billing|contract)\.[a-z_.]+\.v[0-9]+""#,
    )
    .unwrap()
}
