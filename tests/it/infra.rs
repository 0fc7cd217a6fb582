//! The Terraform of `infra/terraform`, checked by the `terraform` binary:
//! formatted, valid, planned in full with nothing but local files (the
//! AWS provider from a local plugin mirror, fake credentials, no refresh),
//! every Lambda it deploys a binary the workspace builds, and every
//! environment variable it sets one the code reads.
//!
//! This machine has no registry access for providers, so the test needs
//! `terraform` on the PATH and the AWS provider in a filesystem mirror
//! (`NUMBERING_TF_PLUGIN_MIRROR`, default `/opt/tf-plugins`). Without them
//! it says so and checks nothing.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The provider mirror, if this machine has terraform and the AWS provider.
pub(crate) fn terraform_and_mirror() -> Option<PathBuf> {
    let mirror = std::env::var("NUMBERING_TF_PLUGIN_MIRROR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/opt/tf-plugins"));
    let has_terraform = Command::new("terraform")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_aws = mirror.join("registry.terraform.io/hashicorp/aws").is_dir();
    if has_terraform && has_aws {
        Some(mirror)
    } else {
        eprintln!(
            "skipped: needs `terraform` on the PATH ({}) and the AWS provider under {} \
             (NUMBERING_TF_PLUGIN_MIRROR)",
            if has_terraform { "found" } else { "missing" },
            mirror.display()
        );
        None
    }
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn terraform(dir: &Path, cli_config: &Path, args: &[&str]) -> Output {
    terraform_with_input(dir, cli_config, args, "")
}

/// `terraform args…` in `dir`, with `input` on its standard input.
fn terraform_with_input(dir: &Path, cli_config: &Path, args: &[&str], input: &str) -> Output {
    use std::{io::Write, process::Stdio};
    let mut child = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", cli_config)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run terraform");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write terraform's input");
    child.wait_with_output().expect("wait for terraform")
}

pub(crate) fn ok(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "terraform {what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `[[bin]]` names of the function crates: what `cargo lambda build`
/// leaves under `target/lambda/<name>/bootstrap.zip`.
fn function_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("functions"))
        .unwrap()
        .flatten()
    {
        let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
            continue;
        };
        let mut in_bin = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if let Some(name) = line.strip_prefix("name = ").filter(|_| in_bin) {
                bins.insert(name.trim_matches('"').to_owned());
            }
        }
    }
    bins
}

/// Every `.rs` file of the shipped crates, concatenated.
pub(crate) fn shipped_source() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut source = String::new();
    for krate in ["functions", "crates", "host", "store", "shared"] {
        walk(&repo().join(krate), &mut source);
    }
    source
}

/// The planned resources of `ty` (their `after` values).
pub(crate) fn planned<'a>(plan: &'a serde_json::Value, ty: &str) -> Vec<&'a serde_json::Value> {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == ty)
        .map(|r| &r["change"]["after"])
        .collect()
}

