//! ValidateLease and Lookup over gRPC against the running host, through the
//! three tiers, fail-closed.

use std::time::{Duration, Instant};

use numbering::embedded::{Durability, EmbeddedPostgres};
use numbering_proto::numbering::v1::{
    LookupRequest, ValidateLeaseRequest, ValidateLeaseResponse, ValidationReason,
};
use numbering_shared::{Identifier, NumberState, TenantId};
use numbering_tests::{
    TestDb, admin_ctx,
    hot_path::{HostSetup, TestHost, TestMoto},
    tenant_ctx,
};
use numbering_validate_lease::{TierConfig, invalidation};
use tonic::Code;

type Client = numbering_proto::numbering::v1::numbering_service_client::NumberingServiceClient<
    tonic::transport::Channel,
>;

async fn validate(
    client: &mut Client,
    identifier: &str,
    tenant: &str,
) -> Result<ValidateLeaseResponse, tonic::Status> {
    client
        .validate_lease(ValidateLeaseRequest {
            identifier: identifier.into(),
            tenant_id: tenant.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn reason(client: &mut Client, identifier: &str, tenant: &str) -> ValidationReason {
    let r = validate(client, identifier, tenant)
        .await
        .expect("an answer");
    assert_eq!(
        r.allowed,
        r.reason() == ValidationReason::Ok,
        "allowed only with OK"
    );
    r.reason()
}

/// Puts `identifier` (already in inventory) into `state`, held by acme where it is held.
async fn bring(db: &TestDb, acme: &TenantId, id: &Identifier, state: NumberState) {
    let s = &db.store;
    let t = tenant_ctx(acme);
    if state == NumberState::Available {
        return;
    }
    if state == NumberState::Retired {
        s.retire(&admin_ctx(), id).await.unwrap();
        return;
    }
    let r = s.reserve(&t, acme, id).await.unwrap();
    match state {
        NumberState::Reserved => {}
        NumberState::Held => drop(s.hold(&t, acme, r.id).await.unwrap()),
        _ => {
            let lease = s.assign(&t, acme, r.id, true).await.unwrap();
            match state {
                NumberState::Suspended => drop(s.suspend(&admin_ctx(), id).await.unwrap()),
                NumberState::Quarantined => drop(s.release(&t, acme, lease.id).await.unwrap()),
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reason_code_comes_back_from_a_real_grpc_client_in_every_state() {
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let acme = db.pool_for("acme").await;
    db.pool_for("globex").await;
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(moto.tier(Duration::from_secs(30)).await),
            ..Default::default()
        },
    )
    .await;
    let mut client = host.client().await;
    use ValidationReason::*;
    let cases = [
        (
            NumberState::Available,
            "+93790000101",
            NotRegistered,
            NotRegistered,
        ),
        (
            NumberState::Reserved,
            "+93790000102",
            NotRegistered,
            NotRegistered,
        ),
        (
            NumberState::Held,
            "+93790000103",
            NotRegistered,
            NotRegistered,
        ),
        (NumberState::Assigned, "+93790000104", Ok, WrongTenant),
        (
            NumberState::Suspended,
            "+93790000105",
            LeaseSuspended,
            WrongTenant,
        ),
        (
            NumberState::Quarantined,
            "+93790000106",
            QuarantineActive,
            QuarantineActive,
        ),
        (
            NumberState::Retired,
            "+93790000107",
            NotRegistered,
            NotRegistered,
        ),
    ];
    for (state, raw, for_acme, for_globex) in cases {
        let id = db.inventory(&[raw]).await.remove(0);
        bring(&db, &acme, &id, state).await;
        // twice: the second answer comes from the caches and must agree
        for _ in 0..2 {
            assert_eq!(
                reason(&mut client, raw, "acme").await,
                for_acme,
                "{state} for its holder"
            );
            assert_eq!(
                reason(&mut client, raw, "globex").await,
                for_globex,
                "{state} for another tenant"
            );
        }
    }
    let ok = validate(&mut client, "0790000104", "acme").await.unwrap();
    assert!(
        ok.allowed && !ok.lease_id.is_empty() && ok.lease_expires_at.is_some(),
        "{ok:?}"
    );
    // unknown, malformed identifier and malformed tenant: NOT_REGISTERED, not an error
    assert_eq!(
        reason(&mut client, "+93799999999", "acme").await,
        NotRegistered
    );
    assert_eq!(reason(&mut client, "+93 12", "acme").await, NotRegistered);
    assert_eq!(reason(&mut client, "", "acme").await, NotRegistered);
    assert_eq!(
        reason(&mut client, "+93790000104", "not a tenant!").await,
        NotRegistered
    );

    // Lookup for routing
    let found = client
        .lookup(LookupRequest {
            identifier: "+93 79 000 0104".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            found.kind.as_str(),
            found.state.as_str(),
            found.operator_id.as_str(),
            found.operator_name.as_str()
        ),
        ("MSISDN", "ASSIGNED", "roshan", "Roshan")
    );
    assert_eq!((found.mcc.as_str(), found.mnc.as_str()), ("412", "40"));
    let unknown = client
        .lookup(LookupRequest {
            identifier: "+93799999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let malformed = client
        .lookup(LookupRequest {
            identifier: "not-an-id!".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(malformed.code(), Code::InvalidArgument);
    host.stop().await;
}

/// The outbox relay's part, played by the test: project the committed
/// state forward into the caches, then publish the invalidation.
async fn relay(
    db: &TestDb,
    reader: &numbering_validate_lease::LeaseReader,
    nats: &async_nats::Client,
    id: &Identifier,
) {
    let snapshot = db.store.snapshot(id).await.unwrap();
    let version = snapshot.as_ref().map_or(0, |s| s.version);
    reader.project(id, snapshot).await.unwrap();
    invalidation::publish(nats, id, version).await.unwrap();
}

/// How long a test waits for something that must happen (a relayed
/// invalidation, a background refetch): far beyond what it takes on an idle
/// machine, so that a busy one cannot fail the test, and far below the
/// in-process TTLs that could otherwise make it happen. How fast these
/// happen is measured by the benchmarks (BENCHMARKS.md), not asserted.
const LIVENESS: Duration = Duration::from_secs(60);

/// Polls `host` until `identifier` stops answering OK for acme, failing
/// after `limit`.
async fn until_not_ok(client: &mut Client, identifier: &str, limit: Duration) {
    let started = Instant::now();
    while reason(client, identifier, "acme").await == ValidationReason::Ok {
        assert!(
            started.elapsed() < limit,
            "{identifier} still answered OK after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_stops_answering_ok_once_the_invalidation_is_published() {
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let dir =
        std::env::temp_dir().join(format!("numbering-nats-{}", uuid::Uuid::new_v4().simple()));
    let nats_server = numbering::nats::EmbeddedNats::start(&dir, 0).unwrap();
    let nats = async_nats::connect(nats_server.url()).await.unwrap();
    let acme = db.pool_for("acme").await;
    let tier = moto.tier(Duration::from_secs(30)).await;
    // a long in-process TTL: only the invalidation can make it forget
    let tiers = TierConfig {
        local_ttl: Duration::from_secs(300),
        ..Default::default()
    };
    let writer = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(tier.clone()),
            tiers: tiers.clone(),
            nats: Some(nats.clone()),
            grpc_tls: None,
        },
    )
    .await;
    let second = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(tier),
            tiers,
            nats: Some(async_nats::connect(nats_server.url()).await.unwrap()),
            grpc_tls: None,
        },
    )
    .await;
    let mut client = second.client().await;
    let ids = db
        .inventory(&["+93780000201", "+93780000202", "+93780000203"])
        .await;
    let mut leases = Vec::new();
    for id in &ids {
        let r = db
            .store
            .reserve(&tenant_ctx(&acme), &acme, id)
            .await
            .unwrap();
        leases.push(
            db.store
                .assign(&tenant_ctx(&acme), &acme, r.id, true)
                .await
                .unwrap(),
        );
        assert_eq!(
            reason(&mut client, id.as_str(), "acme").await,
            ValidationReason::Ok,
            "cached OK"
        );
    }
    // release, recall, suspension: each committed in Postgres, relayed, and gone from the second instance
    db.store
        .release(&tenant_ctx(&acme), &acme, leases[0].id)
        .await
        .unwrap();
    db.store.recall(&admin_ctx(), &ids[1]).await.unwrap();
    db.store.suspend(&admin_ctx(), &ids[2]).await.unwrap();
    for id in &ids {
        // committed, not yet relayed: the instance still serves its cached answer
        assert_eq!(
            reason(&mut client, id.as_str(), "acme").await,
            ValidationReason::Ok
        );
        relay(&db, &writer.reader, &nats, id).await;
        // only the invalidation can make it forget within the 300 s TTL; how
        // fast it arrives is measured by the benchmarks, not asserted here
        until_not_ok(&mut client, id.as_str(), LIVENESS).await;
    }
    assert_eq!(
        reason(&mut client, ids[0].as_str(), "acme").await,
        ValidationReason::QuarantineActive
    );
    assert_eq!(
        reason(&mut client, ids[1].as_str(), "acme").await,
        ValidationReason::QuarantineActive
    );
    assert_eq!(
        reason(&mut client, ids[2].as_str(), "acme").await,
        ValidationReason::LeaseSuspended
    );
    writer.stop().await;
    second.stop().await;
    drop(nats_server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bus_down_the_in_process_ttl_bounds_staleness() {
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let acme = db.pool_for("acme").await;
    let tiers = TierConfig {
        local_ttl: Duration::from_millis(300),
        ..Default::default()
    };
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(moto.tier(Duration::from_secs(30)).await),
            tiers,
            ..Default::default()
        },
    )
    .await;
    let mut client = host.client().await;
    let id = db.inventory(&["+93770000301"]).await.remove(0);
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    let lease = db
        .store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();
    assert_eq!(
        reason(&mut client, id.as_str(), "acme").await,
        ValidationReason::Ok
    );
    db.store
        .release(&tenant_ctx(&acme), &acme, lease.id)
        .await
        .unwrap();
    // the relay projected into DynamoDB but no invalidation arrives (bus down)
    let snapshot = db.store.snapshot(&id).await.unwrap();
    host.reader
        .dynamo()
        .unwrap()
        .put_forward(
            &id.key(),
            &numbering_validate_lease::local::Cached::from_snapshot(snapshot),
        )
        .await
        .unwrap();
    // the entry was filled before the answer above: once its TTL has passed
    // (a sleep never ends early), the next answer is fetched again
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        reason(&mut client, id.as_str(), "acme").await,
        ValidationReason::QuarantineActive,
        "bounded by the 300 ms TTL"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_steady_use_is_refetched_before_its_in_process_entry_expires() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ttl = Duration::from_secs(4);
    let tiers = TierConfig {
        local_ttl: ttl,
        ..Default::default()
    };
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            tiers,
            ..Default::default()
        },
    )
    .await;
    let mut client = host.client().await;
    let id = db.inventory(&["+93770000311"]).await.remove(0);
    bring(&db, &acme, &id, NumberState::Assigned).await;
    assert_eq!(
        reason(&mut client, id.as_str(), "acme").await,
        ValidationReason::Ok
    );
    // past half the TTL, the bus down: a suspension nobody announces
    tokio::time::sleep(ttl / 2 + Duration::from_millis(200)).await;
    db.store.suspend(&admin_ctx(), &id).await.unwrap();
    // the next hit is served from memory and starts a background refetch;
    // nothing else reads the key from here on, so only that refetch can put
    // the suspension into the in-process tier (without it the entry would
    // expire and stay empty)
    reason(&mut client, id.as_str(), "acme").await;
    let key = id.key();
    numbering_tests::eventually(LIVENESS, "the background refetch", || async {
        host.reader
            .cached_locally(&key)
            .and_then(|c| c.snapshot)
            .is_some_and(|s| s.state == NumberState::Suspended)
    })
    .await;
    assert_eq!(
        reason(&mut client, id.as_str(), "acme").await,
        ValidationReason::LeaseSuspended
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_dynamodb_answers_stay_correct_and_without_postgres_too_nothing_is_allowed() {
    // a cluster of its own: this test stops it
    let dir = std::env::temp_dir().join(format!(
        "numbering-failclosed-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let pg = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || EmbeddedPostgres::start(&dir, 0, Durability::Throwaway).unwrap()
    })
    .await
    .unwrap();
    let url = pg.url("postgres");
    numbering_store::migrate(&url).await.unwrap();
    let pool = numbering_store::connect(&numbering_store::PoolConfig {
        acquire_timeout: Duration::from_millis(200),
        ..numbering_store::PoolConfig::new(url.clone())
    })
    .await
    .unwrap();
    let store = numbering_store::Store::new(pool, Default::default());
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ('acme', 'acme', 10)")
        .execute(&owner)
        .await
        .unwrap();
    let raw = ["+93700000401", "+93700000402", "+93700000403"];
    for r in raw {
        sqlx::query(
            "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
             VALUES ($1, $1, 'MSISDN', 'awcc', '412', '03')",
        )
        .bind(r)
        .execute(&owner)
        .await
        .unwrap();
    }
    owner.close().await;
    let acme = TenantId::parse("acme").unwrap();
    let assigned = Identifier::parse(raw[0]).unwrap();
    let r = store
        .reserve(&tenant_ctx(&acme), &acme, &assigned)
        .await
        .unwrap();
    store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();

    let mut moto = TestMoto::start();
    let tiers = TierConfig {
        dynamo_deadline: Duration::from_millis(100),
        postgres_deadline: Duration::from_millis(300),
        ..Default::default()
    };
    let host = TestHost::start(
        store.clone(),
        HostSetup {
            dynamo: Some(moto.tier(Duration::from_secs(30)).await),
            tiers,
            ..Default::default()
        },
    )
    .await;
    let mut client = host.client().await;
    assert_eq!(
        reason(&mut client, raw[0], "acme").await,
        ValidationReason::Ok
    );

    // DynamoDB gone: Postgres answers, correctly
    moto.stop();
    host.reader.clear_local();
    assert_eq!(
        reason(&mut client, raw[0], "acme").await,
        ValidationReason::Ok
    );
    assert_eq!(
        reason(&mut client, raw[0], "globex").await,
        ValidationReason::WrongTenant
    );
    assert_eq!(
        reason(&mut client, raw[1], "acme").await,
        ValidationReason::NotRegistered
    );

    // Postgres gone too: UNAVAILABLE, and never allowed
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .unwrap();
    host.reader.clear_local();
    let mut calls = Vec::new();
    for i in 0..10_000usize {
        let mut c = client.clone();
        let identifier = raw[i % raw.len()];
        calls.push(async move { validate(&mut c, identifier, "acme").await });
        if calls.len() == 100 || i == 9_999 {
            for outcome in futures_util::future::join_all(calls.drain(..)).await {
                match outcome {
                    Ok(r) => panic!("answered without any tier: {r:?}"),
                    Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
                }
            }
        }
    }
    host.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_older_dynamodb_item_never_overwrites_a_newer_one() {
    use numbering_validate_lease::local::Cached;
    let moto = TestMoto::start();
    let tier = moto.tier(Duration::from_secs(30)).await;
    let snapshot = |version: i64| {
        Cached::from_snapshot(Some(numbering_shared::NumberSnapshot {
            state: NumberState::Assigned,
            tenant_id: Some(TenantId::parse("acme").unwrap()),
            lease_id: None,
            lease_expires_at: None,
            reserved_until: None,
            version,
            link_until: None,
        }))
    };
    assert!(
        tier.put_forward("+93790000501", &snapshot(5))
            .await
            .unwrap()
    );
    assert!(
        !tier
            .put_forward("+93790000501", &snapshot(4))
            .await
            .unwrap(),
        "refused"
    );
    assert_eq!(tier.get("+93790000501").await.unwrap().unwrap().version, 5);

    // two writers racing with interleaved versions: the newest always wins
    let (a, b) = (tier.clone(), tier.clone());
    let evens = tokio::spawn(async move {
        for v in (2..=60).rev().step_by(2) {
            a.put_forward("+93790000502", &snapshot(v)).await.unwrap();
        }
    });
    let odds = tokio::spawn(async move {
        for v in (1..=59).step_by(2) {
            b.put_forward("+93790000502", &snapshot(v)).await.unwrap();
        }
    });
    evens.await.unwrap();
    odds.await.unwrap();
    assert_eq!(tier.get("+93790000502").await.unwrap().unwrap().version, 60);
}

#[tokio::test]
async fn an_expired_dynamodb_item_is_a_miss() {
    let moto = TestMoto::start();
    let tier = moto.tier(Duration::from_millis(200)).await;
    let item = numbering_validate_lease::local::Cached::from_snapshot(Some(
        numbering_shared::NumberSnapshot {
            state: NumberState::Assigned,
            tenant_id: None,
            lease_id: None,
            lease_expires_at: None,
            reserved_until: None,
            version: 1,
            link_until: None,
        },
    ));
    // an item written with a long validity is a hit (checked with no
    // deadline, so a slow machine cannot make it expire first)…
    let lenient = numbering_clients::lease_cache::LeaseCacheTable::new(
        tier.client().clone(),
        tier.table(),
        Duration::from_secs(3600),
    );
    lenient.put_forward("4455", &item).await.unwrap();
    assert!(tier.get("4455").await.unwrap().is_some());
    // …the same item written with a 200 ms validity is a miss 300 ms later
    assert!(tier.put_forward("4455", &item).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tier.get("4455").await.unwrap().is_none(),
        "expiry is checked on read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_relay_moves_the_lease_cache_forward_and_every_instance_forgets_the_old_answer() {
    use numbering_outbox_relay::{LeaseCacheProjection, Relay, RelayConfig};
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let nats = numbering_tests::TestNats::start();
    let acme = db.pool_for("acme").await;
    let tier = moto.tier(Duration::from_secs(300)).await;
    // a long in-process TTL: only the relay's invalidation can make it forget
    let tiers = TierConfig {
        local_ttl: Duration::from_secs(300),
        ..Default::default()
    };
    let writer = numbering_validate_lease::LeaseReader::new(
        db.store.clone(),
        numbering_store::SnapshotReader::connect_like(&db.app, 2)
            .await
            .unwrap(),
        Some(tier.clone()),
        tiers.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = Relay::new(
        db.app.clone(),
        async_nats::connect(nats.url()).await.unwrap(),
        RelayConfig::default(),
    )
    .with_projection_first(std::sync::Arc::new(LeaseCacheProjection::new(
        db.store.clone(),
        std::sync::Arc::new(writer),
    )));
    let relay = tokio::spawn(relay.run(stopped));
    let second = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(tier.clone()),
            tiers,
            nats: Some(async_nats::connect(nats.url()).await.unwrap()),
            grpc_tls: None,
        },
    )
    .await;
    let mut client = second.client().await;
    let id = db.inventory(&["+93700000601"]).await.remove(0);
    let r = db
        .store
        .reserve(&tenant_ctx(&acme), &acme, &id)
        .await
        .unwrap();
    let lease = db
        .store
        .assign(&tenant_ctx(&acme), &acme, r.id, true)
        .await
        .unwrap();
    // a new lease reaches the caches within the relay's lag (until then the
    // answer errs on the side of refusing)
    let started = Instant::now();
    while reason(&mut client, id.as_str(), "acme").await != ValidationReason::Ok {
        assert!(
            started.elapsed() < LIVENESS,
            "the new lease was not visible within {LIVENESS:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    db.store
        .release(&tenant_ctx(&acme), &acme, lease.id)
        .await
        .unwrap();
    // the 300 s in-process TTL cannot do it: only the relay's invalidation
    until_not_ok(&mut client, id.as_str(), LIVENESS).await;
    assert_eq!(
        reason(&mut client, id.as_str(), "acme").await,
        ValidationReason::QuarantineActive
    );
    // the lease cache itself moved forward: an instance with an empty in-process tier reads the new state
    let item = tier
        .get(&id.key())
        .await
        .unwrap()
        .expect("projected into DynamoDB");
    assert_eq!(item.snapshot.unwrap().state, NumberState::Quarantined);

    let _ = stop.send(true);
    let _ = relay.await;
    second.stop().await;
}

/// The standalone relay (`outbox-relay` with `NUMBERING_LEASE_CACHE_TABLE`)
/// keeps the DynamoDB lease cache in step without a hot path of its own:
/// each lease change reaches the table, and replayed events leave the
/// newest item in place.
#[tokio::test]
async fn the_standalone_relay_moves_the_dynamodb_lease_cache_forward() {
    use numbering_outbox_relay::{LeaseCacheProjection, Relay, RelayConfig};
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let nats = numbering_tests::TestNats::start();
    let acme = db.pool_for("acme").await;
    let tier = moto.tier(Duration::from_secs(300)).await;
    let projection = LeaseCacheProjection::standalone(
        db.store.clone(),
        numbering_clients::lease_cache::LeaseCacheTable::new(
            tier.client().clone(),
            tier.table(),
            Duration::from_secs(300),
        ),
    );
    let relay = Relay::new(
        db.app.clone(),
        async_nats::connect(nats.url()).await.unwrap(),
        RelayConfig::default(),
    )
    .with_projection_first(std::sync::Arc::new(projection));
    numbering_outbox_relay::ensure_streams(relay.jetstream())
        .await
        .unwrap();
    let id = db.inventory(&["+93700000611"]).await.remove(0);
    let ctx = tenant_ctx(&acme);
    let r = db.store.reserve(&ctx, &acme, &id).await.unwrap();
    let lease = db.store.assign(&ctx, &acme, r.id, true).await.unwrap();
    let version = |item: Option<numbering_validate_lease::local::Cached>| {
        let item = item.expect("projected into DynamoDB");
        (item.snapshot.map(|s| s.state), item.version)
    };
    while relay.publish_pending().await.unwrap() > 0 {}
    let assigned = version(tier.get(&id.key()).await.unwrap());
    assert_eq!(assigned.0, Some(NumberState::Assigned));

    db.store.release(&ctx, &acme, lease.id).await.unwrap();
    while relay.publish_pending().await.unwrap() > 0 {}
    let released = version(tier.get(&id.key()).await.unwrap());
    assert_eq!(released.0, Some(NumberState::Quarantined));
    assert!(released.1 > assigned.1);

    // every event of the identifier projected again (a replay)
    sqlx::query("UPDATE numbering.outbox SET published_at = NULL WHERE aggregate_id = $1")
        .bind(id.as_str())
        .execute(&db.owner)
        .await
        .unwrap();
    while relay.publish_pending().await.unwrap() > 0 {}
    assert_eq!(version(tier.get(&id.key()).await.unwrap()), released);
}

#[tokio::test]
async fn the_hot_path_role_reads_what_the_definer_function_reads_in_every_state() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let states = [
        NumberState::Available,
        NumberState::Reserved,
        NumberState::Held,
        NumberState::Assigned,
        NumberState::Suspended,
        NumberState::Quarantined,
        NumberState::Retired,
    ];
    let raw: Vec<String> = (0..states.len())
        .map(|i| format!("+9370000051{i}"))
        .collect();
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let hot = numbering_store::SnapshotReader::connect_like(&db.app, 1)
        .await
        .unwrap();
    for (id, state) in ids.iter().zip(states) {
        bring(&db, &acme, id, state).await;
        let through_role = hot.snapshot(id).await.unwrap();
        assert_eq!(
            through_role,
            db.store.snapshot(id).await.unwrap(),
            "{state:?}"
        );
        assert_eq!(
            through_role.is_some(),
            state != NumberState::Retired,
            "{state:?}"
        );
    }
    let unknown = Identifier::parse("+93700000599").unwrap();
    assert_eq!(hot.snapshot(&unknown).await.unwrap(), None);
}

#[tokio::test]
async fn the_hot_path_role_can_write_nothing_and_lends_the_app_role_no_rows() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db.inventory(&["+93700000601"]).await;
    bring(&db, &acme, &ids[0], NumberState::Assigned).await;
    let hot = numbering_store::SnapshotReader::connect_like(&db.app, 1)
        .await
        .unwrap();
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(hot.pool())
        .await
        .unwrap();
    assert_eq!(role, numbering_store::HOT_PATH_ROLE);
    for write in [
        "UPDATE numbering.numbers SET state = 'AVAILABLE', tenant_id = NULL",
        "DELETE FROM numbering.leases",
        "INSERT INTO numbering.numbers (identifier, identity_key, kind) VALUES ('905', '905', 'SHORT_CODE')",
        "UPDATE numbering.leases SET term_end = now() + interval '10 years'",
        "INSERT INTO numbering.audit_log (actor, action) VALUES ('intruder', 'forged')",
        "SELECT count(*) FROM numbering.tenant_pools",
        "CREATE TABLE numbering.planted (x int)",
    ] {
        let e = sqlx::query(write)
            .execute(hot.pool())
            .await
            .expect_err(write);
        let code = e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("42501"), "{write}: {e}");
    }
    // numbering_app is a member (so its logins may open the hot path's
    // pool) yet, unscoped, still sees no row: tenant RLS binds it as before
    let seen: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM numbering.numbers) + (SELECT count(*) FROM numbering.leases)",
    )
    .fetch_one(&db.app)
    .await
    .unwrap();
    assert_eq!(seen, 0);
    let snapshot = hot
        .snapshot(&ids[0])
        .await
        .unwrap()
        .expect("visible to the hot path");
    assert_eq!(snapshot.state, NumberState::Assigned);
}
