//! Alphanumeric sender IDs into inventory through the admin API: one or
//! many, all or none, with the ALPHA rules, an audit entry and an event
//! each, idempotent, and problem+json refusals.

use numbering_shared::Identifier;
use numbering_tests::{
    app::{Answer, TestApp, admin_token},
    tenant_ctx,
};
use reqwest::Method;
use serde_json::{Value, json};

const ROUTE: &str = "/v1/admin/numbering/sender-ids";

async fn register(app: &TestApp, body: Value) -> Answer {
    app.post(&admin_token(), ROUTE, body).await
}

async fn registered(app: &TestApp) -> (i64, i64, i64) {
    (
        app.db.count("numbering.numbers WHERE kind = 'ALPHA'").await,
        app.db
            .count("numbering.audit_log WHERE action = 'sender_id.registered'")
            .await,
        app.db
            .count("numbering.outbox WHERE event_type = 'number.registered.v1' AND stream = 'NUMBERING_EVENTS'")
            .await,
    )
}

fn identifiers(a: &Answer) -> Vec<&str> {
    a.json["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", a.json))
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn one_sender_id_or_a_list_enters_inventory_available_with_an_audit_entry_and_an_event_each()
{
    let app = TestApp::new().await;
    let one = register(&app, json!({ "sender_id": " AcmeBank " })).await;
    assert_eq!(one.status, 201, "{:?}", one.json);
    assert_eq!(identifiers(&one), ["AcmeBank"]);
    assert_eq!(one.json["items"][0]["kind"], "ALPHA");
    assert_eq!(one.json["items"][0]["state"], "AVAILABLE");
    assert_eq!(one.json["items"][0]["version"], 1);

    let many = register(
        &app,
        json!({ "sender_ids": ["Globex", "ACME-2", "Info 24"] }),
    )
    .await;
    assert_eq!(many.status, 201, "{:?}", many.json);
    assert_eq!(identifiers(&many), ["Globex", "ACME-2", "Info 24"]);
    assert_eq!(registered(&app).await, (4, 4, 4));

    // inventory like any other: the admin reads it, a tenant reserves it
    let read = app
        .get(&admin_token(), "/v1/admin/numbering/numbers/acmebank")
        .await;
    assert_eq!(
        (read.status.as_u16(), read.str("state")),
        (200, "AVAILABLE".into())
    );
    let acme = app.db.pool_for("acme").await;
    let r = app
        .db
        .store
        .reserve(
            &tenant_ctx(&acme),
            &acme,
            &Identifier::parse("ACMEBANK").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.identifier.as_str(), "AcmeBank");

    // the event carries what its schema requires
    let data: Value = sqlx::query_scalar(
        "SELECT payload FROM numbering.outbox WHERE event_type = 'number.registered.v1' AND aggregate_id = 'Globex'",
    )
    .fetch_one(&app.db.owner)
    .await
    .unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../docs/events/number.registered.v1.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for key in schema["required"].as_array().unwrap() {
        assert!(data.get(key.as_str().unwrap()).is_some(), "{key} in {data}");
    }
    assert_eq!(data["kind"], "ALPHA");
    assert_eq!(data["version"], 1);
    assert_eq!(data["actor"], "admin:test-user");
}

