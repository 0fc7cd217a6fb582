//! Rendering `infra/k8s` with `kubectl kustomize` and validating it with
//! `kubernetes-validate`, both offline (`./dev setup` installs them).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The Kubernetes versions the manifests must be valid for: the oldest
/// supported (the native preStop `sleep` is on by default from 1.30) and
/// the newest the validator knows.
pub const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

fn require(tool: &str, args: &[&str]) {
    let found = Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: `./dev setup` installs it (kubectl: Debian package; \
         kubernetes-validate: PyPI)"
    );
}

/// The rendered YAML of the Kustomize directory `dir`.
pub fn kustomize(dir: &Path) -> Result<String, String> {
    require("kubectl", &["version", "--client"]);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("UTF-8 manifests"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The documents of a multi-document YAML stream, as JSON (PyYAML, which
/// kubernetes-validate brings).
pub fn documents(yaml: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML (installed with kubernetes-validate)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "YAML to JSON: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON documents")
}

/// An overlay rendered, parsed.
pub fn overlay(root: &Path, region: &str) -> Vec<Value> {
    let yaml = kustomize(&root.join("overlays").join(region))
        .unwrap_or_else(|e| panic!("overlays/{region} renders: {e}"));
    documents(&yaml)
}

/// `kubernetes-validate --strict` of `yaml` for `version`: the failures
/// (empty when every object validates).
pub fn validate(yaml: &str, version: &str) -> Vec<String> {
    require("kubernetes-validate", &["--version"]);
    let file = std::env::temp_dir().join(format!(
        "numbering-k8s-{}.yaml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn", "-k", version])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    let _ = std::fs::remove_file(&file);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let failures: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("ERROR") || l.contains("did not validate"))
        .map(str::to_owned)
        .collect();
    if !out.status.success() && failures.is_empty() {
        return vec![text];
    }
    failures
}
