//! Idempotency-Key on mutating routes: missing, replayed (also after a
//! restart), reused for another request, and in use by a running request.

use std::time::Duration;

use numbering_tests::app::{TestApp, admin_token, tenant_token};
use reqwest::{Method, StatusCode};
use serde_json::json;

const RESERVE: &str = "/v1/portal/numbering/reservations";

#[tokio::test]
async fn a_mutating_request_without_an_idempotency_key_is_refused_with_400() {
    let app = TestApp::new().await;
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
    // wait until the first request has claimed its key
    for _ in 0..100 {
        if app
            .db
            .count("numbering.idempotency_keys WHERE key = 'slow'")
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
