//! Two real hosts, kbl and mzr (`numbering_tests::regions::Hosts`), over
//! the replicated Postgres and the NATS super-cluster: a lease made in one
//! region is OK in the other, and through a 60 s NATS outage of mzr, mzr's
//! staleness stays within its in-process TTL and no event is lost or
//! published twice.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use async_nats::jetstream;
use numbering_shared::TenantId;
use numbering_store::{PoolConfig, Store};
use numbering_tests::{
    TestDb,
    app::tenant_token,
    eventually,
    regions::{Hosts, Region, Regions},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

/// Far beyond what any step needs: reaching it is a failure, not a timing.
const HANG: Duration = Duration::from_secs(120);
/// The hosts' in-process TTL (`NUMBERING_CACHE_TTL_MS`, default) and the
/// Postgres tier's deadline (`NUMBERING_POSTGRES_DEADLINE_MS`): an entry is
/// trusted for the TTL from when its fill landed, at most a deadline after
/// the read that filled it began.
const TTL: Duration = Duration::from_millis(2000);
const FETCH: Duration = Duration::from_millis(500);
const P: &str = "/v1/portal/numbering";

/// The primary, as the tests' fixtures reach it (superuser; the app pool
/// as the service uses it).
async fn primary(regions: &Regions) -> TestDb {
    let url = regions.primary_url();
    let owner = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("owner pool on the primary");
    let app = numbering_store::connect(&PoolConfig::new(url.clone()))
        .await
        .expect("app pool on the primary");
    TestDb {
        name: "numbering".into(),
        owner_url: url,
        owner,
        store: Store::new(app.clone(), Default::default()),
        app,
    }
}

async fn start(inventory: &[&str]) -> (Regions, Hosts, TestDb, TenantId) {
    let regions = Regions::builder().start().await;
    let hosts = regions.hosts().start().await;
    let db = primary(&regions).await;
    let tenant = db.pool_for("acme").await;
    db.inventory(inventory).await;
    (regions, hosts, db, tenant)
}

async fn call(url: String, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(url);
    if let Some(t) = token {
        req = req
            .bearer_auth(t)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Reserve and assign `identifier` through `region`'s host; the lease id.
async fn lease(hosts: &Hosts, region: Region, identifier: &str) -> String {
    let token = tenant_token("acme");
    let base = hosts.url(region);
    let (s, r) = call(
        format!("{base}{P}/reservations"),
        Some(&token),
        Some(json!({ "identifier": identifier })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "reserve through {region:?}: {r}");
    let (s, l) = call(
        format!("{base}{P}/leases"),
        Some(&token),
        Some(json!({ "reservation_id": r["id"], "auto_renew": false })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "assign through {region:?}: {l}");
    l["id"].as_str().expect("lease id").to_owned()
}

async fn release(hosts: &Hosts, region: Region, lease: &str) {
    let token = tenant_token("acme");
    let url = format!("{}{P}/leases/{lease}/release", hosts.url(region));
    let (s, r) = call(url, Some(&token), None).await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("ENDED")),
        "{r}"
    );
}

/// ValidateLease (its JSON route) at `region` for tenant acme.
async fn allowed(hosts: &Hosts, region: Region, identifier: &str) -> bool {
    let url = format!("{}/v1/validate-lease", hosts.url(region));
    let body = json!({ "identifier": identifier, "tenant_id": "acme" });
    let (s, v) = call(url, None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["allowed"], v["reason"] == "OK", "{v}");
    v["allowed"].as_bool().unwrap()
}

#[tokio::test]
async fn a_lease_made_through_kbl_is_ok_at_mzr_and_one_made_through_mzr_is_ok_at_both() {
    let (regions, hosts, _db, _) = start(&["+93791000001", "+93791000002"]).await;
    lease(&hosts, Region::Kbl, "+93791000001").await;
    assert!(allowed(&hosts, Region::Mzr, "+93791000001").await);
    assert!(allowed(&hosts, Region::Kbl, "+93791000001").await);

    // mzr's write crosses to the primary in kbl
    lease(&hosts, Region::Mzr, "+93791000002").await;
    for region in Region::ALL {
        assert!(allowed(&hosts, region, "+93791000002").await, "{region:?}");
        assert!(!allowed(&hosts, region, "+93791000099").await, "{region:?}");
    }
    for region in Region::ALL {
        region_is_reported(&hosts, region).await;
    }
    events_carry_a_region_and_streams_are_mirrored(&regions).await;
}

/// `/readyz` names the region and every metric carries it as a label.
async fn region_is_reported(hosts: &Hosts, region: Region) {
    let http = reqwest::Client::new();
    let ready: Value = http
        .get(format!("{}/readyz", hosts.url(region)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["region"], region.as_str(), "{ready}");
    let metrics = http
        .get(format!("{}/metrics", hosts.url(region)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("region=\"{}\"", region.as_str());
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(!series.is_empty());
    assert!(series.iter().all(|l| l.contains(&label)), "{metrics}");
    // the relay's invalidations arrived over NATS: cross-region staleness
    assert!(
        metrics.contains("numbering_invalidation_delay_seconds_count"),
        "{metrics}"
    );
    // the banner (stdout) is text; every log line (stderr) is JSON
    let log = std::fs::read_to_string(hosts.log(region)).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "{log}");
    assert!(
        lines.iter().all(|l| l["region"] == region.as_str()),
        "{log}"
    );
}

/// Each stream lives in one region and its mirror in the other; the
/// envelopes name the region that published them.
async fn events_carry_a_region_and_streams_are_mirrored(regions: &Regions) {
    let js = jetstream::new(regions.nats_client(Region::Kbl).await);
    let deadline = tokio::time::Instant::now() + HANG;
    let origin = loop {
        if let Some(placed) = placed_and_mirrored(&js).await {
            break placed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first event and its mirror"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (home, mirrored) = origin;
    assert!(["kbl", "mzr"].contains(&home.as_str()), "{home}");
    assert_ne!(home, mirrored, "the mirror is in the other region");
    let first = read(&js, "NUMBERING_EVENTS", 1).await;
    let envelope: Value = serde_json::from_slice(&first.payload).unwrap();
    assert!(
        ["kbl", "mzr"].contains(&envelope["region"].as_str().unwrap()),
        "{envelope}"
    );
}

/// The clusters of NUMBERING_EVENTS and its mirror, once both hold the
/// same messages, at least one.
async fn placed_and_mirrored(js: &jetstream::Context) -> Option<(String, String)> {
    let mut events = js.get_stream("NUMBERING_EVENTS").await.ok()?;
    let mut mirror = js.get_stream("NUMBERING_EVENTS_MIRROR").await.ok()?;
    let (e, m) = (events.info().await.ok()?, mirror.info().await.ok()?);
    if e.state.messages == 0 || m.state.messages != e.state.messages {
        return None;
    }
    let cluster = |c: &Option<jetstream::stream::ClusterInfo>| c.as_ref()?.name.clone();
    Some((cluster(&e.cluster)?, cluster(&m.cluster)?))
}

/// Message `seq` of `stream`, asked again while the gateways learn of the
/// reply subscription.
async fn read(
    js: &jetstream::Context,
    stream: &str,
    seq: u64,
) -> jetstream::message::StreamMessage {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let got = match js.get_stream(stream).await {
            Ok(s) => s.get_raw_message(seq).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match got {
            Ok(m) => return m,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{stream} #{seq}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Event id → how many times it is in `stream`.
async fn stream_ids(js: &jetstream::Context, stream: &str) -> BTreeMap<String, usize> {
    let mut s = js.get_stream(stream).await.expect("stream");
    let last = s.info().await.expect("stream info").state.last_sequence;
    let mut ids = BTreeMap::new();
    for seq in 1..=last {
        let m = read(js, stream, seq).await;
        let envelope: Value = serde_json::from_slice(&m.payload).unwrap();
        *ids.entry(envelope["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    ids
}

/// Until nothing waits in the outbox.
async fn outbox_drained(db: &TestDb) {
    eventually(HANG, "the outbox to drain", || async {
        db.count("numbering.outbox WHERE published_at IS NULL")
            .await
            == 0
    })
    .await;
}

#[tokio::test]
async fn through_a_60_s_nats_outage_of_mzr_its_staleness_stays_within_its_ttl_and_no_event_is_lost_or_duplicated()
 {
    let numbers: Vec<String> = (0..40).map(|i| format!("+937920000{i:02}")).collect();
    let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let (mut regions, hosts, db, _) = start(&refs).await;
    let mut leases = Vec::new();
    for n in &numbers {
        leases.push(lease(&hosts, Region::Kbl, n).await);
    }
    outbox_drained(&db).await;

    regions.stop_nats(Region::Mzr);
    let outage = Instant::now();
    let mut stale = Vec::new();
    for (n, l) in numbers.iter().zip(&leases) {
        if outage.elapsed() >= Duration::from_secs(60) {
            break;
        }
        assert!(
            allowed(&hosts, Region::Mzr, n).await,
            "cached before the release"
        );
        release(&hosts, Region::Kbl, l).await;
        stale.push(stale_for(&hosts, n).await);
    }
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(outage.elapsed())).await;
    regions.start_nats(Region::Mzr).await;
    stale.sort();
    eprintln!(
        "mzr staleness during the outage over {} releases: p50 {:?}, max {:?}",
        stale.len(),
        stale[stale.len() / 2],
        stale.last().unwrap()
    );
    assert!(stale.len() >= 10, "{} releases in the outage", stale.len());

    outbox_drained(&db).await;
    every_event_is_in_its_stream_once(&regions, &db).await;
}

/// From the release's answer to mzr's first answer that is not OK. An
/// answer OK to a request sent past TTL + FETCH after the release fails.
async fn stale_for(hosts: &Hosts, identifier: &str) -> Duration {
    let released = Instant::now();
    loop {
        let asked = released.elapsed();
        if !allowed(hosts, Region::Mzr, identifier).await {
            return released.elapsed();
        }
        assert!(
            asked < TTL + FETCH,
            "mzr still said OK {asked:?} after the release, with its NATS down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn every_event_is_in_its_stream_once(regions: &Regions, db: &TestDb) {
    let js = jetstream::new(regions.nats_client(Region::Kbl).await);
    for stream in ["NUMBERING_EVENTS", "NUMBERING_LEASES"] {
        let outbox: Vec<String> = sqlx::query_scalar(
            "SELECT event_id::text FROM numbering.outbox WHERE stream = $1 ORDER BY id",
        )
        .bind(stream)
        .fetch_all(&db.owner)
        .await
        .unwrap();
        let published = stream_ids(&js, stream).await;
        let twice: Vec<_> = published.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{stream}: published twice: {twice:?}");
        let expected: std::collections::BTreeSet<&String> = outbox.iter().collect();
        let got: std::collections::BTreeSet<&String> = published.keys().collect();
        assert_eq!(got, expected, "{stream}: every outbox event, once");
    }
}

/// The relay's heartbeats make a host's bus current, which keeps its
/// entries past the short TTL; with NATS gone the bus stops being current
/// and an entry is trusted no longer than the short TTL.
#[tokio::test]
async fn the_relays_heartbeats_keep_the_bus_current_and_without_nats_entries_live_only_the_short_ttl()
 {
    use numbering_tests::hot_path::{HostSetup, TestHost};
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&["+93793000001"]).await;
    numbering_tests::lease_all(&db, &tenant, &ids).await;
    let mut nats = numbering_tests::TestNats::start();
    let (_stop, _relay) = crate::relay::spawn_relay(&db, nats.client().await, crate::relay::fast());
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            nats: Some(nats.client().await),
            ..Default::default()
        },
    )
    .await;
    let bus = host.reader.bus().expect("on by default").clone();
    eventually(HANG, "the bus to be current", || {
        let bus = bus.clone();
        async move { bus.is_current() }
    })
    .await;
    let key = ids[0].key();
    host.reader.snapshot(&ids[0]).await.unwrap();
    tokio::time::sleep(TTL + FETCH).await;
    if bus.is_current() {
        assert!(
            host.reader.cached_locally(&key).is_some(),
            "kept past the short TTL"
        );
    }

    nats.stop();
    eventually(HANG, "the bus to stop being current", || {
        let bus = bus.clone();
        async move { !bus.is_current() }
    })
    .await;
    host.reader.snapshot(&ids[0]).await.unwrap();
    tokio::time::sleep(TTL).await;
    assert!(
        host.reader.cached_locally(&key).is_none(),
        "the short TTL, bus down"
    );
    host.stop().await;
}

/// The same inbound event, published once in each region, reaches the one
/// durable consumer both hosts pull from and is applied once.
#[tokio::test]
async fn an_inbound_event_delivered_in_both_regions_is_applied_once() {
    let ids = ["+93794000001", "+93794000002"];
    let (regions, hosts, db, _) = start(&ids).await;
    for id in ids {
        lease(&hosts, Region::Kbl, id).await;
    }
    let subject = "compliance.tenant.suspended.v1";
    let body = json!({
        "specversion": "1.0", "id": "evt-two-regions", "type": subject, "source": "test",
        "time": chrono::Utc::now().to_rfc3339(),
        "data": { "tenant_id": "acme", "reason": "KYC_FAILED" },
    });
    let mut last = 0;
    for region in Region::ALL {
        let js = jetstream::new(regions.nats_client(region).await);
        last = publish_acked(&js, subject, &body).await;
    }
    let js = jetstream::new(regions.nats_client(Region::Kbl).await);
    let durable = format!("numbering-event-consumer-{}", subject.replace('.', "-"));
    eventually(HANG, "both deliveries acked", || async {
        let Ok(stream) = js.get_stream("NUMBERING_INBOUND").await else {
            return false;
        };
        let consumer: Result<jetstream::consumer::PullConsumer, _> =
            stream.get_consumer(&durable).await;
        let Ok(mut consumer) = consumer else {
            return false;
        };
        consumer
            .info()
            .await
            .is_ok_and(|i| i.ack_floor.stream_sequence >= last && i.num_ack_pending == 0)
    })
    .await;
    for id in ids {
        let recalls = db
            .count(&format!(
                "numbering.audit_log WHERE action = 'recall' AND subject = '{id}'"
            ))
            .await;
        assert_eq!(recalls, 1, "{id} recalled once");
        for region in Region::ALL {
            eventually(HANG, "the recall seen in both regions", || async {
                !allowed(&hosts, region, id).await
            })
            .await;
        }
    }
}

/// Publishes `body` on `subject` and returns its stream sequence, asking
/// again while the gateways learn of the reply subscription.
async fn publish_acked(js: &jetstream::Context, subject: &str, body: &Value) -> u64 {
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        let attempt = async {
            let ack = js
                .publish(subject.to_owned(), body.to_string().into())
                .await?;
            anyhow::Ok(ack.await?)
        };
        match attempt.await {
            Ok(ack) => return ack.sequence,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "publish {subject}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
