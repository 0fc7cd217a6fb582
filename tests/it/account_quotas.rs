//! Per-account sub-quotas inside a tenant's pool, over real HTTP on a real
//! Postgres: both limits hold under 64 concurrent reservations, a refusal
//! says which scope it hit, reservations and leases record their account,
//! the lists filter by it, the pool view shows usage per account, and a
//! token bound to an account may act for no other.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use numbering_tests::{
    app::{TestApp, admin_token, claims, sign, tenant_token},
    schema::{assert_valid, event_schema},
};

const P: &str = "/v1/portal/numbering";

/// A tenant_pool_admin token of `tenant` bound to `account`.
fn account_token(tenant: &str, account: &str) -> String {
    let mut c = claims(Some(tenant), "tenant_pool_admin");
    c["account_id"] = json!(account);
    sign(&c)
}

/// `n` MSISDNs in inventory: +9379100xxxx.
async fn msisdns(app: &TestApp, n: usize) -> Vec<String> {
    let raw: Vec<String> = (0..n).map(|i| format!("+9379100{i:04}")).collect();
    let refs: Vec<&str> = raw.iter().map(String::as_str).collect();
    app.db.inventory(&refs).await;
    raw
}

/// Sets `account`'s quotas on the portal, as the tenant's pool admin.
async fn put_account(app: &TestApp, tenant: &str, account: &str, msisdn: u32) -> Value {
    let a = app
        .send(
            Method::PUT,
            &tenant_token(tenant),
            &format!("{P}/pool/accounts/{account}"),
            Some(json!({ "quotas": { "MSISDN": msisdn, "SHORT_CODE": 0, "ALPHA": 0 } })),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
    a.json
}

/// Sends every (token, body) reservation at once; returns the answers.
async fn reserve_all(app: &TestApp, calls: Vec<(String, Value)>) -> Vec<(StatusCode, Value)> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(calls.len()));
    let mut tasks = Vec::new();
    for (token, body) in calls {
        let (client, url, barrier) = (
            app.client.clone(),
            app.url(&format!("{P}/reservations")),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&body)
                .send()
                .await
                .expect("request");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn quota_refusal_scope(status: StatusCode, body: &Value) -> &str {
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("QUOTA_EXCEEDED")),
        "{body}"
    );
    body["scope"].as_str().expect("a scope")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_reservations_against_an_account_quota_of_ten_give_exactly_ten() {
    let app = TestApp::new().await;
    app.db.pool_with("acme", 1000, 0, 0, &[], false).await;
    put_account(&app, "acme", "sales", 10).await;
    let ids = msisdns(&app, 64).await;
    // the token binds the caller to the account: no account_id in the body
    let token = account_token("acme", "sales");
    let calls = ids
        .iter()
        .map(|id| (token.clone(), json!({ "identifier": id })))
        .collect();
    let answers = reserve_all(&app, calls).await;
    let mut won = 0;
    for (status, body) in &answers {
        if *status == StatusCode::CREATED {
            assert_eq!(body["account_id"], "sales");
            won += 1;
        } else {
            assert_eq!(quota_refusal_scope(*status, body), "account");
            assert_eq!(
                (body["limit"].as_u64(), body["used"].as_u64()),
                (Some(10), Some(10))
            );
            assert_eq!(body["kind"], "MSISDN");
        }
    }
    assert_eq!(won, 10);
    assert_eq!(
        app.db
            .count("numbering.reservations WHERE account_id = 'sales' AND status = 'RESERVED'")
            .await,
        10
    );
    // nothing of a refusal was written
    assert_eq!(
        app.db
            .count("numbering.numbers WHERE state = 'RESERVED'")
            .await,
        10
    );
    assert_eq!(
        app.db
            .count("numbering.audit_log WHERE action = 'reserve'")
            .await,
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tenant_quota_holds_under_64_concurrent_reservations_when_its_accounts_sum_above_it() {
    let app = TestApp::new().await;
    app.db.pool_with("acme", 10, 0, 0, &[], false).await;
    put_account(&app, "acme", "sales", 8).await;
    put_account(&app, "acme", "ops", 8).await;
    let ids = msisdns(&app, 64).await;
    let admin = tenant_token("acme");
    // the pool admin names the account in the body, alternating
    let calls = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let account = if i % 2 == 0 { "sales" } else { "ops" };
            (
                admin.clone(),
                json!({ "identifier": id, "account_id": account }),
            )
        })
        .collect();
    let answers = reserve_all(&app, calls).await;
    let won = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let tenant_refusals = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::CREATED)
        .filter(|(s, b)| quota_refusal_scope(*s, b) == "tenant")
        .count();
    assert_eq!(won, 10);
    // 10 won of 8 + 8: the account short of 8 had its other requests
    // refused by the tenant's limit (at least 32 - 7 of them)
    assert!(tenant_refusals >= 25, "{tenant_refusals}");
    for account in ["sales", "ops"] {
        let n = app
            .db
            .count(&format!(
                "numbering.reservations WHERE account_id = '{account}' AND status = 'RESERVED'"
            ))
            .await;
        assert!((2..=8).contains(&n), "{account}: {n}");
    }
    assert_eq!(app.db.count("numbering.reservations").await, 10);
}