/// The events that invoke the Lambdas are planned, each with the permission
/// that lets its source invoke: the imports bucket notifies `import-s3` of
/// every new object, and EventBridge runs `lifecycle-sweeper` every minute
/// and `export-scheduled` monthly. Without them the functions deploy and
/// never run.
pub(crate) fn assert_event_triggers(plan: &serde_json::Value) {
    let invokable_by = |function: &str, principal: &str| {
        planned(plan, "aws_lambda_permission").iter().any(|p| {
            p["principal"] == principal
                && p["action"] == "lambda:InvokeFunction"
                && p["function_name"]
                    .as_str()
                    .is_some_and(|f| f.ends_with(&format!("-{function}")))
        })
    };
    // the bucket notification: every ObjectCreated of the imports bucket → import-s3
    let notifies_import = plan["configuration"]["root_module"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "aws_s3_bucket_notification")
        .any(|r| {
            let e = &r["expressions"];
            let refs = |v: &serde_json::Value| v["references"].to_string();
            refs(&e["bucket"]).contains("aws_s3_bucket.imports")
                && e["lambda_function"].as_array().is_some_and(|fs| {
                    fs.iter().any(|f| {
                        refs(&f["lambda_function_arn"])
                            .contains(r#"aws_lambda_function.function[\"import-s3\"]"#)
                            && f["events"]["constant_value"]
                                == serde_json::json!(["s3:ObjectCreated:*"])
                    })
                })
        });
    assert!(
        notifies_import,
        "the imports bucket notifies import-s3 of ObjectCreated"
    );
    assert!(
        invokable_by("import-s3", "s3.amazonaws.com"),
        "S3 may invoke import-s3"
    );
    // the EventBridge schedules, each a rule, a target and a permission
    for (function, expression) in [
        ("lifecycle-sweeper", "rate(1 minute)"),
        ("export-scheduled", "cron(0 1 1 * ? *)"),
    ] {
        let rule = planned(plan, "aws_cloudwatch_event_rule")
            .into_iter()
            .find(|r| {
                r["schedule_expression"] == expression
                    && r["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(&format!("-{function}")))
            })
            .unwrap_or_else(|| panic!("{function} is scheduled {expression}"));
        let targeted = plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| {
                t["type"] == "aws_cloudwatch_event_target"
                    && t["index"] == function
                    && t["change"]["after"]["rule"] == rule["name"]
            });
        assert!(targeted, "the {function} schedule targets {function}");
        assert!(
            invokable_by(function, "events.amazonaws.com"),
            "EventBridge may invoke {function}"
        );
    }
}

/// A copy of `infra/terraform` in a scratch directory, initialised against
/// the provider mirror, with the offline provider override (fake
/// credentials, no account look-up, as an operator's override file would
/// be) and a zip for every function binary of the workspace and nothing
/// else, so that a Lambda whose artifact the build does not make fails the
/// plan. Removed when dropped.
pub(crate) struct TfWork {
    scratch: Scratch,
    pub(crate) dir: PathBuf,
    cli_config: PathBuf,
}

impl TfWork {
    /// `None` (and a note why) without terraform and the provider mirror.
    pub(crate) fn new() -> Option<Self> {
        let mirror = terraform_and_mirror()?;
        let scratch = Scratch(
            std::env::temp_dir().join(format!("numbering-tf-{}", uuid::Uuid::new_v4().simple())),
        );
        let dir = scratch.0.join("terraform");
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(repo().join("infra/terraform"))
            .unwrap()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "tf") {
                std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
            }
        }
        let cli_config = scratch.0.join("terraformrc");
        std::fs::write(
            &cli_config,
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = {:?}\n  }}\n}}\n",
                mirror.display().to_string()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("offline_override.tf"),
            "provider \"aws\" {\n  access_key = \"test\"\n  secret_key = \"test\"\n  \
             skip_credentials_validation = true\n  skip_requesting_account_id = true\n  \
             skip_metadata_api_check = true\n}\n",
        )
        .unwrap();
        let artifacts = scratch.0.join("lambda");
        for bin in function_binaries() {
            std::fs::create_dir_all(artifacts.join(&bin)).unwrap();
            std::fs::write(artifacts.join(&bin).join("bootstrap.zip"), bin.as_bytes()).unwrap();
        }
        let work = Self {
            scratch,
            dir,
            cli_config,
        };
        ok(
            "init",
            &work.run(&["init", "-backend=false", "-input=false", "-no-color"]),
        );
        Some(work)
    }

    /// `terraform args…` in the copy.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        terraform(&self.dir, &self.cli_config, args)
    }

    /// Variables for a full plan of a CI environment (placeholders for the
    /// platform's inputs).
    pub(crate) fn ci_vars(&self) -> serde_json::Value {
        serde_json::json!({
            "environment": "ci",
            "account_id": "000000000000",
            "lambda_artifacts_dir": self.scratch.0.join("lambda"),
            "vpc_id": "vpc-00000000000000001",
            "subnet_ids": ["subnet-00000000000000001"],
            "route_table_ids": ["rtb-00000000000000001"],
            "db_host": "db.internal",
            "db_security_group_id": "sg-00000000000000009",
            "db_instance_identifier": "numbering-ci",
            "db_password": "ci-password",
            "nats_url": "nats://nats.internal:4222",
            "internal_egress": {
                "nats": { "port": 4222, "cidr_blocks": ["10.0.8.0/24"] },
                "services": { "port": 50051, "cidr_blocks": ["10.0.9.0/24", "10.0.10.0/24"] }
            },
            "jwt_issuer": "https://id.example",
            "jwks_url": "https://id.example/.well-known/jwks.json",
            "billing_url": "http://billing.internal:50051",
            "sender_id_registry_url": "http://sender-ids.internal:50051",
            "container_image": "registry.example/numbering:ci",
            "adot_collector_image": "registry.example/aws-otel-collector:ci",
            "ecs_cluster_arn": "arn:aws:ecs:eu-central-1:000000000000:cluster/ci",
        })
    }

    /// A full plan with `vars` (written as `ci.tfvars.json`), offline (no
    /// refresh), as `terraform show -json` prints it; the JSON's text too.
    pub(crate) fn plan(&self, vars: &serde_json::Value) -> (serde_json::Value, String) {
        std::fs::write(self.dir.join("ci.tfvars.json"), vars.to_string()).unwrap();
        ok(
            "plan",
            &self.run(&[
                "plan",
                "-refresh=false",
                "-lock=false",
                "-input=false",
                "-no-color",
                "-var-file=ci.tfvars.json",
                "-out=ci.plan",
            ]),
        );
        let text = ok("show", &self.run(&["show", "-json", "ci.plan"]));
        (serde_json::from_str(&text).unwrap(), text)
    }

    /// The strings `expression` lists, under the last plan's variables.
    pub(crate) fn console(&self, expression: &str) -> Vec<String> {
        let out = ok(
            "console",
            &terraform_with_input(
                &self.dir,
                &self.cli_config,
                &["console", "-var-file=ci.tfvars.json"],
                &format!("jsonencode({expression})\n"),
            ),
        );
        // the console prints the JSON as an HCL string literal
        let literal: String = serde_json::from_str(out.trim()).unwrap();
        serde_json::from_str(&literal).unwrap()
    }

    /// Replaces `from` (which must be there) with `to` in `file` of the copy.
    pub(crate) fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }
}

