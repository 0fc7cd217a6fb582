//! `infra/observability`: the Prometheus rules pass `promtool check rules`
//! and their unit tests (`promtool test rules`, among them an outbox stuck
//! for 10 minutes paging), and every metric the rules and the Grafana
//! dashboard use is one the service exports ([`assert_exported`], called
//! by the readiness test with the `/metrics` of a host that served traffic).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

fn observability() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .join("infra/observability")
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(observability().join("prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool ({e}): install it with ./dev setup (Debian: prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass_including_a_stuck_outbox_paging() {
    promtool(&["check", "rules", "rules.yml"]);
    let tests = std::fs::read_to_string(observability().join("prometheus/rules.test.yml")).unwrap();
    assert!(
        tests.contains("alertname: OutboxStuck"),
        "the stuck-outbox case is tested"
    );
    let out = promtool(&["test", "rules", "rules.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Metrics the rules or the dashboard use that a one-region host without
/// mTLS does not export, and why.
const CONDITIONAL: &[(&str, &str)] = &[
    (
        "numbering_grpc_calls_total",
        "exported per caller once the mTLS listener (NUMBERING_GRPC_TLS_LISTEN) serves a call",
    ),
    (
        "numbering_invalidation_delay_seconds_bucket",
        "exported once an invalidation from a relay arrives over NATS (regions_bus checks it)",
    ),
    (
        "numbering_replica_lag_seconds",
        "exported when DATABASE_REPLICA_URL names a standby",
    ),
];

/// Every series name (`numbering_…`, `process_…`) in `text`; recording
/// rules (`numbering:…`) are not metrics and do not match.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    for prefix in ["numbering_", "process_"] {
        for (i, _) in text.match_indices(prefix) {
            let before = i.checked_sub(1).map(|j| bytes[j] as char);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

/// The metric names the rules' and the dashboard's queries use.
pub(crate) fn used_metrics() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(observability().join("prometheus/rules.yml")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(observability().join("grafana/numbering.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = String::new();
    collect_exprs(&dashboard, &mut exprs);
    let mut used = metric_names(&rule_exprs(&rules));
    used.extend(metric_names(&exprs));
    used
}

/// The `expr:` values of a rules file (one line or an indented block),
/// without the annotations' prose.
fn rule_exprs(rules: &str) -> String {
    let mut out = String::new();
    let mut block: Option<usize> = None;
    for line in rules.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = block {
            if indent > at && !line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            block = None;
        }
        if let Some(expr) = line.trim_start().strip_prefix("expr:") {
            out.push_str(expr);
            out.push('\n');
            block = Some(indent);
        }
    }
    out
}

fn collect_exprs(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("expr", Some(e)) => {
                        out.push_str(e);
                        out.push('\n');
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// Every metric the rules and the dashboard use is in `exposition` (the
/// `/metrics` of a host that served traffic), but for [`CONDITIONAL`] ones
/// (whose names must be in the code that emits them) named in the code that emits them.
pub(crate) fn assert_exported(exposition: &str) {
    let exported: BTreeSet<&str> = exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let used = used_metrics();
    assert!(
        used.len() > 20,
        "the rules and the dashboard name metrics: {used:?}"
    );
    let conditional: BTreeSet<&str> = CONDITIONAL.iter().map(|(n, _)| *n).collect();
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .filter(|n| !conditional.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "used but not exported: {missing:?}\n{exposition}"
    );
    let mtls =
        std::fs::read_to_string(observability().join("../../functions/validate-lease/src/mtls.rs"))
            .unwrap();
    assert!(mtls.contains("\"numbering_grpc_calls_total\", \"caller\""));
    let code = |path: &str| std::fs::read_to_string(observability().join(path)).unwrap();
    assert!(
        code("../../functions/validate-lease/src/invalidation.rs")
            .contains("\"numbering_invalidation_delay_seconds\"")
    );
    assert!(
        code("../../functions/validate-lease/src/replica.rs")
            .contains("\"numbering_replica_lag_seconds\"")
    );
}

#[test]
fn the_metric_names_of_queries_are_read_without_recording_rules_or_label_values() {
    let names = metric_names(
        "sum(rate(numbering_x_total{a=\"numbering_not\"}[5m])) / numbering:rec:ratio + process_start_time_seconds",
    );
    let expected: BTreeSet<String> = ["numbering_x_total", "process_start_time_seconds"]
        .map(String::from)
        .into();
    // a label value naming a metric is read as one too: harmless, it must then be exported
    assert!(
        names.is_superset(&expected) && names.len() <= 3,
        "{names:?}"
    );
    assert!(used_metrics().contains("numbering_outbox_oldest_unpublished_age_seconds"));
}
