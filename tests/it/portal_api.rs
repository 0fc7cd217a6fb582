//! The tenant portal over HTTP against real Postgres: the Phase 2 exit
//! flow, tenant isolation, pool rules, "reserve any" under concurrency,
//! browsing by cursor and the rate limit.

use std::collections::HashSet;

use numbering_tests::app::{TestApp, admin_token, edge, tenant_token};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const P: &str = "/v1/portal/numbering";
const A: &str = "/v1/admin/numbering";

#[tokio::test]
async fn the_phase_two_exit_flow_runs_over_http_and_ends_in_an_audited_override() {
    let app = TestApp::single_admin().await;
    app.db.pool_for("acme").await;
    app.db.inventory(&["+93791234567", "+93791234568"]).await;
    let acme = tenant_token("acme");
    let admin = admin_token();

    // browse
    let page = app
        .get(
            &acme,
            &format!("{P}/available?kind=MSISDN&operator=roshan&prefix=%2B937912345"),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.json);
    let found: Vec<&str> = page.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["+93791234567", "+93791234568"]);

    // reserve → hold → assign
    let r = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.str("status"), "RESERVED");
    let rid = r.str("id");
    let h = app
        .send(
            Method::POST,
            &acme,
            &format!("{P}/reservations/{rid}/hold"),
            None,
        )
        .await;
    assert_eq!(
        (h.status, h.str("status")),
        (StatusCode::OK, "HELD".into()),
        "{:?}",
        h.json
    );
    let l = app
        .post(
            &acme,
            &format!("{P}/leases"),
            json!({ "reservation_id": rid, "auto_renew": true }),
        )
        .await;
    assert_eq!(l.status, StatusCode::CREATED, "{:?}", l.json);
    let lid = l.str("id");
    let listed = app.get(&acme, &format!("{P}/leases")).await;
    assert_eq!(listed.json["items"][0]["id"], json!(lid));
    let pool = app.get(&acme, &format!("{P}/pool")).await;
    assert_eq!(pool.json["usage"]["MSISDN"], json!(1), "{:?}", pool.json);

    // release → quarantine
    let rel = app
        .send(
            Method::POST,
            &acme,
            &format!("{P}/leases/{lid}/release"),
            None,
        )
        .await;
    assert_eq!(
        (rel.status, rel.str("status")),
        (StatusCode::OK, "ENDED".into()),
        "{:?}",
        rel.json
    );
    let n = app.get(&admin, &format!("{A}/numbers/+93791234567")).await;
    assert_eq!(n.str("state"), "QUARANTINED", "{:?}", n.json);
    let history = app
        .get(&acme, &format!("{P}/numbers/+93791234567/history"))
        .await;
    assert_eq!(
        history.json["items"][0]["id"],
        json!(lid),
        "{:?}",
        history.json
    );

    // the same tenant's immediate re-reserve is refused
    let again = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "QUARANTINE_ACTIVE");
    assert!(again.is_problem());

    // an override needs a real justification …
    let short = app
        .post(
            &admin,
            &format!("{A}/quarantine/+93791234567/override"),
            json!({ "justification": "because" }),
        )
        .await;
    assert_eq!(
        (short.status, short.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    assert_eq!(short.json["field"], json!("justification"));
    // … and with one the number is available again, the reason audited
    let why = "number ported back to the tenant after an MNO error, ticket OPS-1234";
    let o = app
        .post(
            &admin,
            &format!("{A}/quarantine/+93791234567/override"),
            json!({ "justification": why }),
        )
        .await;
    assert_eq!(
        (o.status, o.str("state")),
        (StatusCode::OK, "AVAILABLE".into()),
        "{:?}",
        o.json
    );
    let audit = app
        .get(&admin, &format!("{A}/audit?subject=%2B93791234567"))
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.json);
    assert!(audit.json.to_string().contains(why), "{}", audit.json);
    let back = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    assert_eq!(back.status, StatusCode::CREATED, "{:?}", back.json);
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_a_tenants_reservations_and_leases() {
    let app = TestApp::single_admin().await;
    app.db.pool_for("acme").await;
    app.db.pool_for("globex").await;
    app.db.inventory(&["+93791234567", "+93791234568"]).await;
    let (a, b) = (tenant_token("acme"), tenant_token("globex"));
    let r1 = app
        .post(
            &a,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    let r2 = app
        .post(
            &a,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234568" }),
        )
        .await;
    let lease = app
        .post(
            &a,
            &format!("{P}/leases"),
            json!({ "reservation_id": r2.str("id") }),
        )
        .await;
    let (rid, lid) = (r1.str("id"), lease.str("id"));

    for ans in [
        app.get(&b, &format!("{P}/reservations/{rid}")).await,
        app.send(
            Method::POST,
            &b,
            &format!("{P}/reservations/{rid}/hold"),
            None,
        )
        .await,
        app.send(Method::DELETE, &b, &format!("{P}/reservations/{rid}"), None)
            .await,
        app.post(&b, &format!("{P}/leases"), json!({ "reservation_id": rid }))
            .await,
        app.get(&b, &format!("{P}/leases/{lid}")).await,
        app.send(
            Method::PATCH,
            &b,
            &format!("{P}/leases/{lid}"),
            Some(json!({ "auto_renew": false })),
        )
        .await,
        app.send(Method::POST, &b, &format!("{P}/leases/{lid}/release"), None)
            .await,
        app.get(&b, &format!("{P}/numbers/+93791234568/history"))
            .await,
    ] {
        assert_eq!(ans.status, StatusCode::NOT_FOUND, "{:?}", ans.json);
        assert_eq!(ans.code(), "NOT_FOUND");
    }
    let listed = app.get(&b, &format!("{P}/leases?status=all")).await;
    assert_eq!(listed.json["items"], json!([]));
    let browse = app.get(&b, &format!("{P}/available")).await;
    assert_eq!(
        browse.json["items"],
        json!([]),
        "held numbers are not on offer"
    );
    // acme's objects are untouched
    assert_eq!(
        app.get(&a, &format!("{P}/leases/{lid}"))
            .await
            .str("status"),
        "ACTIVE"
    );

    // a portal token cannot call admin routes
    let forbidden = app.get(&a, &format!("{A}/numbers")).await;
    assert_eq!(
        (forbidden.status, forbidden.code()),
        (StatusCode::FORBIDDEN, "FORBIDDEN")
    );
    let forbidden = app
        .post(
            &a,
            &format!("{A}/quarantine/+93791234568/override"),
            json!({ "justification": "x".repeat(30) }),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    // and an admin token is not a tenant
    let admin = app.get(&admin_token(), &format!("{P}/leases")).await;
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pool_rules_refuse_over_quota_outside_the_allowlist_and_vanity_without_the_flag() {
    let app = TestApp::new().await;
    app.db.pool_with("acme", 2, 5, 5, &["roshan"], false).await;
    app.db
        .inventory(&[
            "+93791000001",
            "+93791000002",
            "+93791000003",
            "+93781000001",
            "4455",
        ])
        .await;
    sqlx::query("UPDATE numbering.numbers SET vanity = true WHERE identifier = '4455'")
        .execute(&app.db.owner)
        .await
        .unwrap();
    sqlx::query("UPDATE numbering.tenant_pools SET allowed_kinds = '{MSISDN,SHORT_CODE}' WHERE tenant_id = 'acme'")
        .execute(&app.db.owner).await.unwrap();
    let t = tenant_token("acme");
    let reserve = |id: &'static str| {
        let t = t.clone();
        let app = &app;
        async move {
            app.post(
                &t,
                &format!("{P}/reservations"),
                json!({ "identifier": id }),
            )
            .await
        }
    };
    assert_eq!(reserve("+93791000001").await.status, StatusCode::CREATED);
    assert_eq!(reserve("+93791000002").await.status, StatusCode::CREATED);
    let third = reserve("+93791000003").await;
    assert_eq!(
        (third.status, third.code()),
        (StatusCode::CONFLICT, "QUOTA_EXCEEDED"),
        "{:?}",
        third.json
    );

    let other_operator = reserve("+93781000001").await;
    assert_eq!(
        (other_operator.status, other_operator.code()),
        (StatusCode::FORBIDDEN, "NOT_ALLOWED")
    );
    let vanity = reserve("4455").await;
    assert_eq!(
        (vanity.status, vanity.code()),
        (StatusCode::FORBIDDEN, "NOT_ALLOWED"),
        "{:?}",
        vanity.json
    );
    app.db.inventory(&["AcmeBank"]).await;
    let alpha = reserve("AcmeBank").await;
    assert_eq!(
        (alpha.status, alpha.code()),
        (StatusCode::FORBIDDEN, "NOT_ALLOWED"),
        "{:?}",
        alpha.json
    );

    // with the flag, the vanity short code is fine
    sqlx::query("UPDATE numbering.tenant_pools SET vanity_allowed = true WHERE tenant_id = 'acme'")
        .execute(&app.db.owner)
        .await
        .unwrap();
    assert_eq!(reserve("4455").await.status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_reserve_any_requests_get_thirty_two_distinct_numbers() {
    let app = TestApp::new().await;
    let ids: Vec<String> = (0..40).map(|i| format!("+9379777{i:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    app.db.inventory(&refs).await;
    app.db.inventory(&["+93781777000"]).await; // matching text, wrong operator
    // eight tenants, four requests each: the race is across and within tenants
    for i in 0..8 {
        app.db.pool_for(&format!("tenant-{i}")).await;
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for n in 0..32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let t = tenant_token(&format!("tenant-{}", n % 8));
            app.post(&t, &format!("{P}/reservations"),
                json!({ "criteria": { "kind": "MSISDN", "operator": "roshan", "contains": "777" } })).await
        }));
    }
    let mut got = HashSet::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json);
        got.insert(a.str("identifier"));
    }
    assert_eq!(got.len(), 32);
    assert!(got.iter().all(|i| ids.contains(i)));
    assert_eq!(
        app.db
            .count("numbering.numbers WHERE state = 'RESERVED'")
            .await,
        32
    );
}

#[tokio::test]
async fn browsing_pages_by_an_opaque_cursor_that_is_stable_while_stock_changes() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    let ids: Vec<String> = (0..7).map(|i| format!("+9379100000{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    app.db.inventory(&refs).await;
    let t = tenant_token("acme");
    let first = app.get(&t, &format!("{P}/available?limit=3")).await;
    let page1: Vec<Value> = first.json["items"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 3);
    let cursor = first.str("next_cursor");
    assert!(!cursor.is_empty());
    // someone takes the first number of the next page and one already seen
    app.post(
        &t,
        &format!("{P}/reservations"),
        json!({ "identifier": ids[3] }),
    )
    .await;
    app.post(
        &t,
        &format!("{P}/reservations"),
        json!({ "identifier": ids[0] }),
    )
    .await;
    let second = app
        .get(&t, &format!("{P}/available?limit=3&cursor={cursor}"))
        .await;
    let page2: Vec<&str> = second.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        page2,
        [ids[4].as_str(), ids[5].as_str(), ids[6].as_str()],
        "no skips, no repeats"
    );
    assert_eq!(second.json["next_cursor"], Value::Null);
    let suffix = app.get(&t, &format!("{P}/available?suffix=06")).await;
    assert_eq!(suffix.json["items"].as_array().unwrap().len(), 1);
    let bad = app.get(&t, &format!("{P}/available?cursor=%%%")).await;
    assert!(bad.status.is_client_error() && bad.is_problem(), "{bad:?}");
}

#[tokio::test]
async fn auto_renew_toggles_and_the_pool_view_shows_quotas_and_usage() {
    let app = TestApp::new().await;
    app.db.pool_with("acme", 3, 2, 1, &[], false).await;
    app.db.inventory(&["+93791234567"]).await;
    let t = tenant_token("acme");
    let r = app
        .post(
            &t,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93791234567" }),
        )
        .await;
    let l = app
        .post(
            &t,
            &format!("{P}/leases"),
            json!({ "reservation_id": r.str("id"), "auto_renew": true }),
        )
        .await;
    let lid = l.str("id");
    let p = app
        .send(
            Method::PATCH,
            &t,
            &format!("{P}/leases/{lid}"),
            Some(json!({ "auto_renew": false })),
        )
        .await;
    assert_eq!(
        (p.status, p.json["auto_renew"].clone()),
        (StatusCode::OK, json!(false)),
        "{:?}",
        p.json
    );
    assert_eq!(
        app.get(&t, &format!("{P}/leases/{lid}")).await.json["auto_renew"],
        json!(false)
    );
    let pool = app.get(&t, &format!("{P}/pool")).await;
    assert_eq!(
        pool.json["quotas"],
        json!({ "MSISDN": 3, "SHORT_CODE": 2, "ALPHA": 1 })
    );
    assert_eq!(
        pool.json["usage"],
        json!({ "MSISDN": 1, "SHORT_CODE": 0, "ALPHA": 0 })
    );
}

#[tokio::test]
async fn a_tenant_over_its_rate_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let db = numbering_tests::TestDb::new().await;
    let mut e = edge();
    e.limiter = Some(std::sync::Arc::new(numbering_http_edge::RateLimiter::new(
        0.5, 3,
    )));
    let app = TestApp::with_edge(db, e).await;
    app.db.pool_for("acme").await;
    app.db.pool_for("globex").await;
    let t = tenant_token("acme");
    for _ in 0..3 {
        let ok = app.get(&t, &format!("{P}/pool")).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert!(ok.headers.contains_key("ratelimit-policy"));
    }
    let limited = app.get(&t, &format!("{P}/pool")).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED")
    );
    assert!(limited.is_problem());
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(limited.headers.contains_key("ratelimit"));
    assert!(limited.headers.contains_key("ratelimit-policy"));
    // per tenant: another tenant is not affected
    assert_eq!(
        app.get(&tenant_token("globex"), &format!("{P}/pool"))
            .await
            .status,
        StatusCode::OK
    );
}
