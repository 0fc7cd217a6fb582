//! The AWS edition's production shape, read from full offline plans of
//! `infra/terraform` (see `infra.rs`: terraform and the AWS provider from a
//! local mirror, else skipped) and from checkov (PyPI; `./dev setup`
//! installs it, else skipped):
//!
//! - no secret value in `terraform show -json` of a plan made with a
//!   recognisable database password;
//! - checkov finds nothing but the inline skips, each with its reason;
//! - every asynchronous trigger (S3 → import-s3, the two schedules) has its
//!   failure destination, and the alarms are planned into the SNS topic.
//!
//! Each check is shown to fail on a mutated copy of the Terraform.

use std::{
    collections::BTreeSet,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::infra::{TfWork, planned, repo};

/// Recognisable, and found nowhere else.
const PASSWORD: &str = "numbering-TEST-pw-7Qx9zKpV2";

/// The password, as it is or in the encodings a plan could carry it in.
fn leaks(text: &str) -> bool {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    text.contains(PASSWORD) || text.contains(&b64)
}

#[test]
fn no_secret_value_is_in_the_plan_made_with_a_known_password() {
    let Some(work) = TfWork::new() else {
        return;
    };
    let mut vars = work.ci_vars();
    vars["db_password"] = PASSWORD.into();
    let (plan, text) = work.plan(&vars);
    assert!(
        !leaks(&text),
        "the database password is in `terraform show -json`"
    );
    // the secret is planned, written write-only
    let version = planned(&plan, "aws_secretsmanager_secret_version");
    assert_eq!(version.len(), 1, "the secret's value is planned");
    // the Lambdas and the worker name the secret, not its value
    let function_env =
        work.console("distinct(flatten([for e in values(local.function_env) : keys(e)]))");
    assert!(function_env.contains(&"DATABASE_URL_SECRET_ARN".to_owned()));
    let secrets = work.console("keys(local.worker_secrets)");
    assert_eq!(secrets, ["DATABASE_CREDENTIALS"]);
    let environment = work.console("keys(local.worker_env)");
    assert!(!environment.contains(&"DATABASE_CREDENTIALS".to_owned()));

    // the check can fail: the same password as a plain (sensitive, not
    // ephemeral) variable written to `secret_string` is in the plan
    let Some(leaky) = TfWork::new() else {
        return;
    };
    leaky.edit("variables.tf", "  ephemeral   = true\n", "");
    leaky.edit("database.tf", "secret_string_wo =", "secret_string =");
    leaky.edit(
        "database.tf",
        "  secret_string_wo_version = var.db_password_version\n",
        "",
    );
    let (_, text) = leaky.plan(&vars);
    assert!(leaks(&text), "a plain secret_string shows in the plan");
}

// ----- checkov ---------------------------------------------------------------

/// checkov: `NUMBERING_CHECKOV`, the venv `./dev setup` makes, or the PATH.
fn checkov() -> Option<PathBuf> {
    let candidates = [
        std::env::var("NUMBERING_CHECKOV").ok().map(PathBuf::from),
        Some(PathBuf::from("/opt/checkov-venv/bin/checkov")),
        Some(PathBuf::from("checkov")),
    ];
    let found = candidates.into_iter().flatten().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        eprintln!("skipped: needs checkov (`./dev setup` installs it into /opt/checkov-venv)");
    }
    found
}

