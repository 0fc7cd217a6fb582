//! ValidateLease across a renumbering, over gRPC against a host with every
//! tier (in-process, DynamoDB on moto, Postgres) and the relay projecting
//! into them: during the parallel-running window the old and the new
//! identifier get the same verdict, a change of the new number reaches
//! both, and after the window only the new one answers.

use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use numbering_outbox_relay::{LeaseCacheProjection, Relay, RelayConfig};
use numbering_proto::numbering::v1::{ValidateLeaseRequest, ValidationReason};
use numbering_shared::{Identifier, NumberState, renumbering::RenumberingPlan};
use numbering_tests::{
    TestDb, TestNats, admin_ctx,
    hot_path::{HostSetup, TestHost, TestMoto},
    tenant_ctx,
};
use numbering_validate_lease::{LeaseReader, TierConfig};

type Client = numbering_proto::numbering::v1::numbering_service_client::NumberingServiceClient<
    tonic::transport::Channel,
>;

/// How long a change may take to reach every tier through the relay.
const LIVENESS: Duration = Duration::from_secs(10);

async fn verdict(
    client: &mut Client,
    identifier: &str,
    tenant: &str,
) -> (ValidationReason, String) {
    let r = client
        .validate_lease(ValidateLeaseRequest {
            identifier: identifier.into(),
            tenant_id: tenant.into(),
        })
        .await
        .expect("an answer")
        .into_inner();
    assert_eq!(r.allowed, r.reason() == ValidationReason::Ok);
    (r.reason(), r.lease_id)
}