#[tokio::test]
async fn a_list_with_one_sender_id_already_in_inventory_registers_none_and_names_it_with_409() {
    let app = TestApp::single_admin().await;
    assert_eq!(
        register(&app, json!({ "sender_id": "AcmeBank" }))
            .await
            .status,
        201
    );
    let before = registered(&app).await;

    let a = register(
        &app,
        json!({ "sender_ids": ["Globex", "ACMEBANK", "Initech"] }),
    )
    .await;
    assert_eq!(a.status, 409, "{:?}", a.json);
    assert!(a.is_problem());
    assert_eq!(a.code(), "ALREADY_IN_INVENTORY");
    assert_eq!(a.json["identifiers"], json!(["ACMEBANK"]));
    assert_eq!(
        registered(&app).await,
        before,
        "nothing of the list was kept"
    );

    // a retired sender ID may be registered again
    let retired = app
        .send(
            Method::POST,
            &admin_token(),
            "/v1/admin/numbering/numbers/AcmeBank/retire",
            None,
        )
        .await;
    assert_eq!(retired.status, 200, "{:?}", retired.json);
    assert_eq!(
        register(&app, json!({ "sender_id": "AcmeBank" }))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn invalid_repeated_or_misshapen_requests_are_refused_as_a_whole_with_a_problem() {
    let app = TestApp::new().await;
    for (body, status, code, field) in [
        (
            json!({ "sender_ids": ["Good1", "x"] }),
            400,
            "INVALID_IDENTIFIER",
            "sender_ids[1]",
        ),
        (
            json!({ "sender_ids": ["Good1", "12345"] }),
            400,
            "INVALID_IDENTIFIER",
            "sender_ids[1]",
        ),
        (
            json!({ "sender_id": "+93790000001" }),
            400,
            "INVALID_IDENTIFIER",
            "sender_id",
        ),
        (
            json!({ "sender_id": "Far too long name" }),
            400,
            "INVALID_IDENTIFIER",
            "sender_id",
        ),
        (
            json!({ "sender_ids": ["Acme", "Good1", "ACME"] }),
            422,
            "VALIDATION_FAILED",
            "sender_ids[2]",
        ),
        (
            json!({ "sender_ids": [] }),
            422,
            "VALIDATION_FAILED",
            "sender_ids",
        ),
        (json!({}), 422, "VALIDATION_FAILED", "sender_ids"),
        (
            json!({ "sender_id": "Acme", "sender_ids": ["Good1"] }),
            422,
            "VALIDATION_FAILED",
            "sender_ids",
        ),
    ] {
        let a = register(&app, body.clone()).await;
        assert!(a.is_problem(), "{body}: {:?}", a.json);
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{body}: {:?}",
            a.json
        );
        assert_eq!(a.json["field"], field, "{body}: {:?}", a.json);
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("Id{i}")).collect();
    let a = register(&app, json!({ "sender_ids": too_many })).await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (422, "VALIDATION_FAILED"),
        "{:?}",
        a.json
    );
    let unknown = register(&app, json!({ "sender_id": "Acme", "vanity": true })).await;
    assert!(
        unknown.is_problem() && unknown.status.is_client_error(),
        "{:?}",
        unknown.json
    );
    assert_eq!(registered(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_replays_the_registration() {
    let app = TestApp::new().await;
    let body = json!({ "sender_ids": ["AcmeBank", "Globex"] });
    let token = admin_token();
    let call = || {
        app.call(
            Method::POST,
            ROUTE,
            Some(&token),
            Some("register-once"),
            Some(&body),
        )
    };
    let first = call().await;
    let again = call().await;
    assert_eq!(first.status, 201);
    assert_eq!((again.status, &again.bytes), (first.status, &first.bytes));
    assert_eq!(registered(&app).await, (2, 2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_simultaneous_registrations_of_one_sender_id_register_it_once() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let mut calls = tokio::task::JoinSet::new();
    for list in [
        json!(["Initech", "AcmeBank"]),
        json!(["ACMEBANK", "Globex"]),
    ] {
        let (app, start) = (app.clone(), start.clone());
        calls.spawn(async move {
            start.wait().await;
            register(&app, json!({ "sender_ids": list })).await
        });
    }
    let mut statuses = Vec::new();
    while let Some(a) = calls.join_next().await {
        let a = a.unwrap();
        statuses.push((a.status.as_u16(), a.code().to_owned()));
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (201, String::new()),
            (409, "ALREADY_IN_INVENTORY".to_owned())
        ]
    );
    assert_eq!(registered(&app).await, (2, 2, 2));
}
