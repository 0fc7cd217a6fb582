//! The admin API's answers, now built from typed store rows, are the JSON
//! the SQL projections (`json_build_object`) they replaced gave: member
//! names, nulls, and Postgres' text of dates and timestamps. Each answer is
//! compared with that projection, read from the database beside it; the
//! audit trail's `after` of each write is the write's answer.

use numbering_shared::Identifier;
use numbering_tests::{
    app::{Answer, TestApp, admin_token},
    imports::MnoKey,
    tenant_ctx,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const A: &str = "/v1/admin/numbering";

const OPERATOR: &str = "json_build_object('id', o.id, 'name', o.name, 'mcc', o.mcc, \
     'mnc_codes', o.mnc_codes, 'msisdn_prefixes', o.msisdn_prefixes, 'active', o.active, 'created_at', o.created_at)";
const CONTRACT: &str = "json_build_object('id', c.id, 'contract_ref', c.contract_ref, 'operator_id', c.operator_id, \
     'kind', c.kind, 'range_start', c.range_start, 'range_end', c.range_end, 'starts_on', c.starts_on, \
     'ends_on', c.ends_on, 'status', c.status, 'created_at', c.created_at)";
const KEY: &str = "json_build_object('key_id', k.key_id, 'operator_id', k.operator_id, 'algorithm', k.algorithm, \
     'public_key_pem', k.public_key_pem, 'valid_from', k.valid_from, 'valid_until', k.valid_until, \
     'revoked_at', k.revoked_at, 'revocation_reason', k.revocation_reason, 'created_at', k.created_at)";
const POOL: &str = "json_build_object('tenant_id', p.tenant_id, 'display_name', p.display_name, 'segment', p.segment, \
     'status', p.status, 'quotas', json_build_object('MSISDN', p.quota_msisdn, 'SHORT_CODE', p.quota_short_code, 'ALPHA', p.quota_alpha), \
     'allowed_kinds', p.allowed_kinds, 'allowed_operators', p.allowed_operators, 'vanity_allowed', p.vanity_allowed, \
     'created_at', p.created_at, 'updated_at', p.updated_at)";
const NUMBER: &str = "json_build_object('identifier', n.identifier, 'kind', n.kind, 'state', n.state, \
     'tenant_id', n.tenant_id, 'reserved_until', n.reserved_until, 'operator_id', n.operator_id, 'mcc', n.mcc, \
     'mnc', n.mnc, 'vanity', n.vanity, 'version', n.version, 'state_changed_at', n.state_changed_at)";
const QUARANTINE: &str = "json_build_object('id', q.id, 'identifier', q.identifier, 'kind', q.kind, \
     'previous_tenant_id', q.previous_tenant_id, 'lease_id', q.lease_id, 'reason', q.reason, \
     'started_at', q.started_at, 'ends_at', q.ends_at)";
const AUDIT: &str = "json_build_object('id', a.id, 'occurred_at', a.occurred_at, 'actor', a.actor, \
     'action', a.action, 'tenant_id', a.tenant_id, 'subject', a.subject, 'before', a.before, 'after', a.after, \
     'request_id', a.request_id)";

/// The projection `select` (`SELECT <projection> FROM …`) of every row, in order.
async fn projected(app: &TestApp, select: String) -> Vec<Value> {
    sqlx::query_scalar(&select)
        .fetch_all(&app.db.owner)
        .await
        .unwrap()
}

fn items(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.json);
    a.json["items"].as_array().unwrap().clone()
}