/// Waits until `identifier` answers `want` for `tenant`; the lease id of the answer.
async fn until(
    client: &mut Client,
    identifier: &str,
    tenant: &str,
    want: ValidationReason,
) -> String {
    let started = Instant::now();
    loop {
        let (reason, lease) = verdict(client, identifier, tenant).await;
        if reason == want {
            return lease;
        }
        assert!(
            started.elapsed() < LIVENESS,
            "{identifier} for {tenant}: {reason:?}, not {want:?} within {LIVENESS:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn msisdn(raw: &str) -> Identifier {
    Identifier::parse(raw).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_old_identifier_answers_like_the_new_one_during_the_window_and_not_after() {
    let db = TestDb::new().await;
    let moto = TestMoto::start();
    let nats = TestNats::start();
    let acme = db.pool_for("acme").await;
    db.pool_for("globex").await;
    let tier = moto.tier(Duration::from_secs(300)).await;
    // long in-process and DynamoDB lives: only the relay and the window can change an answer
    let tiers = TierConfig {
        local_ttl: Duration::from_secs(300),
        ..Default::default()
    };
    let writer = LeaseReader::new(
        db.store.clone(),
        numbering_store::SnapshotReader::connect_like(&db.app, 2)
            .await
            .unwrap(),
        Some(tier.clone()),
        tiers.clone(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let relay = Relay::new(db.app.clone(), nats.client().await, RelayConfig::default())
        .with_projection_first(std::sync::Arc::new(LeaseCacheProjection::new(
            db.store.clone(),
            std::sync::Arc::new(writer),
        )));
    let relay = tokio::spawn(relay.run(stopped));
    let host = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(tier.clone()),
            tiers,
            nats: Some(nats.client().await),
            grpc_tls: None,
        },
    )
    .await;
    let mut client = host.client().await;

    // a lease, a suspended lease, a quarantine and an available number
    let old = [
        "+93791500001",
        "+93791500002",
        "+93791500003",
        "+93791500004",
    ];
    let new = [
        "+93722500001",
        "+93722500002",
        "+93722500003",
        "+93722500004",
    ];
    let ids = db.inventory(&old).await;
    let t = tenant_ctx(&acme);
    let mut leases = Vec::new();
    for id in &ids[..3] {
        let r = db.store.reserve(&t, &acme, id).await.unwrap();
        leases.push(db.store.assign(&t, &acme, r.id, true).await.unwrap());
    }
    db.store.suspend(&admin_ctx(), &ids[1]).await.unwrap();
    db.store.release(&t, &acme, leases[2].id).await.unwrap();
    // every tier holds the old identifiers' answers before the move
    until(&mut client, old[0], "acme", ValidationReason::Ok).await;
    until(
        &mut client,
        old[1],
        "acme",
        ValidationReason::LeaseSuspended,
    )
    .await;
    until(
        &mut client,
        old[2],
        "acme",
        ValidationReason::QuarantineActive,
    )
    .await;

    // to the millisecond, as the caches keep it
    let window = Utc::now().trunc_subsecs(3) + chrono::Duration::seconds(8);
    let plan = RenumberingPlan::new(
        "roshan",
        "+937915",
        "+937225",
        Utc::now() - chrono::Duration::minutes(1),
        Some(window),
    )
    .unwrap();
    let r = db
        .store
        .plan_renumbering(&admin_ctx(), &plan)
        .await
        .unwrap();
    db.store
        .apply_renumbering(&admin_ctx(), r.id)
        .await
        .unwrap();

    // the same verdict for both, with the same lease (id kept)
    for who in [&old, &new] {
        let lease = until(&mut client, who[0], "acme", ValidationReason::Ok).await;
        assert_eq!(lease, leases[0].id.to_string(), "{}", who[0]);
        until(&mut client, who[0], "globex", ValidationReason::WrongTenant).await;
        until(
            &mut client,
            who[1],
            "acme",
            ValidationReason::LeaseSuspended,
        )
        .await;
        until(
            &mut client,
            who[2],
            "acme",
            ValidationReason::QuarantineActive,
        )
        .await;
        until(&mut client, who[3], "acme", ValidationReason::NotRegistered).await;
    }
    // a change of the new number during the window reaches the old one too
    db.store
        .reinstate(&admin_ctx(), &msisdn(new[1]))
        .await
        .unwrap();
    until(&mut client, new[1], "acme", ValidationReason::Ok).await;
    until(&mut client, old[1], "acme", ValidationReason::Ok).await;
    let item = tier.get(old[1]).await.unwrap().expect("the old key's item");
    let cached = item.snapshot.unwrap();
    assert_eq!(cached.state, NumberState::Assigned);
    assert_eq!(
        cached.link_until.map(|t| t.timestamp_millis()),
        Some(window.timestamp_millis())
    );

    // after the window: only the new identifiers answer, whatever the caches hold
    let wait = (window - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    for (o, n, want) in [
        (old[0], new[0], ValidationReason::Ok),
        (old[1], new[1], ValidationReason::Ok),
        (old[2], new[2], ValidationReason::QuarantineActive),
    ] {
        assert_eq!(
            verdict(&mut client, o, "acme").await.0,
            ValidationReason::NotRegistered,
            "{o}"
        );
        assert_eq!(verdict(&mut client, n, "acme").await.0, want, "{n}");
    }
    // and a fresh instance, reading DynamoDB first, agrees
    let fresh = TestHost::start(
        db.store.clone(),
        HostSetup {
            dynamo: Some(tier.clone()),
            ..Default::default()
        },
    )
    .await;
    let mut other = fresh.client().await;
    assert_eq!(
        verdict(&mut other, old[0], "acme").await.0,
        ValidationReason::NotRegistered
    );
    assert_eq!(
        verdict(&mut other, new[0], "acme").await.0,
        ValidationReason::Ok
    );

    let _ = stop.send(true);
    let _ = relay.await;
    host.stop().await;
    fresh.stop().await;
}

#[tokio::test]
async fn without_a_window_the_old_identifier_stops_answering_at_once() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db.inventory(&["+93791600001"]).await;
    let t = tenant_ctx(&acme);
    let r = db.store.reserve(&t, &acme, &ids[0]).await.unwrap();
    db.store.assign(&t, &acme, r.id, true).await.unwrap();
    let plan = RenumberingPlan::new(
        "roshan",
        "+937916",
        "+937226",
        Utc::now() - chrono::Duration::minutes(1),
        None,
    )
    .unwrap();
    let r = db
        .store
        .plan_renumbering(&admin_ctx(), &plan)
        .await
        .unwrap();
    db.store
        .apply_renumbering(&admin_ctx(), r.id)
        .await
        .unwrap();
    let reader = numbering_store::SnapshotReader::connect_like(&db.app, 1)
        .await
        .unwrap();
    let now = Utc::now();
    let old = reader
        .snapshot(&ids[0])
        .await
        .unwrap()
        .expect("read through the link");
    let verdict = numbering_shared::validation::validate(Some(&old), &acme, now);
    assert_eq!(
        verdict.reason,
        numbering_shared::ValidationReason::NotRegistered
    );
    let new = reader
        .snapshot(&msisdn("+93722600001"))
        .await
        .unwrap()
        .expect("the new number");
    assert_eq!(new.link_until, None);
    let verdict = numbering_shared::validation::validate(Some(&new), &acme, now);
    assert_eq!(verdict.reason, numbering_shared::ValidationReason::Ok);
    // the store's own read (the relay's) says the same
    let via_store = db.store.snapshot(&ids[0]).await.unwrap().unwrap();
    assert_eq!(via_store.version, old.version);
    assert!(via_store.link_until.is_some_and(|u| u <= now));
}
