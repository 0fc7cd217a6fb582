//! The Lambda entry points serve the same routers: API Gateway v2 (HTTP
//! API) event fixtures, converted by `lambda_http`, pushed through them.

use lambda_http::{Body, request::LambdaRequest, tower::ServiceExt};
use numbering_http_edge::{ApiState, with_fallbacks};
use numbering_tests::{
    TestDb,
    app::{admin_token, edge, tenant_token},
};
use serde_json::Value;

fn event(name: &str, token: &str) -> lambda_http::http::Request<Body> {
    let path = format!("{}/fixtures/apigw-v2/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{TOKEN}}", token);
    let event: LambdaRequest = serde_json::from_str(&text).unwrap();
    event.into()
}

async fn call(router: axum::Router, req: lambda_http::http::Request<Body>) -> (u16, String, Value) {
    let r = router.oneshot(req).await.unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        ctype,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn api_gateway_v2_events_run_through_the_portal_router() {
    let db = TestDb::new().await;
    db.pool_for("acme").await;
    db.inventory(&["+93791234567", "+93797770001"]).await;
    let state = ApiState {
        store: db.store.clone(),
        edge: edge(),
    };
    let portal = with_fallbacks(numbering_portal_api::router(state));
    let t = tenant_token("acme");

    let (status, _, body) = call(portal.clone(), event("portal-available.json", &t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["identifier"], "+93797770001");

    let (status, _, body) = call(portal.clone(), event("portal-reserve.json", &t)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["identifier"], "+93791234567");
    // a redelivered event with the same Idempotency-Key is replayed, not re-run
    let (again, _, replay) = call(portal, event("portal-reserve.json", &t)).await;
    assert_eq!((again, replay), (201, body));
    assert_eq!(db.count("numbering.reservations").await, 1);
}

#[tokio::test]
async fn a_malformed_base64_body_through_the_admin_router_is_a_problem_not_a_crash() {
    let db = TestDb::new().await;
    let state = ApiState {
        store: db.store.clone(),
        edge: edge(),
    };
    let admin = with_fallbacks(numbering_admin_api::router(state));
    let (status, ctype, body) =
        call(admin.clone(), event("admin-malformed.json", &admin_token())).await;
    assert_eq!(status, 400, "{body}");
    assert!(ctype.starts_with("application/problem+json"));
    assert_eq!(body["code"], "MALFORMED_JSON");
    // and a portal token is refused by the admin function
    let (status, _, _) = call(admin, event("admin-malformed.json", &tenant_token("acme"))).await;
    assert_eq!(status, 403);
}
