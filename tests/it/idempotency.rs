//! Idempotency-Key on mutating routes: missing, replayed (also after a
//! restart), reused for another request, and in use by a running request.

use std::time::Duration;

use numbering_shared::Identifier;
use numbering_store::idempotency::{Claim, Entered, StoredResponse};
use numbering_tests::{
    TestDb,
    app::{TestApp, admin_token, tenant_token},
    tenant_ctx,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const RESERVE: &str = "/v1/portal/numbering/reservations";

/// The advisory lock that marks `owner`'s `key` in use
/// (`numbering.enter_idempotency_key`): the single-bigint lock on a 64-bit
/// hash of the key, which `pg_locks` shows split into `classid` (high half)
/// and `objid` (low half).
fn key_lock(owner: &str, key: &str) -> String {
    format!(
        "pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted \
           AND ((classid::bigint << 32) | objid::bigint) \
               = hashtextextended('{owner}' || E'\\n' || '{key}', 1229212491)"
    )
}

#[tokio::test]
async fn a_mutating_request_without_an_idempotency_key_is_refused_with_400() {
    let app = TestApp::single_admin().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567"]).await;
    let body = json!({ "identifier": "+93791234567" });
    let a = app
        .call(
            Method::POST,
            RESERVE,
            Some(&tenant_token("acme")),
            None,
            Some(&body),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (StatusCode::BAD_REQUEST, "IDEMPOTENCY_KEY_MISSING")
    );
    assert!(a.is_problem());
    let admin = app
        .call(
            Method::POST,
            "/v1/admin/numbering/numbers/+93791234567/retire",
            Some(&admin_token()),
            None,
            None,
        )
        .await;
    assert_eq!(admin.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.db.count("numbering.reservations").await, 0);
}

#[tokio::test]
async fn the_same_key_and_request_replays_the_stored_response_byte_for_byte_even_after_a_restart() {
    let mut app = TestApp::new().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567"]).await;
    let t = tenant_token("acme");
    let body = json!({ "identifier": "+93791234567" });
    let first = app
        .call(Method::POST, RESERVE, Some(&t), Some("key-1"), Some(&body))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
    let second = app
        .call(Method::POST, RESERVE, Some(&t), Some("key-1"), Some(&body))
        .await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(
        app.db.count("numbering.reservations").await,
        1,
        "the work ran once"
    );

    app.restart().await;
    let after = app
        .call(Method::POST, RESERVE, Some(&t), Some("key-1"), Some(&body))
        .await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert_eq!(after.bytes, first.bytes);
    assert_eq!(after.headers["content-type"], first.headers["content-type"]);
    assert_eq!(app.db.count("numbering.reservations").await, 1);

    // keys are per tenant: another tenant's identical key is its own
    app.db.pool_for("globex").await;
    let other = app
        .call(
            Method::POST,
            RESERVE,
            Some(&tenant_token("globex")),
            Some("key-1"),
            Some(&body),
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    // and kept at least a day
    assert_eq!(
        app.db
            .count(
                "numbering.idempotency_keys WHERE expires_at >= created_at + interval '24 hours'"
            )
            .await,
        2
    );
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused_with_422() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567", "+93791234568"]).await;
    let t = tenant_token("acme");
    let a = app
        .call(
            Method::POST,
            RESERVE,
            Some(&t),
            Some("k"),
            Some(&json!({ "identifier": "+93791234567" })),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let b = app
        .call(
            Method::POST,
            RESERVE,
            Some(&t),
            Some("k"),
            Some(&json!({ "identifier": "+93791234568" })),
        )
        .await;
    assert_eq!(
        (b.status, b.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED")
    );
    assert!(b.is_problem());
    assert_eq!(app.db.count("numbering.reservations").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_while_the_first_request_still_runs_is_refused_with_409() {
    let app = std::sync::Arc::new(TestApp::new().await);
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567"]).await;
    // hold the tenant's pool row so the first request blocks mid-flight
    let mut blocker = app.db.owner.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM numbering.tenant_pools WHERE tenant_id = 'acme' FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let t = tenant_token("acme");
    let body = json!({ "identifier": "+93791234567" });
    let first = {
        let (app, t, body) = (app.clone(), t.clone(), body.clone());
        tokio::spawn(async move {
            app.call(Method::POST, RESERVE, Some(&t), Some("slow"), Some(&body))
                .await
        })
    };
    // wait until the first request has taken its key (the advisory lock
    // its transaction holds while it runs)
    for _ in 0..100 {
        if app.db.count(&key_lock("acme", "slow")).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.db.count(&key_lock("acme", "slow")).await,
        1,
        "the first request runs"
    );
    let second = app
        .call(Method::POST, RESERVE, Some(&t), Some("slow"), Some(&body))
        .await;
    assert_eq!(
        (second.status, second.code()),
        (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_USE")
    );
    blocker.rollback().await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
    let third = app
        .call(Method::POST, RESERVE, Some(&t), Some("slow"), Some(&body))
        .await;
    assert_eq!(third.bytes, first.bytes);
}

#[tokio::test]
async fn an_expired_key_is_free_again() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567", "+93791234568"]).await;
    let t = tenant_token("acme");
    let first = app
        .call(
            Method::POST,
            RESERVE,
            Some(&t),
            Some("old"),
            Some(&json!({ "identifier": "+93791234567" })),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    sqlx::query(
        "UPDATE numbering.idempotency_keys SET created_at = now() - interval '3 days', expires_at = now() - interval '1 day'",
    )
    .execute(&app.db.owner)
    .await
    .unwrap();
    let reused = app
        .call(
            Method::POST,
            RESERVE,
            Some(&t),
            Some("old"),
            Some(&json!({ "identifier": "+93791234568" })),
        )
        .await;
    assert_eq!(reused.status, StatusCode::CREATED, "{:?}", reused.json);
    assert_eq!(reused.str("identifier"), "+93791234568");
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: json!([["content-type", "application/json"]]),
        body: body.as_bytes().to_vec(),
    }
}

/// Two different keys whose 32-bit hashes collide are both free at once:
/// the lock that marks a key in use is keyed by a 64-bit hash (until
/// migration 20261128600100 it was `hashtext`, and the later of two such
/// keys was refused as in use by the other).
#[tokio::test]
async fn two_keys_whose_32_bit_hashes_collide_are_taken_at_once() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    // a birthday search: about ten collisions among 300,000 keys
    let (a, b): (String, String) = sqlx::query_as(
        "SELECT min(k), max(k) FROM (SELECT 'key-' || g AS k FROM generate_series(1, 300000) g) s \
         GROUP BY hashtext('acme' || E'\\n' || k) HAVING count(*) > 1 LIMIT 1",
    )
    .fetch_one(&db.owner)
    .await
    .unwrap();
    assert_ne!(a, b);

    let Entered::Claimed(first) = db
        .store
        .enter_idempotency_key(Some(&acme), "acme", &a, "fp-a")
        .await
        .unwrap()
    else {
        panic!("{a} is free");
    };
    // while the request with key a runs, key b is free for both ways of
    // running a request
    let second = db
        .store
        .enter_idempotency_key(Some(&acme), "acme", &b, "fp-b")
        .await
        .unwrap();
    let Entered::Claimed(second) = second else {
        panic!("{b} is not in use, whatever its 32-bit hash");
    };
    // given back at once (a dropped unit rolls back when its connection
    // next goes out, which may be after the claim below)
    second.abandon().await.unwrap();
    assert_eq!(
        db.store
            .claim_idempotency_key(Some(&acme), "acme", &b, "fp-b")
            .await
            .unwrap(),
        Claim::Claimed
    );
    // and key a itself is still in use
    assert_eq!(
        db.store
            .claim_idempotency_key(Some(&acme), "acme", &a, "fp-a")
            .await
            .unwrap(),
        Claim::InFlight
    );
    drop(first);
}

/// Exactly once: the change and the stored response commit together. A
/// request that dies before its commit (its unit dropped) leaves neither
/// its change nor its key, so the retry runs it; once committed, the key
/// replays and is never run again.
#[tokio::test]
async fn a_change_and_its_stored_response_commit_together_or_not_at_all() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let number = Identifier::parse("+93791234567").unwrap();
    db.inventory(&["+93791234567"]).await;
    let ctx = tenant_ctx(&acme);
    let enter = || {
        db.store
            .enter_idempotency_key(Some(&acme), "acme", "k1", "fp-1")
    };

    let Entered::Claimed(unit) = enter().await.unwrap() else {
        panic!("a fresh key is ours");
    };
    unit.store().reserve(&ctx, &acme, &number).await.unwrap();
    // the reservation's commit waits for the request's end
    assert_eq!(db.count("numbering.reservations").await, 0);
    // meanwhile the key is in use, for both ways of running a request
    assert!(matches!(
        enter().await.unwrap(),
        Entered::Decided(Claim::InFlight)
    ));
    assert_eq!(
        db.store
            .claim_idempotency_key(Some(&acme), "acme", "k1", "fp-1")
            .await
            .unwrap(),
        Claim::InFlight
    );
    drop(unit); // the process dies before the commit
    for _ in 0..100 {
        // its connection's rollback (a dead process's: when the server
        // notices) frees the key
        if db.count(&key_lock("acme", "k1")).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(db.count("numbering.reservations").await, 0);
    assert_eq!(db.count("numbering.idempotency_keys").await, 0);
    assert_eq!(db.count("numbering.outbox").await, 0);
    assert_eq!(db.count(&key_lock("acme", "k1")).await, 0);

    // the retry runs the change, once, with its response
    let Entered::Claimed(unit) = enter().await.unwrap() else {
        panic!("the key is free again");
    };
    let reserved = unit.store().reserve(&ctx, &acme, &number).await.unwrap();
    unit.complete(&response(&reserved.id.to_string()))
        .await
        .unwrap();
    assert_eq!(db.count("numbering.reservations").await, 1);
    assert_eq!(
        db.count("numbering.idempotency_keys WHERE status = 'COMPLETED'")
            .await,
        1
    );
    match enter().await.unwrap() {
        Entered::Decided(Claim::Replay(stored)) => {
            assert_eq!(stored, response(&reserved.id.to_string()))
        }
        _ => panic!("a completed key replays"),
    }
    assert!(matches!(
        db.store
            .enter_idempotency_key(Some(&acme), "acme", "k1", "another request")
            .await
            .unwrap(),
        Entered::Decided(Claim::Reused)
    ));
}

/// A request whose own transaction rolled back (a domain error) still
/// stores its answer, in a transaction of its own, and replays it.
#[tokio::test]
async fn a_refused_request_stores_its_answer_after_its_transaction_rolled_back() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let number = Identifier::parse("+93791234567").unwrap(); // not in inventory
    let Entered::Claimed(unit) = db
        .store
        .enter_idempotency_key(Some(&acme), "acme", "k2", "fp-2")
        .await
        .unwrap()
    else {
        panic!("a fresh key is ours");
    };
    let refused = unit
        .store()
        .reserve(&tenant_ctx(&acme), &acme, &number)
        .await;
    assert!(refused.is_err());
    let answer = StoredResponse {
        status: 404,
        ..response("not found")
    };
    unit.complete(&answer).await.unwrap();
    match db
        .store
        .enter_idempotency_key(Some(&acme), "acme", "k2", "fp-2")
        .await
        .unwrap()
    {
        Entered::Decided(Claim::Replay(stored)) => assert_eq!(stored, answer),
        _ => panic!("the refusal replays"),
    }
    assert_eq!(db.count("numbering.reservations").await, 0);
}

/// Sixteen copies of one request sent at once: the change runs once; every
/// answer is that one's bytes (first or replayed) or 409 while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_copies_of_one_request_run_it_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567"]).await;
    let t = tenant_token("acme");
    let body = json!({ "criteria": { "kind": "MSISDN" } });
    let copies: Vec<_> = (0..16)
        .map(|_| {
            let (app, t, body) = (app.clone(), t.clone(), body.clone());
            tokio::spawn(async move {
                app.call(Method::POST, RESERVE, Some(&t), Some("once"), Some(&body))
                    .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for c in copies {
        let a = c.await.unwrap();
        match a.status {
            StatusCode::CREATED => created.push(a.bytes),
            StatusCode::CONFLICT => assert_eq!(a.code(), "IDEMPOTENCY_KEY_IN_USE"),
            other => panic!("unexpected {other}: {:?}", a.json),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|b| *b == created[0]), "one answer");
    assert_eq!(app.db.count("numbering.reservations").await, 1);
    assert_eq!(app.db.count("numbering.idempotency_keys").await, 1);
}

#[tokio::test]
async fn a_request_dropped_while_its_transaction_begins_leaves_no_transaction_open() {
    // One connection, so every use below gets the connection the dropped
    // request had. sqlx 0.8 returns a connection whose `BEGIN` was sent but
    // whose answer was never read to the pool inside that transaction, and
    // everything its next borrowers do then runs in it (sqlx issue 4393).
    let db = TestDb::new().await;
    let mut config = numbering_store::PoolConfig::new(db.owner_url.clone());
    config.max_connections = 1;
    let pool = numbering_store::connect(&config).await.unwrap();
    let store = numbering_store::Store::new(pool.clone(), Default::default());
    let tenant = db.pool_for("dropper").await;
    for attempt in 0..20 {
        let key = format!("dropped-{attempt}");
        let mut entering =
            Box::pin(store.enter_idempotency_key(Some(&tenant), tenant.as_str(), &key, "fp"));
        // poll once: the BEGIN goes out; then let its answer arrive unread
        // and drop the request, as a client that went away makes axum do
        tokio::select! {
            biased;
            _ = &mut entering => {}
            _ = std::future::ready(()) => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(entering);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // outside a transaction every statement is a transaction of its own
        let xact = || async {
            sqlx::query_scalar::<_, String>("SELECT pg_current_xact_id()::text")
                .fetch_one(&pool)
                .await
                .unwrap()
        };
        let (first, second) = (xact().await, xact().await);
        assert_ne!(
            first, second,
            "attempt {attempt}: the pooled connection was left inside a transaction"
        );
    }
}

/// A handler that makes its store calls one after another: reserves each
/// identifier of `?try=` in turn, keeps going when one is refused, and
/// answers 201 naming the reservations it made.
async fn reserve_each(
    numbering_http_edge::RequestState(s): numbering_http_edge::RequestState,
    axum::Extension(p): axum::Extension<numbering_http_edge::Principal>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let tenant = p.tenant_id.expect("a tenant token");
    let ctx = tenant_ctx(&tenant);
    let mut reserved = Vec::new();
    for raw in q["try"].split(',') {
        let id = Identifier::parse(raw).unwrap();
        // a refused call's transaction is dropped without a commit
        if let Ok(r) = s.store.reserve(&ctx, &tenant, &id).await {
            reserved.push(r.id.to_string());
        }
    }
    let body = axum::Json(json!({ "reserved": reserved }));
    (axum::http::StatusCode::CREATED, body).into_response()
}

/// [`reserve_each`] behind the real authentication and Idempotency-Key
/// middleware, over the test database, on 127.0.0.1:0.
async fn serve_reserve_each(db: &TestDb) -> String {
    use axum::middleware::from_fn_with_state;
    use numbering_http_edge::{ApiState, auth, idempotency};
    let state = ApiState {
        store: db.store.clone(),
        edge: numbering_tests::app::edge(),
    };
    let router = axum::Router::new()
        .route("/reserve-each", axum::routing::post(reserve_each))
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_tenant))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/reserve-each")
}

/// Sends `?try=<identifiers>` under `key` twice: the answer, then its replay.
async fn reserve_each_twice(
    db: &TestDb,
    key: &str,
    identifiers: &str,
) -> (numbering_tests::app::Answer, numbering_tests::app::Answer) {
    let url = serve_reserve_each(db).await;
    let client = reqwest::Client::new();
    let call = || {
        client
            .post(format!("{url}?try={}", identifiers.replace('+', "%2B")))
            .bearer_auth(tenant_token("acme"))
            .header("Idempotency-Key", key)
            .send()
    };
    let first = numbering_tests::app::answer(call().await.unwrap()).await;
    let replay = numbering_tests::app::answer(call().await.unwrap()).await;
    (first, replay)
}

/// How many of the reservations `answer` names exist.
async fn named_reservations(db: &TestDb, answer: &numbering_tests::app::Answer) -> usize {
    let mut found = 0;
    for id in answer.json["reserved"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        found += db
            .count(&format!("numbering.reservations WHERE id = '{id}'"))
            .await as usize;
    }
    found
}

/// The latent case of the request transaction shared through a task-local:
/// a store call in the middle of a keyed request fails (its transaction is
/// dropped) and the handler still answers 201. The failed call undoes
/// itself alone: the calls before and after it commit with the stored
/// answer, so the replay names exactly what was committed.
#[tokio::test]
async fn a_failed_store_call_inside_a_keyed_request_undoes_only_itself() {
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["+93791234567", "+93791234568"]).await;
    // the middle one is not in inventory: refused
    let (first, replay) =
        reserve_each_twice(&db, "each-1", "+93791234567,+93791234569,+93791234568").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.json["reserved"].as_array().unwrap().len(), 2);
    assert_eq!(named_reservations(&db, &first).await, 2);
    assert_eq!(db.count("numbering.reservations").await, 2);
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.bytes, first.bytes);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(db.count("numbering.reservations").await, 2);
}

/// The first store call of a keyed request runs without a savepoint: when
/// it fails, the request's transaction starts again, with the key taken
/// again, and the later calls commit with the stored answer.
#[tokio::test]
async fn a_keyed_request_whose_first_store_call_fails_commits_its_later_ones_with_its_answer() {
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["+93791234567", "+93791234568"]).await;
    let (first, replay) =
        reserve_each_twice(&db, "each-2", "+93791234569,+93791234567,+93791234568").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(named_reservations(&db, &first).await, 2);
    assert_eq!(db.count("numbering.reservations").await, 2);
    assert_eq!(replay.bytes, first.bytes);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(
        db.count("numbering.idempotency_keys WHERE status = 'COMPLETED'")
            .await,
        1
    );
}
