//! A refused transition is counted (an ops event) on the connection its
//! request already holds: concurrent refusals never wait for a second
//! pooled connection, so a small pool answers every one of them, and every
//! one is counted.

use std::time::Duration;

use numbering_store::{PoolConfig, Store};
use numbering_tests::{
    TestDb,
    app::{TestApp, admin_token, edge_with_two_person},
    system_ctx,
};
use reqwest::Method;
use serde_json::json;

const POOL: u32 = 4;
const CONCURRENT: usize = 16;

/// A test database whose store has a pool of [`POOL`] connections. The
/// acquire timeout is long: a request that waited that long for a
/// connection would be a starved pool, not a slow machine.
async fn small_pool_db() -> TestDb {
    let mut db = TestDb::new().await;
    let mut config = PoolConfig::new(db.owner_url.clone());
    config.max_connections = POOL;
    config.acquire_timeout = Duration::from_secs(30);
    config.statement_timeout = Duration::from_secs(60);
    let pool = numbering_store::connect(&config).await.expect("small pool");
    db.store = Store::new(pool, *db.store.policy());
    db
}

async fn ops_events(db: &TestDb) -> i64 {
    db.count("numbering.outbox WHERE event_type = 'numbering.ops.invalid_transition.v1'")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_simultaneous_overrides_of_an_available_number_on_a_pool_of_four_are_each_refused_and_counted()
 {
    let db = small_pool_db().await;
    let id = db.inventory(&["+93791239001"]).await.remove(0);
    // one admin's overrides, refused by the lifecycle: the rule is off
    let edge = edge_with_two_person(&[("NUMBERING_TWO_PERSON_ACTIONS", "none")]);
    let app = std::sync::Arc::new(TestApp::with_edge(db, edge).await);
    let token = admin_token();
    let path = format!("/v1/admin/numbering/quarantine/{}/override", id.as_str());
    let body = json!({ "justification": "a justification of well over twenty characters" });
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CONCURRENT));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let (app, token, path, body, start) = (
            app.clone(),
            token.clone(),
            path.clone(),
            body.clone(),
            start.clone(),
        );
        calls.spawn(async move {
            start.wait().await;
            app.send(Method::POST, &token, &path, Some(body)).await
        });
    }
    let mut refused = 0;
    while let Some(a) = calls.join_next().await {
        let a = a.unwrap();
        assert!(!a.status.is_server_error(), "{} {:?}", a.status, a.json);
        assert_eq!((a.status.as_u16(), a.code()), (409, "INVALID_TRANSITION"));
        refused += 1;
    }
    assert_eq!(refused, CONCURRENT as i64);
    assert_eq!(
        ops_events(&app.db).await,
        refused,
        "every refusal is counted"
    );
    // and nothing else was written
    assert_eq!(
        app.db
            .count("numbering.outbox WHERE stream = 'NUMBERING_EVENTS'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refusals_outside_any_request_each_use_one_connection_and_are_each_counted() {
    let db = small_pool_db().await;
    let id = db.inventory(&["+93791239002"]).await.remove(0);
    let store = db.store.clone();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CONCURRENT));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let (store, id, start) = (store.clone(), id.clone(), start.clone());
        calls.spawn(async move {
            start.wait().await;
            // an AVAILABLE number cannot be suspended (a billing event that
            // arrived for it, say)
            store.suspend(&system_ctx(), &id).await
        });
    }
    while let Some(r) = calls.join_next().await {
        let e = r.unwrap().unwrap_err();
        assert_eq!(e.code(), "INVALID_TRANSITION", "{e:?}");
    }
    assert_eq!(ops_events(&db).await, CONCURRENT as i64);
}
