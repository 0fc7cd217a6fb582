//! The lease-contract lifecycle over HTTP against real Postgres: suspend,
//! resume and end (compare-and-swap, audit, outbox, idempotency,
//! problem+json), what ending does to the contract's identifiers and the
//! tenants' lease views, the sweeper's recall at term end, utilisation.

use numbering_lifecycle_sweeper::{Sweeper, SweeperConfig};
use numbering_tests::{
    TestDb,
    app::{Answer, TestApp, admin_token, admin_token_of, tenant_token},
    schema::{assert_valid, event_schema},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::clients::{FakeBilling, billing_client, serve_billing};

const P: &str = "/v1/portal/numbering";
const A: &str = "/v1/admin/numbering";
/// The seeded Etisalat block lease: +93780000000 to +93780099999.
const ETISALAT: &str = "ETISALAT-2026-001";
/// The seeded Roshan one, the bystander.
const ROSHAN: &str = "ROSHAN-2026-001";

async fn contract_id(db: &TestDb, contract_ref: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM numbering.lease_contracts WHERE contract_ref = $1")
        .bind(contract_ref)
        .fetch_one(&db.owner)
        .await
        .unwrap()
}

/// Adds identifiers to inventory under `contract_ref`, as an import would.
async fn inventory_in(db: &TestDb, contract_ref: &str, ids: &[&str]) {
    db.inventory(ids).await;
    let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    sqlx::query(
        "UPDATE numbering.numbers SET contract_id = \
           (SELECT id FROM numbering.lease_contracts WHERE contract_ref = $1) \
         WHERE identifier = ANY($2)",
    )
    .bind(contract_ref)
    .bind(&ids)
    .execute(&db.owner)
    .await
    .unwrap();
}

async fn state(db: &TestDb, identifier: &str) -> String {
    sqlx::query_scalar(
        "SELECT state::text FROM numbering.numbers WHERE identifier = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(identifier)
    .fetch_one(&db.owner)
    .await
    .unwrap()
}

/// The payloads of the outbox events of `event_type`, oldest first, each
/// checked against its schema in docs/events/.
async fn events(db: &TestDb, event_type: &str) -> Vec<Value> {
    let rows: Vec<sqlx::types::Json<Value>> = sqlx::query_scalar(
        "SELECT payload FROM numbering.outbox WHERE event_type = $1 ORDER BY id",
    )
    .bind(event_type)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let schema = event_schema(event_type).unwrap_or_else(|| panic!("no schema for {event_type}"));
    rows.into_iter()
        .map(|p| {
            assert_valid(&schema, &p.0);
            p.0
        })
        .collect()
}

/// Reserves and leases `identifier` for the tenant of `token`; the lease id.
async fn lease(app: &TestApp, token: &str, identifier: &str) -> String {
    let r = app
        .post(
            token,
            &format!("{P}/reservations"),
            json!({ "identifier": identifier }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let l = app
        .post(
            token,
            &format!("{P}/leases"),
            json!({ "reservation_id": r.str("id") }),
        )
        .await;
    assert_eq!(l.status, StatusCode::CREATED, "{:?}", l.json);
    l.str("id")
}

/// An admin's POST to contract `id`'s `verb`, under a fresh key. An end is
/// a two-person action: requested by alice (202), approved by bob; the
/// answer is then what the end answers (the approval's `result`).
async fn change(app: &TestApp, id: Uuid, verb: &str, mut body: Value) -> Answer {
    let path = format!("{A}/contracts/{id}/{verb}");
    if verb != "end" {
        return app.post(&admin_token(), &path, body).await;
    }
    body["justification"] = json!("the MNO confirmed in writing, ticket OPS-19");
    let asked = app.post(&admin_token_of("alice"), &path, body).await;
    if asked.status != StatusCode::ACCEPTED {
        return asked;
    }
    assert_eq!(asked.str("status"), "PENDING", "{:?}", asked.json);
    let approve = format!("{A}/approvals/{}/approve", asked.str("approval_id"));
    let mut done = app
        .send(Method::POST, &admin_token_of("bob"), &approve, None)
        .await;
    if done.status == StatusCode::OK {
        done.json = done.json["result"].clone();
    }
    done
}

#[tokio::test]
async fn suspending_a_contract_stops_new_reservations_and_resuming_allows_them_again() {
    let app = TestApp::new().await;
    let db = &app.db;
    db.pool_for("acme").await;
    inventory_in(
        db,
        ETISALAT,
        &["+93780001001", "+93780001002", "+93780001003"],
    )
    .await;
    let acme = tenant_token("acme");
    let held = lease(&app, &acme, "+93780001001").await;
    let id = contract_id(db, ETISALAT).await;

    let s = change(&app, id, "suspend", json!({})).await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.json);
    assert_eq!(
        (s.str("status"), s.json["version"].clone()),
        ("SUSPENDED".into(), json!(2))
    );

    // a given identifier: refused with its own code, nothing written
    let r = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93780001002" }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "CONTRACT_SUSPENDED"),
        "{:?}",
        r.json
    );
    assert!(r.is_problem());
    assert_eq!(state(db, "+93780001002").await, "AVAILABLE");
    // browsing and "reserve any" skip it
    let page = app
        .get(&acme, &format!("{P}/available?prefix=%2B9378000"))
        .await;
    assert_eq!(page.json["items"], json!([]), "{:?}", page.json);
    let any = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "criteria": { "prefix": "+9378000" } }),
        )
        .await;
    assert_eq!(any.status, StatusCode::NOT_FOUND, "{:?}", any.json);
    // the current lease is untouched
    let l = app.get(&acme, &format!("{P}/leases/{held}")).await;
    assert_eq!(
        (l.str("status"), l.json["contract_ended"].clone()),
        ("ACTIVE".into(), json!(false))
    );

    // wrong state, then a stale expected version: 409, nothing changes
    let again = change(&app, id, "suspend", json!({})).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "INVALID_TRANSITION")
    );
    let stale = change(&app, id, "resume", json!({ "expected_version": 1 })).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::CONFLICT, "CONFLICT")
    );
    assert!(stale.is_problem());

    let r = change(&app, id, "resume", json!({ "expected_version": 2 })).await;
    assert_eq!(
        (r.status, r.str("status")),
        (StatusCode::OK, "ACTIVE".into()),
        "{:?}",
        r.json
    );
    assert_eq!(r.json["version"], 3);
    let ok = app
        .post(
            &acme,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93780001002" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.json);

    let suspended = events(db, "contract.suspended.v1").await;
    let resumed = events(db, "contract.resumed.v1").await;
    assert_eq!((suspended.len(), resumed.len()), (1, 1));
    assert_eq!(suspended[0]["contract_ref"], ETISALAT);
    assert_eq!(resumed[0]["version"], 3);
    assert_eq!(
        db.count("numbering.audit_log WHERE action IN ('contract.suspended', 'contract.resumed')")
            .await,
        2
    );
}

