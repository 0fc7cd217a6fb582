//! The two-person rule over real HTTP: a dangerous admin action requested
//! by one admin (a token's `sub`) answers 202 and changes nothing until a
//! second, different admin approves it; then the action, its audit entry
//! naming both admins, and the approval's APPLIED commit together. The
//! same admin twice, an expired approval, a stale one (its target moved)
//! and a decided one are refused; reject and withdraw are audited steps
//! with events; a single-admin deployment turns the rule off explicitly,
//! and the audit says so. The database refuses what the code must never
//! write.

use std::time::Duration;

use numbering_shared::Identifier;
use numbering_tests::{
    TestDb,
    app::{Answer, TestApp, admin_token_of, edge_with_two_person},
    lease_all,
    schema::{assert_valid, event_schema},
    tenant_ctx,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const A: &str = "/v1/admin/numbering";
const WHY: &str = "number ported back after an MNO error, ticket OPS-4711";

/// A QUARANTINED identifier (leased to acme, then released).
async fn quarantined(db: &TestDb, raw: &str) -> Identifier {
    let tenant = db.pool_for("acme").await;
    let ids = db.inventory(&[raw]).await;
    let leases = lease_all(db, &tenant, &ids).await;
    db.store
        .release(&tenant_ctx(&tenant), &tenant, leases[0].id)
        .await
        .unwrap();
    ids[0].clone()
}

async fn state(app: &TestApp, id: &str) -> String {
    let n = app
        .get(&admin_token_of("carol"), &format!("{A}/numbers/{id}"))
        .await;
    n.str("state")
}

async fn step(app: &TestApp, who: &str, id: &str, verb: &str, body: Option<Value>) -> Answer {
    let path = format!("{A}/approvals/{id}/{verb}");
    app.send(Method::POST, &admin_token_of(who), &path, body)
        .await
}

/// The newest audit entry of `subject`: (actor, action, after).
async fn last_audit(app: &TestApp, subject: &str) -> (String, String, Value) {
    sqlx::query_as(
        "SELECT actor, action, after::jsonb FROM numbering.audit_log \
         WHERE subject = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(subject)
    .fetch_one(&app.db.owner)
    .await
    .unwrap()
}

/// The payloads of the outbox events of `event_type`, oldest first.
async fn events(app: &TestApp, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload::jsonb FROM numbering.outbox WHERE event_type = $1 ORDER BY id",
    )
    .bind(event_type)
    .fetch_all(&app.db.owner)
    .await
    .unwrap()
}

async fn request_override(app: &TestApp, who: &str, id: &str) -> Answer {
    app.post(
        &admin_token_of(who),
        &format!("{A}/quarantine/{id}/override"),
        json!({ "justification": WHY }),
    )
    .await
}

#[tokio::test]
async fn a_quarantine_override_needs_two_different_admins_and_is_applied_with_both_in_its_audit_entry()
 {
    let app = TestApp::new().await;
    let id = quarantined(&app.db, "+93791230001").await;
    let raw = id.as_str();

    let asked = request_override(&app, "alice", raw).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.json);
    let aid = asked.str("approval_id");
    assert_eq!(asked.str("status"), "PENDING");
    assert_eq!(asked.str("action"), "quarantine.override");
    assert_eq!(asked.str("requested_by"), "alice");
    assert_eq!(asked.str("justification"), WHY);
    let requested = chrono::DateTime::parse_from_rfc3339(&asked.str("requested_at")).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(&asked.str("expires_at")).unwrap();
    assert_eq!(
        expires - requested,
        chrono::Duration::hours(24),
        "24 h by default"
    );
    assert_eq!(
        state(&app, raw).await,
        "QUARANTINED",
        "one admin's word changes nothing"
    );

    // listed and readable
    let pending = app
        .get(
            &admin_token_of("bob"),
            &format!("{A}/approvals?status=PENDING"),
        )
        .await;
    assert_eq!(
        pending.json["items"][0]["approval_id"],
        json!(aid),
        "{:?}",
        pending.json
    );
    let one = app
        .get(&admin_token_of("bob"), &format!("{A}/approvals/{aid}"))
        .await;
    assert_eq!(
        (one.status, one.str("status")),
        (StatusCode::OK, "PENDING".into())
    );

    // the same admin twice is refused, and changes nothing
    let own = step(&app, "alice", &aid, "approve", None).await;
    assert_eq!(
        (own.status, own.code()),
        (StatusCode::FORBIDDEN, "SAME_APPROVER"),
        "{:?}",
        own.json
    );
    assert!(own.is_problem());
    assert_eq!(state(&app, raw).await, "QUARANTINED");

    // nothing is asked of an identifier not in inventory
    let unknown = request_override(&app, "alice", "+93791239999").await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );

    // a second admin applies it
    let ok = step(&app, "bob", &aid, "approve", None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(ok.str("status"), "APPLIED");
    assert_eq!(ok.str("decided_by"), "bob");
    assert_eq!(ok.json["result"]["state"], json!("AVAILABLE"));
    assert_eq!(state(&app, raw).await, "AVAILABLE");

    // one audit entry, the action's, names both admins, why and the approval
    let (actor, action, after) = last_audit(&app, raw).await;
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("admin:bob", "override_quarantine")
    );
    assert_eq!(
        after["approval"],
        json!({ "id": aid, "action": "quarantine.override", "requested_by": "alice",
                "approved_by": "bob", "justification": WHY,
                "requested_at": after["approval"]["requested_at"] }),
        "{after}"
    );

    // decided once
    let again = step(&app, "carol", &aid, "approve", None).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "APPROVAL_ALREADY_DECIDED")
    );
    let applied = app
        .get(
            &admin_token_of("carol"),
            &format!("{A}/approvals?status=APPLIED"),
        )
        .await;
    assert_eq!(applied.json["items"].as_array().unwrap().len(), 1);

    // each step's event, as documented, beside the action's own
    for t in [
        "numbering.approval.requested.v1",
        "numbering.approval.approved.v1",
    ] {
        let got = events(&app, t).await;
        assert_eq!(got.len(), 1, "{t}");
        assert_eq!(got[0]["approval_id"], json!(aid));
        assert_valid(&event_schema(t).unwrap(), &got[0]);
    }
    assert_eq!(
        events(&app, "number.quarantine.overridden.v1").await.len(),
        1
    );
}