/// The audit `after` of the newest entry of `action`.
async fn audited_after(app: &TestApp, action: &str) -> Value {
    sqlx::query_scalar(
        "SELECT after::jsonb FROM numbering.audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(action)
    .fetch_one(&app.db.owner)
    .await
    .unwrap()
}

/// A dangerous action's audit `after` in a single-admin deployment: it
/// says the two-person rule was off; the rest is the row.
fn rule_off(mut after: Value) -> Value {
    let rule = after.as_object_mut().unwrap().remove("two_person_rule");
    assert_eq!(rule, Some(json!("off")), "{after}");
    after
}

async fn put(app: &TestApp, path: &str, body: Value) -> Answer {
    app.send(Method::PUT, &admin_token(), path, Some(body))
        .await
}

#[tokio::test]
async fn reference_data_answers_are_the_json_of_the_sql_projections_they_replaced() {
    let app = TestApp::single_admin().await;
    let admin = admin_token();
    let op = put(
        &app,
        &format!("{A}/operators/testnet"),
        json!({ "name": "Test Net", "mcc": "412", "mnc_codes": ["98", "99"] }),
    )
    .await;
    assert_eq!(op.status, StatusCode::OK, "{:?}", op.json);
    assert_eq!(op.json, audited_after(&app, "operator.put").await);
    let listed = items(&app.get(&admin, &format!("{A}/operators")).await);
    let sql = format!("SELECT {OPERATOR} FROM numbering.mobile_operators o ORDER BY o.id");
    assert_eq!(listed, projected(&app, sql).await);
    assert!(listed.contains(&op.json));

    // a dated contract of an operator, and an open-ended one from 1 BC
    for body in [
        json!({ "contract_ref": "T-1", "operator_id": "testnet", "kind": "MSISDN", "range_start": "+93790000000",
                "range_end": "+93790009999", "starts_on": "2026-01-01", "ends_on": "2027-12-31" }),
        json!({ "contract_ref": "T-2", "kind": "SHORT_CODE", "range_start": "100", "range_end": "199",
                "starts_on": "0000-03-01" }),
    ] {
        let c = app.post(&admin, &format!("{A}/contracts"), body).await;
        assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.json);
        assert_eq!(c.json, audited_after(&app, "contract.created").await);
    }
    let listed = items(&app.get(&admin, &format!("{A}/contracts")).await);
    let sql = format!("SELECT {CONTRACT} FROM numbering.lease_contracts c ORDER BY c.contract_ref");
    assert_eq!(listed, projected(&app, sql).await);

    let key = MnoKey::p256("testnet-1");
    let installed = app
        .post(
            &admin,
            &format!("{A}/signing-keys"),
            json!({ "key_id": "testnet-1", "operator_id": "testnet", "algorithm": "ecdsa-p256-sha256",
                    "public_key_pem": key.public_pem(), "valid_until": "2030-01-01T00:00:00.250Z" }),
        )
        .await;
    assert_eq!(
        installed.status,
        StatusCode::CREATED,
        "{:?}",
        installed.json
    );
    assert_eq!(
        installed.json,
        rule_off(audited_after(&app, "signing_key.installed").await)
    );
    let revoked = app
        .post(
            &admin,
            &format!("{A}/signing-keys/testnet-1/revoke"),
            json!({ "reason": "rotated" }),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.json);
    assert_eq!(
        revoked.json,
        rule_off(audited_after(&app, "signing_key.revoked").await)
    );
    let listed = items(&app.get(&admin, &format!("{A}/signing-keys")).await);
    let sql =
        format!("SELECT {KEY} FROM numbering.mno_signing_keys k ORDER BY k.created_at, k.key_id");
    assert_eq!(listed, projected(&app, sql).await);
}

#[tokio::test]
async fn pool_inventory_quarantine_and_audit_answers_are_the_json_of_the_sql_projections_they_replaced()
 {
    let app = TestApp::new().await;
    let admin = admin_token();
    let pool = put(
        &app,
        &format!("{A}/pools/acme"),
        json!({ "segment": "enterprise", "quotas": { "MSISDN": 5, "SHORT_CODE": 0, "ALPHA": 2 },
                "allowed_kinds": ["MSISDN", "ALPHA"], "allowed_operators": ["Roshan"] }),
    )
    .await;
    assert_eq!(pool.status, StatusCode::OK, "{:?}", pool.json);
    assert_eq!(pool.json, audited_after(&app, "pool.put").await);
    let one = app.get(&admin, &format!("{A}/pools/acme")).await;
    let sql = format!("SELECT {POOL} FROM numbering.tenant_pools p ORDER BY p.tenant_id");
    assert_eq!(vec![one.json.clone()], projected(&app, sql.clone()).await);
    assert_eq!(
        items(&app.get(&admin, &format!("{A}/pools")).await),
        projected(&app, sql).await
    );

    // a reserved number (reserved_until set), available ones, a quarantine
    let ids = app
        .db
        .inventory(&["+93791234560", "+93791234561", "+93791234562"])
        .await;
    let tenant = app.db.pool_for("globex").await;
    app.db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &ids[0])
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO numbering.quarantine_records (id, number_id, identifier, kind, previous_tenant_id, reason, ends_at) \
         SELECT gen_random_uuid(), id, identifier, kind, 'acme', 'RELEASED', now() + interval '90 days' \
         FROM numbering.numbers WHERE identifier = '+93791234562'",
    )
    .execute(&app.db.owner)
    .await
    .unwrap();
    let found = items(
        &app.get(&admin, &format!("{A}/numbers?prefix=%2B9379123456"))
            .await,
    );
    let sql = format!(
        "SELECT {NUMBER} FROM numbering.numbers n WHERE n.identity_key LIKE '+9379123456%' ORDER BY n.identity_key, n.id"
    );
    assert_eq!(found, projected(&app, sql).await);
    let held = items(
        &app.get(
            &admin,
            &format!("{A}/numbers?tenant_id=globex&state=RESERVED"),
        )
        .await,
    );
    assert_eq!(held.len(), 1);
    assert!(held[0]["reserved_until"].is_string(), "{held:?}");

    let quarantined = items(&app.get(&admin, &format!("{A}/quarantine")).await);
    let sql =
        format!("SELECT {QUARANTINE} FROM numbering.quarantine_records q ORDER BY q.ends_at, q.id");
    assert_eq!(quarantined, projected(&app, sql).await);

    let audit = app.get(&admin, &format!("{A}/audit?limit=500")).await;
    assert_eq!(audit.json["next_before_id"], Value::Null);
    let sql = format!("SELECT {AUDIT} FROM numbering.audit_log a ORDER BY a.id DESC");
    assert_eq!(items(&audit), projected(&app, sql).await);

    // the transitions' records keep their own JSON (no state_changed_at)
    let n = app
        .get(&admin, &format!("{A}/numbers/%2B93791234560"))
        .await;
    let id = Identifier::parse("+93791234560").unwrap();
    assert_eq!(n.json["identifier"], id.as_str());
    assert!(n.json.get("state_changed_at").is_none(), "{:?}", n.json);
}