#[test]
fn the_terraform_is_formatted_valid_and_plans_what_the_workspace_builds() {
    let Some(work) = TfWork::new() else {
        return;
    };
    // formatted as committed
    let fmt = terraform(
        &repo().join("infra/terraform"),
        &work.cli_config,
        &["fmt", "-check", "-diff", "-no-color"],
    );
    ok("fmt -check (run `terraform fmt` in infra/terraform)", &fmt);
    ok("validate", &work.run(&["validate", "-no-color"]));

    let (plan, _) = work.plan(&work.ci_vars());
    let binaries = function_binaries();
    assert!(binaries.contains("validate-lease"), "{binaries:?}");
    let lambdas: BTreeSet<String> = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "aws_lambda_function")
        .filter_map(|r| r["index"].as_str().map(str::to_owned))
        .collect();
    assert!(
        lambdas.len() >= 6,
        "the plan creates the Lambdas: {lambdas:?}"
    );
    assert!(lambdas.is_subset(&binaries), "{lambdas:?} ⊄ {binaries:?}");
    assert_event_triggers(&plan);

    // every environment variable the deployment sets (and every secret the
    // worker's task injects) is read by the code: a misspelt or stale name
    // would be silently ignored at run time (the OTEL_* ones included:
    // `numbering_clients::traces` reads them).
    let mut names: BTreeSet<String> = work.console("keys(local.worker_env)").into_iter().collect();
    names.extend(work.console("keys(local.worker_secrets)"));
    names
        .extend(work.console("distinct(flatten([for e in values(local.function_env) : keys(e)]))"));
    assert!(names.contains("NUMBERING_AUDIT_ARCHIVE_URI"), "{names:?}");
    assert!(names.contains("DATABASE_URL_SECRET_ARN"), "{names:?}");
    let source = shipped_source();
    let unread: Vec<&String> = names
        .iter()
        .filter(|n| !source.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        unread.is_empty(),
        "set by Terraform, read by nothing: {unread:?}"
    );
}