#[tokio::test]
async fn an_approval_after_its_target_changed_is_refused_as_stale_and_nothing_is_applied() {
    let app = TestApp::new().await;
    let ids = app.db.inventory(&["+93791230002"]).await;
    let raw = ids[0].as_str();
    let asked = app
        .post(
            &admin_token_of("alice"),
            &format!("{A}/numbers/{raw}/retire"),
            json!({ "justification": "contract with the MNO ended" }),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.json);
    let aid = asked.str("approval_id");

    // meanwhile a tenant reserves it: the number's version moves
    let tenant = app.db.pool_for("acme").await;
    app.db
        .store
        .reserve(&tenant_ctx(&tenant), &tenant, &ids[0])
        .await
        .unwrap();

    let stale = step(&app, "bob", &aid, "approve", None).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::CONFLICT, "APPROVAL_STALE"),
        "{:?}",
        stale.json
    );
    assert_eq!(state(&app, raw).await, "RESERVED", "not retired");
    let one = app
        .get(&admin_token_of("bob"), &format!("{A}/approvals/{aid}"))
        .await;
    assert_eq!(one.str("status"), "PENDING", "a refusal writes nothing");
    assert!(events(&app, "number.retired.v1").await.is_empty());
}

#[tokio::test]
async fn an_expired_approval_cannot_be_applied() {
    let edge = edge_with_two_person(&[("NUMBERING_APPROVAL_TTL", "1s")]);
    let app = TestApp::with_edge(TestDb::new().await, edge).await;
    let id = quarantined(&app.db, "+93791230003").await;
    let asked = request_override(&app, "alice", id.as_str()).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.json);
    let aid = asked.str("approval_id");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let late = step(&app, "bob", &aid, "approve", None).await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::CONFLICT, "APPROVAL_EXPIRED"),
        "{:?}",
        late.json
    );
    assert_eq!(late.json["expires_at"], asked.json["expires_at"]);
    assert_eq!(state(&app, id.as_str()).await, "QUARANTINED");
    let listed = app
        .get(
            &admin_token_of("bob"),
            &format!("{A}/approvals?status=EXPIRED"),
        )
        .await;
    assert_eq!(
        listed.json["items"][0]["approval_id"],
        json!(aid),
        "{:?}",
        listed.json
    );
    let pending = app
        .get(
            &admin_token_of("bob"),
            &format!("{A}/approvals?status=PENDING"),
        )
        .await;
    assert_eq!(pending.json["items"], json!([]));

    // the sweep records it, audited, with its event
    let swept = app
        .db
        .store
        .expire_approvals(&numbering_tests::system_ctx())
        .await
        .unwrap();
    assert_eq!(swept, 1);
    let (_, action, _) = last_audit(&app, &aid).await;
    assert_eq!(action, "approval.expired");
    let expired = events(&app, "numbering.approval.expired.v1").await;
    assert_valid(
        &event_schema("numbering.approval.expired.v1").unwrap(),
        &expired[0],
    );
}