#[tokio::test]
async fn the_database_refuses_to_reserve_from_a_suspended_contract_and_to_reopen_an_ended_one() {
    let db = TestDb::new().await;
    let tenant = db.pool_for("acme").await;
    inventory_in(&db, ETISALAT, &["+93780002001"]).await;
    let id = contract_id(&db, ETISALAT).await;
    let admin = numbering_tests::admin_ctx();
    db.store.suspend_contract(&admin, id, None).await.unwrap();
    let number = numbering_shared::Identifier::parse("+93780002001").unwrap();
    let e = db
        .store
        .reserve(&numbering_tests::tenant_ctx(&tenant), &tenant, &number)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "CONTRACT_SUSPENDED");
    // underneath the store: the service's own role cannot either
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('numbering.scope', 'platform', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let refused = sqlx::query(
        "UPDATE numbering.numbers SET state = 'RESERVED', tenant_id = 'acme', \
           reserved_until = now() + interval '1 minute' WHERE identifier = '+93780002001'",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(numbering_store::is_constraint_violation(
        &refused,
        "numbers_contract_suspended"
    ));
    drop(tx);

    db.store
        .end_contract(&admin, id, None, "the operator took the block back")
        .await
        .unwrap();
    let reopened =
        sqlx::query("UPDATE numbering.lease_contracts SET status = 'ACTIVE' WHERE id = $1")
            .bind(id)
            .execute(&db.owner)
            .await
            .unwrap_err();
    assert!(numbering_store::is_constraint_violation(
        &reopened,
        "lease_contracts_ended_is_final"
    ));
}

#[tokio::test]
async fn ending_a_contract_retires_its_available_numbers_and_flags_its_leased_ones() {
    let app = TestApp::new().await;
    let db = &app.db;
    db.pool_for("acme").await;
    db.pool_for("beta").await;
    let free = ["+93780003001", "+93780003002", "+93780003003"];
    inventory_in(db, ETISALAT, &free).await;
    inventory_in(
        db,
        ETISALAT,
        &["+93780003010", "+93780003011", "+93780003012"],
    )
    .await;
    inventory_in(db, ROSHAN, &["+93790003001"]).await;
    let (acme, beta) = (tenant_token("acme"), tenant_token("beta"));
    let leased = lease(&app, &acme, "+93780003010").await;
    let elsewhere = lease(&app, &acme, "+93790003001").await;
    let released = lease(&app, &beta, "+93780003011").await;
    let rel = app
        .send(
            Method::POST,
            &beta,
            &format!("{P}/leases/{released}/release"),
            None,
        )
        .await;
    assert_eq!(rel.status, StatusCode::OK, "{:?}", rel.json);
    assert_eq!(state(db, "+93780003011").await, "QUARANTINED");
    let r = app
        .post(
            &beta,
            &format!("{P}/reservations"),
            json!({ "identifier": "+93780003012" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = contract_id(db, ETISALAT).await;

    let bad = change(&app, id, "end", json!({ "reason": "  " })).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    );
    // one admin's request changes nothing; the same admin cannot approve it
    let path = format!("{A}/contracts/{id}/end");
    let body = json!({ "reason": "first try", "justification": "alone at night" });
    let asked = app.post(&admin_token_of("alice"), &path, body).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{:?}", asked.json);
    assert_eq!(state(db, "+93780003001").await, "AVAILABLE");
    let own = format!("{A}/approvals/{}/approve", asked.str("approval_id"));
    let same = app
        .send(Method::POST, &admin_token_of("alice"), &own, None)
        .await;
    assert_eq!(
        (same.status, same.code()),
        (StatusCode::FORBIDDEN, "SAME_APPROVER")
    );
    let e = change(
        &app,
        id,
        "end",
        json!({ "reason": "Etisalat did not renew the block lease" }),
    )
    .await;
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.json);
    assert_eq!(e.str("status"), "ENDED");
    assert!(e.json["ended_at"].is_string());
    assert_eq!(
        e.json["outcome"],
        json!({ "retired": 5, "reservations_cancelled": 1, "leases_flagged": 1,
                "leases_flagged_by_tenant": { "acme": 1 } })
    );

    // available, quarantined and reserved: retired; leased: still leased
    for n in free.iter().chain(&["+93780003011", "+93780003012"]) {
        assert_eq!(state(db, n).await, "RETIRED", "{n}");
    }
    assert_eq!(state(db, "+93780003010").await, "ASSIGNED");
    assert_eq!(state(db, "+93790003001").await, "ASSIGNED");
    assert_eq!(
        db.count("numbering.quarantine_records WHERE identifier = '+93780003011' AND ended_by = 'RETIRED'").await,
        1
    );
    // the tenant sees the flag and the recall date on its lease, not on others
    let views = app.get(&acme, &format!("{P}/leases")).await;
    let by_id = |lid: &str| {
        views.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == lid)
            .cloned()
            .unwrap()
    };
    let flagged = by_id(&leased);
    assert_eq!(flagged["status"], "ACTIVE");
    assert_eq!(flagged["contract_ended"], true);
    assert_eq!(flagged["recall_at"], flagged["term_end"]);
    assert_eq!(by_id(&elsewhere)["contract_ended"], false);
    assert_eq!(by_id(&elsewhere)["recall_at"], Value::Null);

    let retired = events(db, "number.retired.v1").await;
    assert_eq!(retired.len(), 5);
    assert!(
        retired.iter().all(|r| r["reason"] == "CONTRACT_ENDED"),
        "{retired:?}"
    );
    let cancelled = events(db, "number.reservation_cancelled.v1").await;
    assert_eq!(cancelled[0]["identifier"], "+93780003012");
    let ended = events(db, "contract.ended.v1").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(
        (
            ended[0]["retired"].clone(),
            ended[0]["leases_flagged"].clone()
        ),
        (json!(5), json!(1))
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'contract.ended'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'retire'")
            .await,
        5
    );

    // ENDED is final
    for verb in ["resume", "suspend"] {
        let r = change(&app, id, verb, json!({})).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "INVALID_TRANSITION"),
            "{verb}"
        );
    }
    let r = change(&app, id, "end", json!({ "reason": "again" })).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "INVALID_TRANSITION")
    );
    // the list the console reads
    let list = app.get(&admin_token(), &format!("{A}/contracts")).await;
    let c = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contract_ref"] == ETISALAT)
        .unwrap();
    assert_eq!(
        (c["status"].clone(), c["ends_on"].clone()),
        (json!("ENDED"), json!("2029-05-31"))
    );
    assert_eq!(c["ended_at"], e.json["ended_at"]);
}