#[tokio::test]
async fn a_token_bound_to_an_account_may_act_for_no_other() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    put_account(&app, "acme", "sales", 5).await;
    put_account(&app, "acme", "ops", 5).await;
    let ids = msisdns(&app, 3).await;
    let sales = account_token("acme", "sales");
    let named_other = app
        .post(
            &sales,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[0], "account_id": "ops" }),
        )
        .await;
    assert_eq!(
        (named_other.status, named_other.code()),
        (StatusCode::FORBIDDEN, "ACCOUNT_NOT_PERMITTED")
    );
    assert!(named_other.is_problem());
    for path in ["reservations", "leases"] {
        let list = app.get(&sales, &format!("{P}/{path}?account_id=ops")).await;
        assert_eq!(
            (list.status, list.code()),
            (StatusCode::FORBIDDEN, "ACCOUNT_NOT_PERMITTED")
        );
    }
    let set = app
        .send(
            Method::PUT,
            &sales,
            &format!("{P}/pool/accounts/sales"),
            Some(json!({ "quotas": { "MSISDN": 50, "SHORT_CODE": 0, "ALPHA": 0 } })),
        )
        .await;
    assert_eq!(
        (set.status, set.code()),
        (StatusCode::FORBIDDEN, "ACCOUNT_NOT_PERMITTED")
    );
    // an account the pool does not have, and one that cannot be an account id
    let admin = tenant_token("acme");
    let unknown = app
        .post(
            &admin,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[0], "account_id": "nobody" }),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::FORBIDDEN, "NOT_ALLOWED")
    );
    let bad = app
        .post(
            &admin,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[0], "account_id": "a b" }),
        )
        .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    // another tenant's account is not this tenant's
    app.db.pool_for("globex").await;
    put_account(&app, "globex", "finance", 5).await;
    let foreign = app
        .post(
            &admin,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[0], "account_id": "finance" }),
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.code()),
        (StatusCode::FORBIDDEN, "NOT_ALLOWED")
    );
    assert_eq!(app.db.count("numbering.reservations").await, 0);
    // its own account, named or not, is fine
    let own = app
        .post(
            &sales,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[1], "account_id": "sales" }),
        )
        .await;
    assert_eq!(
        (own.status, own.str("account_id").as_str()),
        (StatusCode::CREATED, "sales")
    );
    // nor act on another account's reservation or lease by its id
    let theirs = app
        .post(
            &admin,
            &format!("{P}/reservations"),
            json!({ "identifier": ids[2], "account_id": "ops" }),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let r = format!("{P}/reservations/{}", theirs.str("id"));
    let refused = [
        app.get(&sales, &r).await,
        app.post(&sales, &format!("{r}/hold"), json!({})).await,
        app.send(Method::DELETE, &sales, &r, None).await,
        app.post(
            &sales,
            &format!("{P}/leases"),
            json!({ "reservation_id": theirs.str("id") }),
        )
        .await,
    ];
    for a in refused {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::FORBIDDEN, "ACCOUNT_NOT_PERMITTED"),
            "{:?}",
            a.json
        );
    }
    let lease = app
        .post(
            &admin,
            &format!("{P}/leases"),
            json!({ "reservation_id": theirs.str("id") }),
        )
        .await;
    assert_eq!(
        (lease.status, lease.str("account_id").as_str()),
        (StatusCode::CREATED, "ops")
    );
    let l = format!("{P}/leases/{}", lease.str("id"));
    for a in [
        app.get(&sales, &l).await,
        app.post(&sales, &format!("{l}/release"), json!({})).await,
    ] {
        assert_eq!(
            (a.status, a.code()),
            (StatusCode::FORBIDDEN, "ACCOUNT_NOT_PERMITTED")
        );
    }
    // its own, it may
    let held = app
        .post(
            &sales,
            &format!("{P}/reservations/{}/hold", own.str("id")),
            json!({}),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{:?}", held.json);
}