#[tokio::test]
async fn another_admin_rejects_with_a_reason_and_only_the_requester_withdraws() {
    let app = TestApp::new().await;
    let tenant = app.db.pool_for("acme").await;
    let ids = app.db.inventory(&["+93791230004", "+93791230005"]).await;
    lease_all(&app.db, &tenant, &ids).await;
    let recall = |raw: String| {
        let app = &app;
        async move {
            app.post(
                &admin_token_of("alice"),
                &format!("{A}/numbers/{raw}/recall"),
                json!({ "justification": "compliance asked for it, case C-77" }),
            )
            .await
        }
    };
    let first = recall(ids[0].as_str().to_owned()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.json);
    let aid = first.str("approval_id");

    let no_reason = step(&app, "bob", &aid, "reject", Some(json!({ "reason": " " }))).await;
    assert_eq!(
        (no_reason.status, no_reason.str("field")),
        (StatusCode::UNPROCESSABLE_ENTITY, "reason".into())
    );
    let own = step(
        &app,
        "alice",
        &aid,
        "reject",
        Some(json!({ "reason": "no" })),
    )
    .await;
    assert_eq!(
        (own.status, own.code()),
        (StatusCode::FORBIDDEN, "SAME_APPROVER")
    );
    let rejected = step(
        &app,
        "bob",
        &aid,
        "reject",
        Some(json!({ "reason": "wrong number" })),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{:?}", rejected.json);
    assert_eq!(
        (rejected.str("status"), rejected.str("decision_reason")),
        ("REJECTED".into(), "wrong number".into())
    );
    let late = step(&app, "carol", &aid, "approve", None).await;
    assert_eq!(
        (late.status, late.code()),
        (StatusCode::CONFLICT, "APPROVAL_ALREADY_DECIDED")
    );
    assert_eq!(state(&app, ids[0].as_str()).await, "ASSIGNED");
    let (actor, action, _) = last_audit(&app, &aid).await;
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("admin:bob", "approval.rejected")
    );

    let second = recall(ids[1].as_str().to_owned()).await;
    let aid = second.str("approval_id");
    let theirs = step(&app, "bob", &aid, "withdraw", None).await;
    assert_eq!(
        (theirs.status, theirs.code()),
        (StatusCode::FORBIDDEN, "NOT_REQUESTER")
    );
    let withdrawn = step(&app, "alice", &aid, "withdraw", None).await;
    assert_eq!(
        (withdrawn.status, withdrawn.str("status")),
        (StatusCode::OK, "WITHDRAWN".into()),
        "{:?}",
        withdrawn.json
    );
    let (_, action, _) = last_audit(&app, &aid).await;
    assert_eq!(action, "approval.withdrawn");
    assert_eq!(state(&app, ids[1].as_str()).await, "ASSIGNED");
    for t in [
        "numbering.approval.rejected.v1",
        "numbering.approval.withdrawn.v1",
    ] {
        let got = events(&app, t).await;
        assert_eq!(got.len(), 1, "{t}");
        assert_valid(&event_schema(t).unwrap(), &got[0]);
    }
}