#[tokio::test]
async fn the_sweeper_recalls_a_flagged_lease_at_term_end_without_renewing_it() {
    let app = TestApp::new().await;
    let db = &app.db;
    db.pool_for("acme").await;
    inventory_in(db, ETISALAT, &["+93780004001"]).await;
    let acme = tenant_token("acme");
    let leased = lease(&app, &acme, "+93780004001").await;
    // inside the renewal window: an unflagged lease would be offered to billing
    sqlx::query(
        "UPDATE numbering.leases SET term_end = now() + interval '1 day' WHERE id = $1::uuid",
    )
    .bind(&leased)
    .execute(&db.owner)
    .await
    .unwrap();
    let id = contract_id(db, ETISALAT).await;
    let e = change(
        &app,
        id,
        "end",
        json!({ "reason": "block returned to the operator" }),
    )
    .await;
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.json);
    let billing = FakeBilling::default();
    let sweeper = Sweeper::new(
        db.store.clone(),
        billing_client(&serve_billing(billing.clone()).await),
        SweeperConfig::default(),
    );

    let before = sweeper.sweep().await.unwrap();
    assert_eq!((before.renewed, before.contract_leases_recalled), (0, 0));
    assert_eq!(
        billing.calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "never offered for renewal"
    );
    assert_eq!(state(db, "+93780004001").await, "ASSIGNED");

    // the term ends (as if a day had passed)
    sqlx::query(
        "UPDATE numbering.leases SET started_at = now() - interval '2 days', \
           term_end = now() - interval '1 second', \
           recall_at = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind(&leased)
    .execute(&db.owner)
    .await
    .unwrap();
    let after = sweeper.sweep().await.unwrap();
    assert_eq!(
        (after.contract_leases_recalled, after.leases_expired),
        (1, 0)
    );
    assert_eq!(state(db, "+93780004001").await, "RETIRED");
    let l = app.get(&acme, &format!("{P}/leases/{leased}")).await;
    assert_eq!(
        (l.str("status"), l.str("end_reason")),
        ("ENDED".into(), "RECALLED".into())
    );

    let lease_events = events(db, "lease.recalled.v1").await;
    let number_events = events(db, "number.recalled.v1").await;
    assert_eq!((lease_events.len(), number_events.len()), (1, 1));
    assert_eq!(lease_events[0]["lease_id"], leased);
    assert_eq!(number_events[0]["reason"], "CONTRACT_ENDED");
    assert_eq!(number_events[0]["actor"], "system:lifecycle-sweeper");
    let retired = events(db, "number.retired.v1").await;
    assert_eq!(retired.last().unwrap()["identifier"], "+93780004001");
    assert_eq!(
        sweeper.sweep().await.unwrap().contract_leases_recalled,
        0,
        "once"
    );
}

