//! The seed's rollback switches: with the portal switched off
//! (`NUMBERING_PORTAL_ENABLED=false`) every portal route answers 503
//! problem+json `PORTAL_DISABLED`, the admin API keeps working, and a
//! platform admin can reserve, assign and release for a tenant, audited as
//! the admin.

use numbering_portal_api::config::PortalConfig;
use numbering_tests::{
    TestDb,
    app::{TestApp, admin_token, edge, tenant_token},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const P: &str = "/v1/portal/numbering";
const A: &str = "/v1/admin/numbering";

/// The test app with the portal configured from `NUMBERING_PORTAL_ENABLED`.
async fn app_with_portal(enabled: &str) -> TestApp {
    let get = |k: &str| (k == "NUMBERING_PORTAL_ENABLED").then(|| enabled.to_owned());
    let mut portal = PortalConfig::from_lookup(&get).unwrap();
    portal.rate_limit = 0.0;
    let edge = portal.apply(edge()).unwrap();
    TestApp::with_edge(TestDb::new().await, edge).await
}

#[tokio::test]
async fn a_switched_off_portal_answers_every_route_503_portal_disabled() {
    let app = app_with_portal("false").await;
    app.db.pool_for("acme").await;
    let acme = tenant_token("acme");
    let rid = uuid::Uuid::new_v4();
    let calls = [
        (Method::GET, format!("{P}/available")),
        (Method::POST, format!("{P}/reservations")),
        (Method::DELETE, format!("{P}/reservations/{rid}")),
        (Method::POST, format!("{P}/leases")),
        (Method::GET, format!("{P}/leases")),
        (Method::GET, format!("{P}/pool")),
        (Method::GET, format!("{P}/no/such/route")),
        (Method::GET, P.to_owned()),
    ];
    for (method, path) in calls {
        for token in [Some(acme.as_str()), None] {
            let a = app
                .call(method.clone(), &path, token, Some("k-1"), Some(&json!({})))
                .await;
            assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
            assert!(a.is_problem(), "{method} {path}: {:?}", a.json);
            assert_eq!(a.code(), "PORTAL_DISABLED", "{method} {path}");
        }
    }
}

#[tokio::test]
async fn with_the_portal_off_an_admin_reserves_assigns_and_releases_for_a_tenant() {
    let app = app_with_portal("false").await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567"]).await;
    let admin = admin_token();

    // the admin API answers as usual
    let pools = app.get(&admin, &format!("{A}/pools")).await;
    assert_eq!(pools.status, StatusCode::OK, "{:?}", pools.json);

    let r = app
        .post(
            &admin,
            &format!("{A}/tenants/acme/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.str("status"), "RESERVED");
    let l = app
        .post(
            &admin,
            &format!("{A}/tenants/acme/leases"),
            json!({ "reservation_id": r.str("id") }),
        )
        .await;
    assert_eq!(l.status, StatusCode::CREATED, "{:?}", l.json);
    assert_eq!(l.str("status"), "ACTIVE");

    // the lease is the tenant's, and the inventory says so
    let n = app
        .get(&admin, &format!("{A}/numbers/%2B93791234567"))
        .await;
    assert_eq!(n.json["tenant_id"], json!("acme"), "{:?}", n.json);
    assert_eq!(n.json["state"], json!("ASSIGNED"), "{:?}", n.json);

    // audited as the admin, for the tenant
    let audit = app
        .get(&admin, &format!("{A}/audit?subject=%2B93791234567"))
        .await;
    let entries = audit.json["items"].as_array().unwrap().clone();
    for action in ["reserve", "assign"] {
        let e = entries
            .iter()
            .find(|e| e["action"] == json!(action))
            .unwrap_or_else(|| panic!("no {action} entry in {entries:?}"));
        assert_eq!(e["actor"], json!("admin:test-user"), "{e}");
        assert_eq!(e["tenant_id"], json!("acme"), "{e}");
    }

    let rel = app
        .send(
            Method::POST,
            &admin,
            &format!("{A}/tenants/acme/leases/{}/release", l.str("id")),
            None,
        )
        .await;
    assert_eq!(rel.status, StatusCode::OK, "{:?}", rel.json);
    assert_eq!(rel.str("status"), "ENDED");
}

#[tokio::test]
async fn an_admin_acts_only_within_the_named_tenant() {
    let app = app_with_portal("true").await;
    app.db.pool_for("acme").await;
    app.db.pool_for("globex").await;
    app.db.inventory(&["+93791234567"]).await;
    let admin = admin_token();
    let r = app
        .post(
            &admin,
            &format!("{A}/tenants/acme/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    // acme's reservation is not globex's to assign
    let l = app
        .post(
            &admin,
            &format!("{A}/tenants/globex/leases"),
            json!({ "reservation_id": r.str("id") }),
        )
        .await;
    assert_eq!(l.status, StatusCode::NOT_FOUND, "{:?}", l.json);
    // a tenant token cannot use the admin routes
    let t = app
        .post(
            &tenant_token("acme"),
            &format!("{A}/tenants/acme/leases"),
            json!({ "reservation_id": r.str("id") }),
        )
        .await;
    assert_eq!(t.status, StatusCode::FORBIDDEN, "{:?}", t.json);
    // and the portal, switched on, serves the tenant as before
    let pool = app.get(&tenant_token("acme"), &format!("{P}/pool")).await;
    assert_eq!(pool.status, StatusCode::OK, "{:?}", pool.json);
}