#[tokio::test]
async fn an_approve_retried_under_its_idempotency_key_replays_and_applies_once() {
    let app = TestApp::new().await;
    let id = quarantined(&app.db, "+93791230006").await;
    let aid = request_override(&app, "alice", id.as_str())
        .await
        .str("approval_id");
    let path = format!("{A}/approvals/{aid}/approve");
    let bob = admin_token_of("bob");
    let first = app
        .call(Method::POST, &path, Some(&bob), Some("approve-1"), None)
        .await;
    let again = app
        .call(Method::POST, &path, Some(&bob), Some("approve-1"), None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    assert_eq!((again.status, &again.json), (first.status, &first.json));
    assert_eq!(
        events(&app, "number.quarantine.overridden.v1").await.len(),
        1
    );
}

#[tokio::test]
async fn a_pool_change_needs_two_admins_when_it_moves_the_tier_or_raises_a_quota_above_the_threshold()
 {
    let edge = edge_with_two_person(&[("NUMBERING_TWO_PERSON_QUOTA_THRESHOLD", "100")]);
    let app = TestApp::with_edge(TestDb::new().await, edge).await;
    let alice = admin_token_of("alice");
    let put = |body: Value| {
        let alice = &alice;
        let app = &app;
        async move {
            app.send(Method::PUT, alice, &format!("{A}/pools/acme"), Some(body))
                .await
        }
    };
    let small =
        put(json!({ "segment": "smb", "quotas": { "MSISDN": 50, "SHORT_CODE": 0, "ALPHA": 0 } }))
            .await;
    assert_eq!(small.status, StatusCode::OK, "{:?}", small.json);
    let big = put(
        json!({ "segment": "smb", "quotas": { "MSISDN": 5000, "SHORT_CODE": 0, "ALPHA": 0 },
                          "justification": "enterprise migration, ticket SALES-9" }),
    )
    .await;
    assert_eq!(big.status, StatusCode::ACCEPTED, "{:?}", big.json);
    assert_eq!(big.str("action"), "pool.override");
    let tier = put(
        json!({ "segment": "enterprise", "quotas": { "MSISDN": 50, "SHORT_CODE": 0, "ALPHA": 0 } }),
    )
    .await;
    assert_eq!(
        (tier.status, tier.str("field")),
        (StatusCode::UNPROCESSABLE_ENTITY, "justification".into()),
        "a dangerous request without a justification: {:?}",
        tier.json
    );
    let pool = app.get(&alice, &format!("{A}/pools/acme")).await;
    assert_eq!(pool.json["quotas"]["MSISDN"], json!(50), "{:?}", pool.json);

    let ok = step(&app, "bob", &big.str("approval_id"), "approve", None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(ok.json["result"]["quotas"]["MSISDN"], json!(5000));
    let (actor, action, after) = last_audit(&app, "acme").await;
    assert_eq!((actor.as_str(), action.as_str()), ("admin:bob", "pool.put"));
    assert_eq!(after["approval"]["requested_by"], json!("alice"));
}

#[tokio::test]
async fn a_signing_key_install_is_approved_and_answers_what_the_install_answers() {
    let app = TestApp::new().await;
    let key = numbering_tests::imports::MnoKey::p256("mno-9");
    let asked = app
        .post(
            &admin_token_of("alice"),
            &format!("{A}/signing-keys"),
            json!({ "key_id": "mno-9", "algorithm": "ecdsa-p256-sha256",
                    "public_key_pem": key.public_pem(), "justification": "ATRA's new key" }),
        )
        .await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.json);
    let keys = app
        .get(&admin_token_of("bob"), &format!("{A}/signing-keys"))
        .await;
    assert_eq!(keys.json["items"], json!([]), "not installed yet");
    let ok = step(&app, "bob", &asked.str("approval_id"), "approve", None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(ok.json["result"]["key_id"], json!("mno-9"));
    let (_, action, after) = last_audit(&app, "mno-9").await;
    assert_eq!(action, "signing_key.installed");
    assert_eq!(after["approval"]["approved_by"], json!("bob"));
}

#[tokio::test]
async fn a_single_admin_deployment_turns_the_rule_off_and_the_audit_records_it() {
    let app = TestApp::single_admin().await;
    let id = quarantined(&app.db, "+93791230007").await;
    let done = request_override(&app, "alice", id.as_str()).await;
    assert_eq!(
        (done.status, done.str("state")),
        (StatusCode::OK, "AVAILABLE".into()),
        "{:?}",
        done.json
    );
    let (actor, _, after) = last_audit(&app, id.as_str()).await;
    assert_eq!(actor, "admin:alice");
    assert_eq!(after["two_person_rule"], json!("off"), "{after}");
    assert!(after.get("approval").is_none());
}

#[tokio::test]
async fn the_database_refuses_an_approval_decided_by_its_requester_or_decided_twice() {
    let app = TestApp::new().await;
    let id = quarantined(&app.db, "+93791230008").await;
    let aid = request_override(&app, "alice", id.as_str())
        .await
        .str("approval_id");
    let update = |sql: &'static str| {
        let app = &app;
        let aid = aid.clone();
        async move {
            sqlx::query(sql)
                .bind(uuid::Uuid::parse_str(&aid).unwrap())
                .execute(&app.db.owner)
                .await
                .unwrap_err()
                .as_database_error()
                .and_then(|e| e.constraint().map(str::to_owned))
        }
    };
    let own = update(
        "UPDATE numbering.approvals SET status = 'APPLIED', decided_by = requested_by, \
         decided_at = now() WHERE id = $1",
    )
    .await;
    assert_eq!(own.as_deref(), Some("approvals_approver_not_requester"));
    let half = update("UPDATE numbering.approvals SET status = 'REJECTED' WHERE id = $1").await;
    assert_eq!(half.as_deref(), Some("approvals_decision_matches_status"));
    let rewrite =
        update("UPDATE numbering.approvals SET justification = 'other' WHERE id = $1").await;
    assert_eq!(rewrite.as_deref(), Some("approvals_immutable"));
    sqlx::query(
        "UPDATE numbering.approvals SET status = 'WITHDRAWN', decided_by = requested_by, \
         decided_at = now() WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(&aid).unwrap())
    .execute(&app.db.owner)
    .await
    .unwrap();
    let twice = update(
        "UPDATE numbering.approvals SET status = 'APPLIED', decided_by = 'bob' WHERE id = $1",
    )
    .await;
    assert_eq!(twice.as_deref(), Some("approvals_status_transition"));
}