#[tokio::test]
async fn utilisation_counts_each_state_per_contract_and_per_block() {
    let app = TestApp::new().await;
    let db = &app.db;
    db.pool_for("acme").await;
    let first_block = [
        "+93780005001",
        "+93780005002",
        "+93780005003",
        "+93780005004",
    ];
    inventory_in(db, ETISALAT, &first_block).await;
    inventory_in(
        db,
        ETISALAT,
        &["+93780015001", "+93780015002", "+93780015003"],
    )
    .await;
    let acme = tenant_token("acme");
    lease(&app, &acme, "+93780005001").await;
    let released = lease(&app, &acme, "+93780005002").await;
    app.send(
        Method::POST,
        &acme,
        &format!("{P}/leases/{released}/release"),
        None,
    )
    .await;
    app.post(
        &acme,
        &format!("{P}/reservations"),
        json!({ "identifier": "+93780015001" }),
    )
    .await;
    // a lapsed reservation reads as available
    app.post(
        &acme,
        &format!("{P}/reservations"),
        json!({ "identifier": "+93780015002" }),
    )
    .await;
    sqlx::query(
        "UPDATE numbering.numbers SET reserved_until = now() - interval '1 second' WHERE identifier = '+93780015002'",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let admin = admin_token();
    let retire = numbering_shared::Identifier::parse("+93780005003").unwrap();
    db.store
        .retire(&numbering_tests::admin_ctx(), &retire)
        .await
        .unwrap();
    let id = contract_id(db, ETISALAT).await;

    let u = app
        .get(&admin, &format!("{A}/contracts/{id}/utilisation"))
        .await;
    assert_eq!(u.status, StatusCode::OK, "{:?}", u.json);
    assert_eq!(u.json["block_size"], 10000);
    assert_eq!(u.json["contract"]["contract_ref"], ETISALAT);
    assert_eq!(
        u.json["totals"],
        json!({ "total": 7, "available": 3, "reserved": 1, "leased": 1, "quarantined": 1,
                "retired": 1, "leases_to_recall": 0 })
    );
    assert_eq!(
        u.json["blocks"],
        json!([
            { "prefix": "+9378000", "first": "+93780000000", "last": "+93780009999", "total": 4,
              "available": 1, "reserved": 0, "leased": 1, "quarantined": 1, "retired": 1 },
            { "prefix": "+9378001", "first": "+93780010000", "last": "+93780019999", "total": 3,
              "available": 2, "reserved": 1, "leased": 0, "quarantined": 0, "retired": 0 },
        ])
    );
    for n in ["+93780005001", "+93780015003"] {
        assert_eq!(numbering_shared::contract::block_prefix(n).len(), 8);
    }
    // unknown or malformed: problem+json 404
    for bad in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let u = app
            .get(&admin, &format!("{A}/contracts/{bad}/utilisation"))
            .await;
        assert_eq!(
            (u.status, u.code()),
            (StatusCode::NOT_FOUND, "NOT_FOUND"),
            "{bad}"
        );
        assert!(u.is_problem());
    }
}