/// The `.tf` files of `infra/terraform`, copied into a scratch directory.
fn terraform_copy() -> tempdir::Dir {
    let dir = tempdir::Dir::new("numbering-checkov");
    for entry in std::fs::read_dir(repo().join("infra/terraform"))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "tf") {
            std::fs::copy(entry.path(), dir.0.join(entry.file_name())).unwrap();
        }
    }
    dir
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(prefix: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// checkov's JSON report of the Terraform in `dir` (offline: nothing is
/// downloaded, no platform key).
fn run_checkov(checkov: &Path, dir: &Path) -> Value {
    let out = Command::new(checkov)
        .args(["--directory", ".", "--framework", "terraform"])
        .args(["--output", "json", "--skip-download"])
        .current_dir(dir)
        .env_remove("BC_API_KEY")
        .env("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
        .output()
        .expect("run checkov");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `CKV…` ids of the failed checks, with their resources.
fn failed(report: &Value) -> Vec<String> {
    report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {} ({})", c["check_id"], c["resource"], c["file_path"]))
        .collect()
}

/// The inline skips of the `.tf` files in `dir`: (check id, reason).
fn inline_skips(dir: &Path) -> Vec<(String, String)> {
    let mut skips = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some((_, skip)) = line.split_once("checkov:skip=") {
                let (id, reason) = skip.split_once(':').unwrap_or((skip, ""));
                skips.push((id.trim().to_owned(), reason.trim().to_owned()));
            }
        }
    }
    skips
}

#[test]
fn checkov_finds_nothing_but_the_inline_skips_each_with_its_reason() {
    let Some(checkov) = checkov() else {
        return;
    };
    let copy = terraform_copy();
    let report = run_checkov(&checkov, &copy.0);
    assert!(
        report["summary"]["passed"].as_u64().unwrap_or(0) > 100,
        "checkov ran its checks: {}",
        report["summary"]
    );
    assert_eq!(failed(&report), Vec::<String>::new(), "checkov findings");
    let skips = inline_skips(&copy.0);
    let unexplained: Vec<_> = skips.iter().filter(|(_, why)| why.len() < 20).collect();
    assert!(
        unexplained.is_empty(),
        "skips without a reason: {unexplained:?}"
    );
    let commented: BTreeSet<&str> = skips.iter().map(|(id, _)| id.as_str()).collect();
    for skipped in report["results"]["skipped_checks"].as_array().unwrap() {
        let id = skipped["check_id"].as_str().unwrap();
        assert!(
            commented.contains(id)
                && skipped["check_result"]["suppress_comment"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty()),
            "{id} on {} is skipped without an inline reason",
            skipped["resource"]
        );
    }

    // the check can fail: without the lease cache's justified skip, checkov
    // reports the point-in-time recovery it is not given
    std::fs::write(
        copy.0.join("dynamodb.tf"),
        std::fs::read_to_string(copy.0.join("dynamodb.tf"))
            .unwrap()
            .lines()
            .filter(|l| !l.contains("checkov:skip=CKV_AWS_28"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let report = run_checkov(&checkov, &copy.0);
    let failed = failed(&report);
    assert!(
        failed.iter().any(|f| f.contains("CKV_AWS_28")),
        "{failed:?}"
    );
}

// ----- failures that land somewhere, and the alarms ----------------------------

/// The asynchronously invoked functions: S3 → import-s3, and the schedules.
const ASYNC: [&str; 3] = ["import-s3", "lifecycle-sweeper", "export-scheduled"];
const SCHEDULED: [&str; 2] = ["lifecycle-sweeper", "export-scheduled"];

/// The planned change of `address`.
fn change<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .map(|r| &r["change"])
        .unwrap_or_else(|| panic!("{address} is planned"))
}

/// The references of `path` (JSON pointer into the expressions) of the
/// configured resource `address` (without its index).
fn references(plan: &Value, address: &str, path: &str) -> String {
    let resource = plan["configuration"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} is configured"));
    resource["expressions"]
        .pointer(path)
        .map(|e| e["references"].to_string())
        .unwrap_or_default()
}

/// Each asynchronous invocation that fails for good lands in its own SQS
/// queue (the Lambda on-failure destination; for the schedules also the
/// EventBridge target's dead-letter queue); the alarms watch the functions,
/// the queues and ValidateLease's UNAVAILABLE, into the SNS topic.
fn assert_failures_land_somewhere(plan: &Value) {
    let name = |f: &str| format!("numbering-ci-{f}");
    for f in ASYNC {
        let queue = change(plan, &format!("aws_sqs_queue.failures[\"{f}\"]"));
        assert_eq!(queue["after"]["name"], format!("{}-failures", name(f)));
        let invoke = change(
            plan,
            &format!("aws_lambda_function_event_invoke_config.async[\"{f}\"]"),
        );
        assert_eq!(invoke["after"]["function_name"], name(f), "{f}");
        assert_eq!(
            invoke["after_unknown"]["destination_config"][0]["on_failure"][0]["destination"], true,
            "{f} has an on-failure destination"
        );
    }
    assert!(
        references(
            plan,
            "aws_lambda_function_event_invoke_config.async",
            "/destination_config/0/on_failure/0/destination"
        )
        .contains("aws_sqs_queue.failures"),
        "the on-failure destinations are the failure queues"
    );
    for f in SCHEDULED {
        let target = change(
            plan,
            &format!("aws_cloudwatch_event_target.schedule[\"{f}\"]"),
        );
        assert_eq!(
            target["after_unknown"]["dead_letter_config"][0]["arn"], true,
            "the {f} schedule has a dead-letter queue"
        );
    }
    assert!(
        references(
            plan,
            "aws_cloudwatch_event_target.schedule",
            "/dead_letter_config/0/arn"
        )
        .contains("aws_sqs_queue.failures")
    );
    assert_alarms(plan);
}

fn assert_alarms(plan: &Value) {
    let alarms = planned(plan, "aws_cloudwatch_metric_alarm");
    let alarm = |namespace: &str, metric: &str, dimension: Option<(&str, String)>| {
        alarms.iter().any(|a| {
            a["namespace"] == namespace
                && a["metric_name"] == metric
                && dimension
                    .as_ref()
                    .is_none_or(|(k, v)| a["dimensions"][*k] == v.as_str())
        })
    };
    for f in numbering_tests::lambda_runtime::LAMBDAS {
        for metric in ["Errors", "Throttles"] {
            let function = Some(("FunctionName", format!("numbering-ci-{f}")));
            assert!(alarm("AWS/Lambda", metric, function), "{f}: {metric} alarm");
        }
    }
    for f in ASYNC {
        let queue = Some(("QueueName", format!("numbering-ci-{f}-failures")));
        let depth = "ApproximateNumberOfMessagesVisible";
        assert!(alarm("AWS/SQS", depth, queue), "{f}: failure queue alarm");
    }
    assert!(
        alarm(
            "Numbering",
            "numbering_validate_lease_unavailable_total",
            None
        ),
        "the ValidateLease UNAVAILABLE alarm"
    );
    assert_eq!(planned(plan, "aws_sns_topic").len(), 1, "the alarm topic");
    for a in plan["resource_changes"].as_array().unwrap() {
        if a["type"] == "aws_cloudwatch_metric_alarm" {
            // the topic's ARN, known after apply
            let actions = &a["change"]["after_unknown"]["alarm_actions"];
            assert!(
                *actions == serde_json::json!(true) || *actions == serde_json::json!([true]),
                "{} notifies the topic",
                a["address"]
            );
        }
    }
}

#[test]
fn every_asynchronous_trigger_has_its_failure_destination_and_the_alarms_are_planned() {
    let Some(work) = TfWork::new() else {
        return;
    };
    let (plan, _) = work.plan(&work.ci_vars());
    crate::infra::assert_event_triggers(&plan);
    assert_failures_land_somewhere(&plan);

    // the check can fail: each of these removals is caught
    let removals: [(&str, &str, &str); 5] = [
        // import-s3 no longer asynchronous: no queue, no destination
        (
            "lambda.tf",
            "concurrency = 2\n      pool        = 2\n      async       = true",
            "concurrency = 2\n      pool        = 2\n      async       = false",
        ),
        (
            "failures.tf",
            "  destination_config {\n    on_failure {\n      destination = aws_sqs_queue.failures[each.key].arn\n    }\n  }\n",
            "",
        ),
        (
            "schedules.tf",
            "  dead_letter_config {\n    arn = aws_sqs_queue.failures[each.key].arn\n  }\n",
            "",
        ),
        (
            "alarms.tf",
            "numbering_validate_lease_unavailable_total",
            "numbering_validate_unavailable",
        ),
        (
            "alarms.tf",
            "  alarm_actions       = local.alarm_actions\n",
            "",
        ),
    ];
    for (file, from, to) in removals {
        let Some(mutated) = TfWork::new() else {
            return;
        };
        mutated.edit(file, from, to);
        let (plan, _) = mutated.plan(&mutated.ci_vars());
        let caught = catch_unwind(AssertUnwindSafe(|| {
            crate::infra::assert_event_triggers(&plan);
            assert_failures_land_somewhere(&plan);
        }));
        assert!(
            caught.is_err(),
            "removing {from:?} from {file} went unnoticed"
        );
    }
}