#[tokio::test]
async fn lists_filter_by_account_and_the_pool_view_shows_usage_per_account() {
    let app = TestApp::new().await;
    app.db.pool_with("acme", 50, 0, 0, &[], false).await;
    put_account(&app, "acme", "sales", 5).await;
    put_account(&app, "acme", "ops", 5).await;
    let ids = msisdns(&app, 4).await;
    let admin = tenant_token("acme");
    let mut reserved = Vec::new();
    for (id, account) in ids
        .iter()
        .zip([Some("sales"), Some("sales"), Some("ops"), None])
    {
        let mut body = json!({ "identifier": id });
        if let Some(a) = account {
            body["account_id"] = json!(a);
        }
        let r = app.post(&admin, &format!("{P}/reservations"), body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        assert_eq!(r.json["account_id"], json!(account));
        reserved.push(r.str("id"));
    }
    let lease = app
        .post(
            &admin,
            &format!("{P}/leases"),
            json!({ "reservation_id": reserved[0] }),
        )
        .await;
    assert_eq!(lease.status, StatusCode::CREATED, "{:?}", lease.json);
    assert_eq!(lease.json["account_id"], "sales");

    let ids_of = |a: &Value| -> Vec<String> {
        a["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let live_sales = app
        .get(&admin, &format!("{P}/reservations?account_id=sales"))
        .await;
    assert_eq!(ids_of(&live_sales.json), [reserved[1].clone()]);
    let all_sales = app
        .get(
            &admin,
            &format!("{P}/reservations?account_id=sales&status=all"),
        )
        .await;
    assert_eq!(ids_of(&all_sales.json).len(), 2);
    assert_eq!(
        ids_of(&app.get(&admin, &format!("{P}/reservations")).await.json).len(),
        3
    );
    let sales_leases = app
        .get(&admin, &format!("{P}/leases?account_id=sales"))
        .await;
    assert_eq!(ids_of(&sales_leases.json), [lease.str("id")]);
    assert_eq!(
        ids_of(
            &app.get(&admin, &format!("{P}/leases?account_id=ops"))
                .await
                .json
        )
        .len(),
        0
    );
    // a bound token lists its own account's by default
    let ops = account_token("acme", "ops");
    let own = app.get(&ops, &format!("{P}/reservations")).await;
    assert_eq!(ids_of(&own.json), [reserved[2].clone()]);

    let usage = |accounts: &Value, name: &str| {
        let a = accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account_id"] == name)
            .cloned();
        a.map(|a| {
            (
                a["usage"]["MSISDN"].as_u64().unwrap(),
                a["quotas"]["MSISDN"].as_u64().unwrap(),
            )
        })
    };
    let pool = app.get(&admin, &format!("{P}/pool")).await;
    assert_eq!(pool.json["usage"]["MSISDN"], 4, "{}", pool.json);
    assert_eq!(usage(&pool.json["accounts"], "sales"), Some((2, 5)));
    assert_eq!(usage(&pool.json["accounts"], "ops"), Some((1, 5)));
    let ops_pool = app.get(&ops, &format!("{P}/pool")).await;
    assert_eq!(ops_pool.json["accounts"].as_array().unwrap().len(), 1);
    let platform = app
        .get(&admin_token(), "/v1/admin/numbering/pools/acme/accounts")
        .await;
    assert_eq!(platform.status, StatusCode::OK);
    assert_eq!(usage(&platform.json["items"], "sales"), Some((2, 5)));

    // the events record the account, as their schemas say
    for (event_type, n) in [
        ("number.reserved.v1", 3),
        ("number.assigned.v1", 1),
        ("lease.assigned.v1", 1),
    ] {
        let payloads: Vec<Value> = sqlx::query_scalar(
            "SELECT payload::jsonb FROM numbering.outbox WHERE event_type = $1 AND payload::jsonb ? 'account_id'",
        )
        .bind(event_type)
        .fetch_all(&app.db.owner)
        .await
        .unwrap();
        assert_eq!(payloads.len(), n, "{event_type}");
        for p in payloads {
            assert_valid(&event_schema(event_type).unwrap(), &p);
        }
    }
}

#[tokio::test]
async fn setting_an_account_quota_is_audited_evented_idempotent_and_checked_by_the_database() {
    let app = TestApp::new().await;
    app.db.pool_for("acme").await;
    let admin = admin_token();
    let path = "/v1/admin/numbering/pools/acme/accounts/sales";
    let body = json!({ "quotas": { "MSISDN": 7, "SHORT_CODE": 1, "ALPHA": 0 } });
    let first = app
        .call(Method::PUT, path, Some(&admin), Some("k-1"), Some(&body))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    assert_eq!(
        first.json["quotas"],
        json!({ "MSISDN": 7, "SHORT_CODE": 1, "ALPHA": 0 })
    );
    let replay = app
        .call(Method::PUT, path, Some(&admin), Some("k-1"), Some(&body))
        .await;
    assert_eq!(replay.bytes, first.bytes);
    put_account(&app, "acme", "sales", 9).await;
    assert_eq!(
        app.db
            .count("numbering.audit_log WHERE action = 'account.quotas_set'")
            .await,
        2
    );
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT payload::jsonb FROM numbering.outbox WHERE event_type = 'numbering.ops.account_quotas_set.v1' ORDER BY id",
    )
    .fetch_all(&app.db.owner)
    .await
    .unwrap();
    assert_eq!(events.len(), 2);
    let schema = event_schema("numbering.ops.account_quotas_set.v1").unwrap();
    for e in &events {
        assert_valid(&schema, e);
    }
    assert_eq!(events[0]["previous_quotas"], Value::Null);
    assert_eq!(events[1]["previous_quotas"]["MSISDN"], 7);
    assert_eq!(events[1]["quotas"]["MSISDN"], 9);

    // no pool: 404; a negative quota: 422; nothing written for either
    let none = app
        .send(
            Method::PUT,
            &admin,
            "/v1/admin/numbering/pools/nobody/accounts/x",
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (none.status, none.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let negative = app
        .send(
            Method::PUT,
            &admin,
            path,
            Some(json!({ "quotas": { "MSISDN": -1, "SHORT_CODE": 0, "ALPHA": 0 } })),
        )
        .await;
    assert_eq!(
        (negative.status, negative.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    assert_eq!(
        app.db
            .count("numbering.audit_log WHERE action = 'account.quotas_set'")
            .await,
        2
    );

    // underneath the code: CHECKs, the account's tenant, row-level security
    let check = sqlx::query("UPDATE numbering.tenant_accounts SET quota_msisdn = -1")
        .execute(&app.db.owner)
        .await
        .unwrap_err();
    assert!(
        check
            .to_string()
            .contains("tenant_accounts_quota_msisdn_non_negative"),
        "{check}"
    );
    app.db.pool_for("globex").await;
    let ids = msisdns(&app, 1).await;
    let r = app
        .post(
            &tenant_token("globex"),
            &format!("{P}/reservations"),
            json!({ "identifier": ids[0] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let fk = sqlx::query("UPDATE numbering.reservations SET account_id = 'sales'")
        .execute(&app.db.owner)
        .await
        .unwrap_err();
    assert!(fk.to_string().contains("reservations_account_fk"), "{fk}");
    let mut tx = app.db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.tenant_id', 'globex', true), set_config('numbering.scope', 'tenant', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM numbering.tenant_accounts")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, 0);
    let write = sqlx::query(
        "INSERT INTO numbering.tenant_accounts (tenant_id, account_id) VALUES ('acme', 'sneaky')",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(write.to_string().contains("row-level security"), "{write}");
}