#[tokio::test]
async fn a_contract_change_replays_under_its_idempotency_key_and_bad_input_is_a_problem() {
    let app = TestApp::new().await;
    let db = &app.db;
    let admin = admin_token();
    let id = contract_id(db, ETISALAT).await;
    let path = format!("{A}/contracts/{id}/suspend");
    let body = json!({ "expected_version": 1 });
    let first = app
        .call(Method::POST, &path, Some(&admin), Some("k-1"), Some(&body))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let replay = app
        .call(Method::POST, &path, Some(&admin), Some("k-1"), Some(&body))
        .await;
    assert_eq!(
        (replay.status, &replay.bytes),
        (StatusCode::OK, &first.bytes)
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'contract.suspended.v1'")
            .await,
        1
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'contract.suspended'")
            .await,
        1
    );
    let other = json!({ "expected_version": 2 });
    let reused = app
        .call(Method::POST, &path, Some(&admin), Some("k-1"), Some(&other))
        .await;
    assert_eq!(reused.code(), "IDEMPOTENCY_KEY_REUSED");

    let unknown = change(&app, Uuid::new_v4(), "suspend", json!({})).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    assert!(unknown.is_problem());
    for (verb, body) in [
        ("resume", json!({ "expected_version": 0 })),
        ("resume", json!({ "version": 2 })),
        ("end", json!({})),
        ("end", json!({ "reason": "x".repeat(1001) })),
    ] {
        let r = change(&app, id, verb, body.clone()).await;
        assert!(
            r.status.is_client_error() && r.is_problem(),
            "{verb} {body}: {:?}",
            r.json
        );
        assert_ne!(r.status, StatusCode::NOT_FOUND);
    }
    let tenant = app.post(&tenant_token("acme"), &path, json!({})).await;
    assert_eq!(tenant.status, StatusCode::FORBIDDEN);
    // none of it changed the contract
    let list = app.get(&admin, &format!("{A}/contracts")).await;
    let c = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.to_string())
        .unwrap();
    assert_eq!(
        (c["status"].clone(), c["version"].clone()),
        (json!("SUSPENDED"), json!(2))
    );
}

