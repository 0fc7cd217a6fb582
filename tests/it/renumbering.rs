//! Bulk renumbering (an operator's block moves to a new prefix) through the
//! admin API: a thousand numbers in every live state move with their
//! leases, reservations and quarantines, under one audit and one event per
//! number; refusals move nothing. ValidateLease during and after the
//! parallel-running window: `renumbering_window`; a crash halfway:
//! `renumbering_crash`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use numbering_shared::{Identifier, NumberState, TenantId};
use numbering_tests::{
    TestDb,
    app::{TestApp, admin_token, admin_token_of, tenant_token},
    schema::{assert_valid, event_schema},
    tenant_ctx,
};
use serde_json::{Value, json};

pub(crate) const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// The state number `i` of a mixed block is brought into.
pub(crate) fn state_of(i: usize) -> NumberState {
    match i % 8 {
        0 | 1 => NumberState::Available,
        2 => NumberState::Reserved,
        3 => NumberState::Held,
        4 | 5 => NumberState::Assigned,
        6 => NumberState::Suspended,
        _ => NumberState::Quarantined,
    }
}

/// `n` numbers `<prefix>00000…` in inventory, in the states of
/// [`state_of`], held by the three tenants in turn, through the lifecycle.
pub(crate) async fn mixed_block(db: &TestDb, prefix: &str, n: usize) -> Vec<Identifier> {
    for t in TENANTS {
        db.pool_with(t, 100_000, 0, 0, &[], true).await;
    }
    let raw: Vec<String> = (0..n)
        .map(|i| format!("{prefix}{i:0w$}", w = 12 - prefix.len()))
        .collect();
    let ids = db
        .inventory(&raw.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (store, ids) = (db.store.clone(), ids.clone());
            tokio::spawn(async move {
                for (i, id) in ids.iter().enumerate().skip(w).step_by(8) {
                    let tenant = TenantId::parse(TENANTS[i % 3]).unwrap();
                    bring(&store, &tenant, id, state_of(i)).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    ids
}

async fn bring(s: &numbering_store::Store, t: &TenantId, id: &Identifier, state: NumberState) {
    let ctx = tenant_ctx(t);
    if state == NumberState::Available {
        return;
    }
    let r = s.reserve(&ctx, t, id).await.unwrap();
    match state {
        NumberState::Reserved => {}
        NumberState::Held => drop(s.hold(&ctx, t, r.id).await.unwrap()),
        _ => {
            let lease = s.assign(&ctx, t, r.id, true).await.unwrap();
            match state {
                NumberState::Suspended => {
                    drop(s.suspend(&numbering_tests::admin_ctx(), id).await.unwrap())
                }
                NumberState::Quarantined => drop(s.release(&ctx, t, lease.id).await.unwrap()),
                _ => {}
            }
        }
    }
}

/// A plan's body: `old` → `new` for roshan, cutover a minute ago.
pub(crate) fn plan_body(old: &str, new: &str, window: Option<DateTime<Utc>>) -> Value {
    json!({
        "operator_id": "roshan", "old_prefix": old, "new_prefix": new,
        "cutover_at": Utc::now() - Duration::minutes(1),
        "parallel_until": window,
    })
}

const PLANS: &str = "/v1/admin/numbering/renumberings";

/// Every row that refers to a number, by its own id: (table, id) → the
/// facts that must survive a renumbering, and the identifier it names.
async fn holdings(db: &TestDb) -> HashMap<(String, String), (String, String)> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT 'lease', id::text, tenant_id || '|' || status || '|' || started_at::text || '|' \
                || term_end::text || '|' || auto_renew::text || '|' || renewals::text, identifier \
           FROM numbering.leases \
         UNION ALL SELECT 'reservation', id::text, tenant_id || '|' || status || '|' \
                || expires_at::text, identifier FROM numbering.reservations \
         UNION ALL SELECT 'quarantine', id::text, previous_tenant_id || '|' || coalesce(lease_id::text, '') \
                || '|' || ends_at::text || '|' || coalesce(ended_by, ''), identifier \
           FROM numbering.quarantine_records",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(table, id, facts, identifier)| ((table, id), (facts, identifier)))
        .collect()
}

/// `POST apply` by alice (202: the two-person rule), which moves nothing,
/// then bob's approval, which applies it: the apply's own answer.
async fn two_admins(app: &TestApp, apply: &str) -> numbering_tests::app::Answer {
    let links = app.db.count("numbering.identifier_links").await;
    let why = json!({ "justification": "Roshan moves +937912 to +937222, notice R-2026-12" });
    let asked = app.post(&admin_token_of("alice"), apply, why).await;
    assert_eq!(asked.status, 202, "{:?}", asked.json);
    assert_eq!(asked.json["action"], "renumbering.apply");
    assert_eq!(
        app.db.count("numbering.identifier_links").await,
        links,
        "nothing yet"
    );
    let approve = format!(
        "/v1/admin/numbering/approvals/{}/approve",
        asked.str("approval_id")
    );
    let own = app
        .post(&admin_token_of("alice"), &approve, json!({}))
        .await;
    assert_eq!(own.code(), "SAME_APPROVER");
    let approved = app.post(&admin_token_of("bob"), &approve, json!({})).await;
    assert_eq!(approved.status, 200, "{:?}", approved.json);
    numbering_tests::app::Answer {
        json: approved.json["result"].clone(),
        ..approved
    }
}

fn renumbered(old: &str) -> String {
    old.replacen("+937912", "+937222", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_numbers_in_mixed_states_move_with_their_leases_in_one_audited_operation() {
    let app = TestApp::new().await;
    let db = &app.db;
    let ids = mixed_block(db, "+937912", 1000).await;
    let before = holdings(db).await;
    let usage_before: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT tenant_id, kind::text, current_leases FROM numbering.tenant_lease_counts ORDER BY 1, 2",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();

    let planned = app
        .post(&admin_token(), PLANS, plan_body("+937912", "+937222", None))
        .await;
    assert_eq!(planned.status, 201, "{:?}", planned.json);
    let dry = &planned.json["dry_run"];
    assert_eq!(dry["total"], 1000);
    assert_eq!(
        dry["counts"],
        json!({"AVAILABLE": 250, "RESERVED": 125, "HELD": 125, "ASSIGNED": 250,
               "SUSPENDED": 125, "QUARANTINED": 125})
    );
    assert_eq!(dry["conflict_count"], 0);
    let id = planned.str("id");
    let apply = format!("{PLANS}/{id}/apply");
    let applied = two_admins(&app, &apply).await;
    assert_eq!(applied.json["status"], "APPLIED");
    assert_eq!(applied.json["moved"], 1000);
    assert_eq!(applied.json["counts"], dry["counts"]);
    assert_eq!(applied.json["applied_now"], true);

    // every lease, reservation and quarantine keeps its id, tenant, term
    // and status, under the new identifier
    let after = holdings(db).await;
    assert_eq!(after.len(), before.len());
    assert!(before.len() > 1000, "{} rows", before.len());
    for (key, (facts, identifier)) in &before {
        let (facts_after, identifier_after) = &after[key];
        assert_eq!(facts_after, facts, "{key:?}");
        assert_eq!(*identifier_after, renumbered(identifier), "{key:?}");
    }
    let usage_after: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT tenant_id, kind::text, current_leases FROM numbering.tenant_lease_counts ORDER BY 1, 2",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(
        usage_after, usage_before,
        "no tenant gained or lost a lease"
    );
    assert_numbers_moved(db, &ids).await;
    assert_events_and_audit(db, &id).await;
    assert_history_shows_both(&app, &ids).await;

    // applying it again changes nothing
    let again = two_admins(&app, &apply).await;
    assert_eq!(again.json["applied_now"], false);
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.renumbered.v1'")
            .await,
        1000
    );
    assert_eq!(db.count("numbering.identifier_links").await, 1000);
}

/// A link's old identifier, then its old row's state, holder and version,
/// then the new row's.
type Moved = (
    String,
    String,
    Option<String>,
    i64,
    String,
    Option<String>,
    i64,
);

/// Old rows retired, new rows in the old ones' states with their holders,
/// one version on, each linked.
async fn assert_numbers_moved(db: &TestDb, ids: &[Identifier]) {
    let rows: Vec<Moved> = sqlx::query_as(
        "SELECT o.identifier, o.state::text, o.tenant_id, o.version, \
                    n.state::text, n.tenant_id, n.version \
             FROM numbering.identifier_links k \
             JOIN numbering.numbers o ON o.id = k.old_number_id \
             JOIN numbering.numbers n ON n.id = k.new_number_id \
             WHERE n.identifier = k.new_identifier AND o.identifier = k.old_identifier \
             ORDER BY o.identifier",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(rows.len(), ids.len());
    for (i, (old, old_state, old_tenant, old_version, state, tenant, version)) in
        rows.into_iter().enumerate()
    {
        assert_eq!(old, ids[i].as_str());
        assert_eq!((old_state.as_str(), old_tenant), ("RETIRED", None));
        assert_eq!(state, state_of(i).as_str(), "{old}");
        let held = !matches!(
            state_of(i),
            NumberState::Available | NumberState::Quarantined
        );
        assert_eq!(tenant.as_deref(), held.then_some(TENANTS[i % 3]), "{old}");
        assert_eq!(version, old_version, "both one version on");
    }
    assert_eq!(
        db.count("numbering.numbers WHERE identifier LIKE '+937912%' AND state <> 'RETIRED'")
            .await,
        0
    );
}

/// One event per number, as documented; two audit entries per number (old
/// and new identifier as subject) and one for the operation.
async fn assert_events_and_audit(db: &TestDb, id: &str) {
    let events: Vec<(String, Option<String>, Value)> = sqlx::query_as(
        "SELECT aggregate_id, tenant_id, payload::jsonb FROM numbering.outbox \
         WHERE event_type = 'number.renumbered.v1' ORDER BY id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(events.len(), 1000);
    let schema = event_schema("number.renumbered.v1").expect("documented");
    for (i, (subject, tenant, data)) in events.iter().enumerate() {
        assert_valid(&schema, data);
        let old = data["old_identifier"].as_str().unwrap();
        assert_eq!(subject, data["new_identifier"].as_str().unwrap());
        assert_eq!(*subject, renumbered(old));
        assert_eq!(data["renumbering_id"], id);
        assert_eq!(data["from_state"], state_of(i).as_str());
        assert_eq!(tenant.as_deref(), data["tenant_id"].as_str());
        let leased = matches!(state_of(i), NumberState::Assigned | NumberState::Suspended);
        assert_eq!(data["lease_id"].is_string(), leased, "{old}");
    }
    let per_subject: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT count(*), count(DISTINCT subject) FROM numbering.audit_log WHERE action = 'renumber'",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap();
    assert_eq!(per_subject, vec![(2000, 2000)]);
    let op: Vec<(String, Value)> = sqlx::query_as(
        "SELECT action, after::jsonb FROM numbering.audit_log WHERE subject = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.owner)
    .await
    .unwrap();
    let op: Vec<&(String, Value)> = op
        .iter()
        .filter(|(a, _)| a.starts_with("renumbering."))
        .collect();
    let actions: Vec<&str> = op.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["renumbering.plan", "renumbering.apply"]);
    assert_eq!(op[1].1["moved"], 1000);
    assert_eq!(op[1].1["counts"]["SUSPENDED"], 125);
    assert!(
        op[1].1.get("approval").is_some(),
        "both admins: {}",
        op[1].1
    );
}

/// The admin's record of either identifier names the other; a tenant's
/// lease history of the old identifier shows its lease, now under the new.
async fn assert_history_shows_both(app: &TestApp, ids: &[Identifier]) {
    let old = ids[4].as_str(); // ASSIGNED, to globex (4 % 3 = 1)
    let new = renumbered(old);
    let record = app
        .get(
            &admin_token(),
            &format!("/v1/admin/numbering/numbers/{old}"),
        )
        .await;
    assert_eq!(record.json["state"], "RETIRED");
    assert_eq!(record.json["links"][0]["new_identifier"], new.as_str());
    let record = app
        .get(
            &admin_token(),
            &format!("/v1/admin/numbering/numbers/{new}"),
        )
        .await;
    assert_eq!(record.json["state"], "ASSIGNED");
    assert_eq!(record.json["links"][0]["old_identifier"], old);
    let history = app
        .get(
            &tenant_token(TENANTS[4 % 3]),
            &format!("/v1/portal/numbering/numbers/{old}/history"),
        )
        .await;
    assert_eq!(history.status, 200, "{:?}", history.json);
    let items = history.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["identifier"], new.as_str());
    let audit = app
        .get(
            &admin_token(),
            &format!(
                "/v1/admin/numbering/audit?subject={}",
                old.replace('+', "%2B")
            ),
        )
        .await;
    let actions: Vec<&str> = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions.first(), Some(&"renumber"), "{actions:?}");
}

#[tokio::test]
async fn a_conflict_an_early_apply_and_a_bad_plan_are_refused_and_move_nothing() {
    // the two-person rule off (a single-admin deployment): apply answers at once
    let app = TestApp::single_admin().await;
    let db = &app.db;
    db.inventory(&["+93791400001", "+93791400002", "+93722400002"])
        .await;
    let planned = app
        .post(&admin_token(), PLANS, plan_body("+937914", "+937224", None))
        .await;
    assert_eq!(planned.status, 201);
    assert_eq!(planned.json["dry_run"]["conflict_count"], 1);
    assert_eq!(
        planned.json["dry_run"]["conflicts"][0]["new_identifier"],
        "+93722400002"
    );
    let id = planned.str("id");
    let refused = app
        .post(&admin_token(), &format!("{PLANS}/{id}/apply"), json!({}))
        .await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.code(), "RENUMBERING_CONFLICT");
    assert_eq!(refused.json["conflict_count"], 1);
    assert_eq!(db.count("numbering.identifier_links").await, 0);
    assert_eq!(
        db.count("numbering.numbers WHERE state = 'RETIRED'").await,
        0
    );
    let plan = app.get(&admin_token(), &format!("{PLANS}/{id}")).await;
    assert_eq!(plan.json["status"], "PLANNED");

    let mut early = plan_body("+937914", "+937225", None);
    early["cutover_at"] = json!(Utc::now() + Duration::hours(1));
    let early = app.post(&admin_token(), PLANS, early).await;
    assert_eq!(early.json["dry_run"]["due"], false);
    let refused = app
        .post(
            &admin_token(),
            &format!("{PLANS}/{}/apply", early.str("id")),
            json!({}),
        )
        .await;
    assert_eq!(refused.code(), "RENUMBERING_NOT_DUE");
    assert_eq!(refused.status, 409);

    for (body, field) in [
        (plan_body("+937914", "+93722", None), "new_prefix"),
        (plan_body("+938914", "+937224", None), "old_prefix"),
        (
            plan_body("+937914", "+937226", Some(Utc::now() - Duration::hours(1))),
            "parallel_until",
        ),
    ] {
        let bad = app.post(&admin_token(), PLANS, body).await;
        assert_eq!(
            (bad.status.as_u16(), bad.code()),
            (422, "VALIDATION_FAILED")
        );
        assert_eq!(bad.json["field"], field);
    }
    let mut unknown = plan_body("+937914", "+937226", None);
    unknown["operator_id"] = json!("no-such-mno");
    let bad = app.post(&admin_token(), PLANS, unknown).await;
    assert_eq!(
        (bad.status.as_u16(), bad.json["field"].clone()),
        (422, json!("operator_id"))
    );
    let missing = app
        .post(
            &admin_token(),
            &format!("{PLANS}/{}/apply", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let tenant = app
        .post(
            &tenant_token("acme"),
            PLANS,
            plan_body("+937914", "+937227", None),
        )
        .await;
    assert_eq!(tenant.status, 403);
    assert_eq!(db.count("numbering.renumberings").await, 2);
}
