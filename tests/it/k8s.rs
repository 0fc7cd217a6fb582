//! `infra/k8s`, checked without a cluster: both overlays render with
//! `kubectl kustomize`, every object validates against the Kubernetes
//! schemas (`kubernetes-validate --strict`), the invariants of issue 17 hold
//! in both regions ([`checks`]), a copy of the base without its
//! NetworkPolicy, its CronJob or a probe fails those checks, and the
//! Deployment's own environment, with secrets and service names swapped for
//! loopback services, boots the host to ready.

mod boot;
mod checks;
mod render;

use std::{collections::BTreeSet, path::Path};

use render::{KUBERNETES_VERSIONS, documents, kustomize, overlay, repo, validate};

const REGIONS: [&str; 2] = ["kbl", "mzr"];

/// The UID the image runs as (`USER` in the Dockerfile's last stage).
fn image_uid() -> u64 {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("USER "))
        .expect("the image names its USER");
    user.split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!("the image's USER is numeric (a UID Kubernetes can check): {user}")
        })
}

#[test]
fn both_overlays_render_and_every_object_validates_strictly_against_the_kubernetes_schemas() {
    for region in REGIONS {
        let yaml = kustomize(&repo().join("infra/k8s/overlays").join(region))
            .unwrap_or_else(|e| panic!("overlays/{region} renders: {e}"));
        let kinds: BTreeSet<String> = documents(&yaml)
            .iter()
            .map(|d| d["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        for kind in ["Deployment", "Service", "NetworkPolicy", "CronJob", "Job"] {
            assert!(kinds.contains(kind), "{region} renders a {kind}: {kinds:?}");
        }
        for version in KUBERNETES_VERSIONS {
            let failures = validate(&yaml, version);
            assert!(
                failures.is_empty(),
                "{region} against Kubernetes {version}: {failures:#?}"
            );
        }
    }
}

#[test]
fn a_misspelt_field_fails_the_schema_validation() {
    // the validator is strict: an unknown field is an error, not a warning
    let yaml = kustomize(&repo().join("infra/k8s/overlays/kbl")).unwrap();
    let broken = yaml.replacen("readinessProbe:", "readynessProbe:", 1);
    assert_ne!(broken, yaml);
    assert!(!validate(&broken, KUBERNETES_VERSIONS[1]).is_empty());
}

#[test]
fn the_invariants_hold_in_both_regions() {
    for region in REGIONS {
        let docs = overlay(&repo().join("infra/k8s"), region);
        let violations = checks::violations(&docs, image_uid());
        assert!(violations.is_empty(), "{region}: {violations:#?}");
        let r = checks::Region { docs: &docs };
        let pod = r.pod("Deployment", "numbering").unwrap();
        assert_eq!(
            r.literal(pod, "NUMBERING_REGION").as_deref(),
            Some(region),
            "the overlay names its region"
        );
    }
}

/// What a pod in a cluster must be given, because the default is for a
/// developer's machine: an embedded Postgres or NATS, a loopback listener,
/// demo data, a key or export store under a throwaway data directory, an
/// in-process export schedule beside the CronJob.
const REQUIRED: [&str; 15] = [
    "DATABASE_URL",
    "NATS_URL",
    "NUMBERING_REGION",
    "NUMBERING_LISTEN",
    "NUMBERING_DEMO_DATA",
    "NUMBERING_DATA_DIR",
    "NUMBERING_EXPORT_STORE",
    "NUMBERING_EXPORT_SIGNER",
    "NUMBERING_EXPORT_SCHEDULE_ENABLED",
    "NUMBERING_GRPC_TLS_LISTEN",
    "NUMBERING_OPS_LISTEN",
    "NUMBERING_JWT_ISSUER",
    "NUMBERING_JWT_AUDIENCE",
    "NUMBERING_BILLING_URL",
    "NUMBERING_SENDER_ID_REGISTRY_URL",
];

#[test]
fn every_variable_the_pods_get_is_read_by_the_code_and_every_required_one_is_given() {
    let source = crate::infra::shipped_source();
    for region in REGIONS {
        let docs = overlay(&repo().join("infra/k8s"), region);
        let r = checks::Region { docs: &docs };
        for (kind, name) in [
            ("Deployment", "numbering"),
            ("Job", "numbering-migrate"),
            ("CronJob", "numbering-export"),
        ] {
            let env = r.env(r.pod(kind, name).unwrap());
            let unread: Vec<&String> = env
                .keys()
                .filter(|n| !source.contains(&format!("\"{n}\"")))
                .collect();
            assert!(
                unread.is_empty(),
                "{region} {kind} {name}: set, read by nothing: {unread:?}"
            );
            // the code's own requirements (e.g. the vault signer's VAULT_TOKEN)
            let placeholders = boot::placeholders(&env);
            numbering::config::Config::from_lookup(|k| placeholders.get(k).cloned())
                .unwrap_or_else(|e| panic!("{region} {kind} {name}: {e:#}"));
        }
        let env = r.env(r.pod("Deployment", "numbering").unwrap());
        let missing: Vec<&str> = REQUIRED
            .into_iter()
            .filter(|n| !env.contains_key(*n))
            .collect();
        assert!(missing.is_empty(), "{region}: not given {missing:?}");
        let jwks = [
            "NUMBERING_JWT_JWKS",
            "NUMBERING_JWT_JWKS_FILE",
            "NUMBERING_JWT_JWKS_URL",
        ];
        assert!(
            jwks.iter().any(|k| env.contains_key(*k)),
            "{region}: no key verifies tokens"
        );
    }
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "numbering-{what}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of `infra/k8s` with `edit` applied to one of its files.
fn mutated(file: &str, edit: impl Fn(&str) -> String) -> Scratch {
    let scratch = Scratch::new("k8s-mutant");
    copy_dir(&repo().join("infra/k8s"), &scratch.0);
    let path = scratch.0.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = edit(&text);
    assert_ne!(changed, text, "the mutation of {file} changes it");
    std::fs::write(&path, changed).unwrap();
    scratch
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `text` without the lines from the one starting `start` up to (not
/// including) the next one starting `end`.
fn cut(text: &str, start: &str, end: &str) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.trim_start().starts_with(start) {
            skipping = true;
        } else if skipping && line.trim_start().starts_with(end) {
            skipping = false;
        }
        if !skipping {
            out.push(line);
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn removing_the_network_policy_the_cronjob_or_a_probe_from_the_base_fails_the_checks() {
    // the unmutated copy passes: what fails below is the mutation
    let control = Scratch::new("k8s-control");
    copy_dir(&repo().join("infra/k8s"), &control.0);
    assert!(checks::violations(&overlay(&control.0, "kbl"), image_uid()).is_empty());

    let no_resource = |name: &'static str| move |t: &str| t.replace(&format!("  - {name}\n"), "");
    let mutants = [
        (
            "the NetworkPolicies",
            mutated("base/kustomization.yaml", no_resource("networkpolicy.yaml")),
            "NetworkPolicy",
        ),
        (
            "the default-deny NetworkPolicy",
            mutated("base/networkpolicy.yaml", |t| {
                t.replacen(
                    "kind: NetworkPolicy\nmetadata:\n  name: numbering-default-deny",
                    "kind: ConfigMap\nmetadata:\n  name: numbering-default-deny",
                    1,
                )
            }),
            "default-deny",
        ),
        (
            "a caller's NetworkPolicy peer",
            mutated("overlays/kbl/networkpolicy.yaml", |t| {
                // the first peer: sms-orchestrator's namespace and pod labels
                let lines: Vec<&str> = t.lines().collect();
                let at = lines
                    .iter()
                    .position(|l| l.contains("- namespaceSelector:"))
                    .unwrap();
                assert!(lines[at + 5].contains("sms-orchestrator"));
                [&lines[..at], &lines[at + 6..]].concat().join("\n") + "\n"
            }),
            "six callers",
        ),
        (
            "the export CronJob",
            mutated(
                "base/kustomization.yaml",
                no_resource("export-cronjob.yaml"),
            ),
            "CronJob",
        ),
        (
            "the readiness probe",
            mutated("base/deployment.yaml", |t| {
                cut(t, "readinessProbe:", "livenessProbe:")
            }),
            "readinessProbe",
        ),
        (
            "the liveness probe",
            mutated("base/deployment.yaml", |t| {
                cut(t, "livenessProbe:", "lifecycle:")
            }),
            "livenessProbe",
        ),
    ];
    for (what, copy, expected) in mutants {
        // a removed NetworkPolicy leaves an overlay patch with no target:
        // kustomize refuses it, which fails the suite as surely
        let violations = match kustomize(&copy.0.join("overlays/kbl")) {
            Ok(yaml) => checks::violations(&documents(&yaml), image_uid()),
            Err(e) => vec![format!("does not render: {e}")],
        };
        assert!(
            violations
                .iter()
                .any(|v| v.contains(expected) || v.contains("does not render")),
            "without {what} the checks fail: {violations:#?}"
        );
    }
}

#[test]
fn the_image_runs_as_the_uid_the_manifests_declare_and_builds_its_dependencies_first() {
    let uid = image_uid();
    assert_eq!(uid, 10001);
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let cook = dockerfile
        .find("cargo chef cook")
        .expect("a dependencies layer");
    let sources = dockerfile.rfind("COPY . .").expect("the sources");
    assert!(
        cook < sources,
        "dependencies build before the sources are copied"
    );
    assert!(
        !dockerfile.contains("\nHEALTHCHECK"),
        "probes, not HEALTHCHECK"
    );
}

/// What the export CronJob runs: the previous month's export, once; a
/// second run (a retry, the other region's CronJob) finds it made.
#[tokio::test]
async fn the_cronjobs_command_makes_the_previous_months_export_once() {
    let db = numbering_tests::TestDb::new().await;
    let dir = Scratch::new("export-scheduled");
    let run = || {
        std::process::Command::new(numbering_tests::numbering_bin())
            .args(["export", "scheduled"])
            .env_clear()
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", &dir.0)
            .env("NUMBERING_EXPORT_STORE", dir.0.join("exports"))
            .env("NUMBERING_EXPORT_SCHEDULE_ENABLED", "false")
            .output()
            .unwrap()
    };
    let period = numbering_export::Period::previous(chrono::Utc::now()).to_string();
    let first = run();
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(said.contains("GENERATED"), "{said}");
    let second = run();
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already has an export"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let made = db
        .count(&format!(
            "numbering.regulator_exports WHERE period = '{period}' AND status = 'GENERATED'"
        ))
        .await;
    assert_eq!(made, 1);
}