#[tokio::test]
async fn ending_a_contract_of_ten_thousand_and_one_numbers_retires_them_all_in_one_transaction() {
    let app = TestApp::new().await;
    let db = &app.db;
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc, contract_id) \
         SELECT i, i, 'MSISDN', o.id, o.mcc, o.mnc_codes[1], c.id \
         FROM generate_series(0, 10000) g, LATERAL (SELECT '+937800' || lpad(g::text, 5, '0') AS i) x, \
              numbering.mobile_operators o, numbering.lease_contracts c \
         WHERE o.id = 'etisalat-af' AND c.contract_ref = $1",
    )
    .bind(ETISALAT)
    .execute(&db.owner)
    .await
    .unwrap();
    let id = contract_id(db, ETISALAT).await;
    let started = std::time::Instant::now();
    let e = change(
        &app,
        id,
        "end",
        json!({ "reason": "the whole block goes back" }),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(e.status, StatusCode::OK, "{:?}", e.json);
    assert_eq!(e.json["outcome"]["retired"], 10_001);
    assert_eq!(
        db.count("numbering.numbers WHERE state = 'RETIRED'").await,
        10_001
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.retired.v1'")
            .await,
        10_001
    );
    assert_eq!(
        db.count("numbering.audit_log WHERE action = 'retire'")
            .await,
        10_001
    );
    println!("ended a contract of 10,001 AVAILABLE numbers in {took:?}");
}

#[tokio::test]
async fn contract_events_reach_numbering_events_through_the_relay() {
    use crate::relay::{fast, spawn_relay};
    let db = TestDb::new().await;
    let nats = numbering_tests::TestNats::start();
    let id = contract_id(&db, ETISALAT).await;
    let admin = numbering_tests::admin_ctx();
    db.store.suspend_contract(&admin, id, None).await.unwrap();
    db.store.resume_contract(&admin, id, Some(2)).await.unwrap();
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    let client = nats.client().await;
    let got = numbering_tests::read_stream(
        &client,
        "NUMBERING_EVENTS",
        "contract.>",
        2,
        std::time::Duration::from_secs(20),
    )
    .await;
    let types: Vec<String> = got
        .iter()
        .map(|m| {
            let e: Value = serde_json::from_slice(&m.payload).unwrap();
            assert_valid(&event_schema("envelope").unwrap(), &e);
            assert_eq!(e["subject"], ETISALAT);
            e["type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(types, ["contract.suspended.v1", "contract.resumed.v1"]);
}
