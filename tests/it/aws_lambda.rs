//! The Lambdas as the production AWS shape runs them (under the Lambda
//! Runtime API emulation, against moto):
//!
//! - the database login comes from Secrets Manager, read once at init
//!   (`DATABASE_URL_SECRET_ARN`), into a `DATABASE_URL` that carries none;
//! - an import whose file is refused fails its invocation (an error posted
//!   to the Runtime API), which is what sends an asynchronous invocation to
//!   its on-failure destination once Lambda's retries are spent.

use std::time::Duration;

use numbering_tests::{
    TestDb,
    hot_path::TestMoto,
    imports::{MnoKey, roshan_file},
    lambda_runtime::{LambdaProcess, RuntimeApi, scheduled_event},
    workspace_bin,
};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(120);

/// moto's endpoint and fake credentials, as the SDK reads them.
fn aws_env(moto: &TestMoto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// The sweeper Lambda with `env` (and no `SET ROLE`), on its own Runtime API.
fn sweeper(api: &RuntimeApi, env: &[(&str, String)]) -> LambdaProcess {
    let mut vars = vec![("NUMBERING_DB_ROLE", "-".to_owned())];
    vars.extend_from_slice(env);
    LambdaProcess::spawn(&workspace_bin("lifecycle-sweeper"), api, &vars)
}

/// The init error it reported before exiting.
fn init_error(api: &RuntimeApi, lambda: &mut LambdaProcess) -> String {
    let status = tokio::task::block_in_place(|| lambda.wait_exit(WITHIN));
    assert!(
        status.is_some_and(|s| !s.success()),
        "{:#?}",
        lambda.lines()
    );
    let reported = api.init_errors();
    assert_eq!(reported.len(), 1, "{reported:?}");
    reported[0].1["errorMessage"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_reads_its_database_login_from_secrets_manager_once_at_init() {
    let moto = TestMoto::start();
    let db = TestDb::new().await;
    // the URL names a login that does not exist: only the secret's works
    let nobody = db.owner_url.replacen("://postgres@", "://nobody@", 1);
    assert_ne!(
        nobody, db.owner_url,
        "the test database's login is postgres"
    );
    let sdk = numbering_clients::aws::sdk_config_for_endpoint(&moto.endpoint()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let login =
        json!({ "engine": "postgres", "username": "postgres", "password": "unused by trust auth" });
    let created = secrets
        .create_secret()
        .name("numbering-ci/database")
        .secret_string(login.to_string())
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_owned();

    let mut env = aws_env(&moto);
    env.extend([
        ("DATABASE_URL", nobody.clone()),
        ("DATABASE_URL_SECRET_ARN", arn.clone()),
    ]);
    let api = RuntimeApi::start().await;
    let lambda = sweeper(&api, &env);
    let event = scheduled_event("numbering-lifecycle-sweeper", "2026-11-26T07:15:00Z");
    let report = api.invoke(event, WITHIN).await.unwrap();
    assert_eq!(report["ran"], true, "{report}");
    assert!(
        !lambda.logged("connected to Postgres").is_empty(),
        "{:#?}",
        lambda.lines()
    );
    // the secret's value is in no log line
    assert!(
        !lambda
            .lines()
            .iter()
            .any(|l| l.contains("unused by trust auth")),
        "{:#?}",
        lambda.lines()
    );
    drop(lambda);

    // without the secret, the URL alone does not connect
    let api = RuntimeApi::start().await;
    let mut lambda = sweeper(&api, &[("DATABASE_URL", nobody.clone())]);
    let message = init_error(&api, &mut lambda);
    assert!(message.contains("nobody"), "{message}");

    // a secret that cannot be read is an init error that names it
    let missing = arn.replace("database", "missing");
    env.retain(|(k, _)| *k != "DATABASE_URL_SECRET_ARN");
    env.push(("DATABASE_URL_SECRET_ARN", missing.clone()));
    let api = RuntimeApi::start().await;
    let mut lambda = sweeper(&api, &env);
    let message = init_error(&api, &mut lambda);
    assert!(
        message.starts_with(&format!("reading DATABASE_URL_SECRET_ARN={missing}")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_file_is_refused_fails_its_invocation_for_the_failure_destination() {
    let moto = TestMoto::start();
    let s3 = moto.s3().await;
    let db = TestDb::new().await;
    MnoKey::ed25519("roshan-2026")
        .install(&db, Some("roshan"))
        .await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/s3/object-created.json"
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let bucket = event["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap();
    let object = "incoming/roshan 2026-11.csv";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    // signed, but by a key the operator never installed
    let file = roshan_file(0, 300, "ROSHAN-2026-001");
    let forged = MnoKey::ed25519("roshan-2026").sign(&file);
    for (name, bytes) in [(format!("{object}.sig"), forged), (object.into(), file)] {
        let put = s3.put_object().bucket(bucket).key(name).body(bytes.into());
        put.send().await.unwrap();
    }
    let api = RuntimeApi::start().await;
    let mut env = aws_env(&moto);
    env.push(("DATABASE_URL", db.owner_url.clone()));
    let lambda = LambdaProcess::spawn(&workspace_bin("import-s3"), &api, &env);
    let failed = api
        .invoke(event, WITHIN)
        .await
        .expect_err("a refused file fails the invocation");
    let message = failed["errorMessage"].as_str().unwrap_or_default();
    assert!(message.starts_with("import refused: "), "{failed}");
    let refused: Value = serde_json::from_str(&message["import refused: ".len()..]).unwrap();
    assert_eq!(refused[0]["outcome"], "refused", "{refused}");
    assert_eq!(refused[0]["key"], object, "{refused}");
    assert!(refused[0]["code"].is_string(), "{refused}");
    assert_eq!(db.count("numbering.numbers").await, 0);
    assert!(lambda.non_json_lines().is_empty(), "{:#?}", lambda.lines());
}
