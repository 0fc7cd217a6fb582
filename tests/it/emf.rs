//! The Lambda edition's metrics: the validate-lease Lambda, run as AWS runs
//! it, writes the hot path's metrics to stdout in CloudWatch Embedded
//! Metric Format, namespace `Numbering`, under the names the host exports
//! to Prometheus; an UNAVAILABLE answer shows as
//! `numbering_validate_lease_unavailable_total`, the counter AWS alarms on.

use std::time::Duration;

use numbering_tests::{
    TestDb, eventually,
    lambda_runtime::{LambdaProcess, RuntimeApi, function_url_post},
    lease_all, workspace_bin,
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

const WITHIN: Duration = Duration::from_secs(120);

/// The EMF documents the Lambda wrote that carry metric `name`.
fn emf(lambda: &LambdaProcess, name: &str) -> Vec<Value> {
    lambda
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.get("_aws").is_some() && d.get(name).is_some())
        .collect()
}

async fn validate(api: &RuntimeApi, identifier: &str) -> u64 {
    let request = json!({ "identifier": identifier, "tenant_id": "acme" });
    let response = api
        .invoke(function_url_post("/v1/validate-lease", &request), WITHIN)
        .await
        .unwrap();
    response["statusCode"].as_u64().unwrap_or_default()
}

/// Refuses new sessions to the test's database and ends the open ones
/// (from the cluster's `postgres` database: a database cannot close itself).
async fn cut_off(db: &TestDb) {
    let base = db.owner_url.rsplit_once('/').unwrap().0;
    let mut admin = PgConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    let name = &db.name;
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validate_lease_lambda_writes_its_metrics_as_cloudwatch_emf_and_counts_unavailable() {
    let db = TestDb::new().await;
    let acme = db.pool_for("acme").await;
    let ids = db.inventory(&["+93790000011", "+93790000012"]).await;
    lease_all(&db, &acme, &ids[..1]).await;
    let api = RuntimeApi::start().await;
    let env = [("DATABASE_URL", db.owner_url.clone())];
    let lambda = LambdaProcess::spawn(&workspace_bin("validate-lease"), &api, &env);

    assert_eq!(validate(&api, "+93790000011").await, 200);
    let latency = "numbering_validate_lease_duration_seconds";
    eventually(
        Duration::from_secs(10),
        "an EMF document of the latency",
        || async { !emf(&lambda, latency).is_empty() },
    )
    .await;
    let doc = &emf(&lambda, latency)[0];
    let cw = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(cw["Namespace"], "Numbering", "{doc}");
    assert_eq!(cw["Metrics"][0]["Unit"], "Seconds", "{doc}");
    assert_eq!(cw["Dimensions"][0], json!(["tier", "outcome"]), "{doc}");
    assert_eq!(
        (doc["tier"].as_str(), doc["outcome"].as_str()),
        (Some("postgres"), Some("allow"))
    );

    cut_off(&db).await;
    assert_eq!(validate(&api, "+93790000012").await, 503);
    let unavailable = "numbering_validate_lease_unavailable_total";
    eventually(
        Duration::from_secs(10),
        "an EMF document of the UNAVAILABLE count",
        || async { !emf(&lambda, unavailable).is_empty() },
    )
    .await;
    let doc = &emf(&lambda, unavailable)[0];
    assert_eq!(doc[unavailable], 1, "{doc}");
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Count"
    );
}
