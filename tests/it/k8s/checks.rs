//! What must hold in a rendered region: each check names what it found
//! wrong, so that a test can show both that the real manifests pass and that
//! a mutated copy fails for the right reason.

use std::collections::{BTreeMap, BTreeSet};

use numbering_validate_lease::mtls::{CallerAllowlist, DEFAULT_CALLERS};
use serde_json::Value;

/// A pod's environment variable: a literal, or a key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Env {
    Literal(String),
    Secret { name: String, key: String },
    Other(Value),
}

/// The rendered objects of one region.
pub struct Region<'a> {
    pub docs: &'a [Value],
}

impl<'a> Region<'a> {
    pub fn find(&self, kind: &str, name: &str) -> Option<&'a Value> {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    }

    pub fn all(&self, kind: &str) -> Vec<&'a Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    /// The pod template of a Deployment, Job or CronJob.
    pub fn pod(&self, kind: &str, name: &str) -> Option<&'a Value> {
        let o = self.find(kind, name)?;
        Some(match kind {
            "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => &o["spec"]["template"]["spec"],
        })
    }

    /// The first container's environment, ConfigMaps (`envFrom`) first.
    pub fn env(&self, pod: &Value) -> BTreeMap<String, Env> {
        let c = &pod["containers"][0];
        let mut env = BTreeMap::new();
        for from in c["envFrom"].as_array().into_iter().flatten() {
            let name = &from["configMapRef"]["name"];
            let data = self
                .all("ConfigMap")
                .into_iter()
                .find(|m| m["metadata"]["name"] == *name)
                .map(|m| m["data"].clone())
                .unwrap_or_default();
            for (k, v) in data.as_object().into_iter().flatten() {
                env.insert(k.clone(), Env::Literal(v.as_str().unwrap_or("").into()));
            }
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default().to_owned();
            let value = if let Some(v) = e["value"].as_str() {
                Env::Literal(v.into())
            } else if let Some(r) = e["valueFrom"]["secretKeyRef"].as_object() {
                Env::Secret {
                    name: r["name"].as_str().unwrap_or_default().into(),
                    key: r["key"].as_str().unwrap_or_default().into(),
                }
            } else {
                Env::Other(e.clone())
            };
            env.insert(name, value);
        }
        env
    }

    pub fn literal(&self, pod: &Value, name: &str) -> Option<String> {
        match self.env(pod).remove(name) {
            Some(Env::Literal(v)) => Some(v),
            _ => None,
        }
    }
}

/// Everything wrong with `region`'s objects; empty when all holds.
pub fn violations(docs: &[Value], image_uid: u64) -> Vec<String> {
    let r = Region { docs };
    let mut v = Vec::new();
    let Some(pod) = r.pod("Deployment", "numbering") else {
        return vec!["no Deployment numbering".into()];
    };
    deployment(&r, pod, &mut v);
    probes(pod, &mut v);
    shutdown(&r, pod, &mut v);
    for (kind, name) in [
        ("Deployment", "numbering"),
        ("Job", "numbering-migrate"),
        ("CronJob", "numbering-export"),
    ] {
        match r.pod(kind, name) {
            Some(p) => hardened(kind, p, image_uid, &mut v),
            None => v.push(format!("no {kind} {name}")),
        }
    }
    services(&r, pod, &mut v);
    network_policies(&r, &mut v);
    cronjob(&r, pod, &mut v);
    migrate_job(&r, &mut v);
    monitoring_and_certificate(&r, pod, &mut v);
    no_literal_secret(&r, &mut v);
    v
}

fn deployment(r: &Region, pod: &Value, v: &mut Vec<String>) {
    let d = r.find("Deployment", "numbering").unwrap();
    if d["spec"]["replicas"] != 3 {
        v.push(format!("replicas {} (want 3)", d["spec"]["replicas"]));
    }
    let ru = &d["spec"]["strategy"]["rollingUpdate"];
    if d["spec"]["strategy"]["type"] != "RollingUpdate" || ru["maxUnavailable"] != 0 {
        v.push(format!("rolling update without maxUnavailable 0: {ru}"));
    }
    let zones = pod["topologySpreadConstraints"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["topologyKey"] == "topology.kubernetes.io/zone");
    if !zones {
        v.push("no topology spread across zones".into());
    }
    match r.find("PodDisruptionBudget", "numbering") {
        Some(p) if p["spec"]["minAvailable"] == 2 => {}
        other => v.push(format!(
            "PodDisruptionBudget minAvailable 2 missing: {other:?}"
        )),
    }
    let hpa = r.all("HorizontalPodAutoscaler");
    let scales = hpa.iter().any(|h| {
        h["spec"]["scaleTargetRef"]["name"] == "numbering"
            && h["spec"]["minReplicas"].as_u64() >= Some(3)
    });
    if !scales {
        v.push("no HorizontalPodAutoscaler of numbering with minReplicas >= 3".into());
    }
}

fn probes(pod: &Value, v: &mut Vec<String>) {
    let c = &pod["containers"][0];
    for (probe, path) in [
        ("startupProbe", None),
        ("readinessProbe", Some("/readyz")),
        ("livenessProbe", Some("/healthz")),
    ] {
        let got = &c[probe]["httpGet"]["path"];
        match (got.as_str(), path) {
            (None, _) => v.push(format!("no {probe} (httpGet)")),
            (Some(g), Some(want)) if g != want => v.push(format!("{probe} on {g}, want {want}")),
            _ => {}
        }
    }
}

/// The numbers of a duration like `20s` or `1m`.
fn seconds(s: &str) -> Option<u64> {
    numbering_shared::policy::parse_duration(s)
        .ok()
        .and_then(|d| u64::try_from(d.num_seconds()).ok())
}

fn shutdown(r: &Region, pod: &Value, v: &mut Vec<String>) {
    let sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let drain = r
        .literal(pod, "NUMBERING_SHUTDOWN_DRAIN")
        .and_then(|d| seconds(&d));
    let Some(drain) = drain else {
        return v.push("NUMBERING_SHUTDOWN_DRAIN not set: the drain time is not stated".into());
    };
    let need = sleep + drain + numbering::drain::JOBS_STOP_GRACE.as_secs();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    if grace < need {
        v.push(format!(
            "terminationGracePeriodSeconds {grace} < preStop {sleep} + drain {drain} + jobs {}",
            numbering::drain::JOBS_STOP_GRACE.as_secs()
        ));
    }
}

fn hardened(kind: &str, pod: &Value, uid: u64, v: &mut Vec<String>) {
    let p = &pod["securityContext"];
    for c in pod["containers"].as_array().into_iter().flatten() {
        let s = &c["securityContext"];
        let user = s["runAsUser"].as_u64().or(p["runAsUser"].as_u64());
        let non_root = s["runAsNonRoot"] == true || p["runAsNonRoot"] == true;
        let seccomp = s["seccompProfile"]["type"] == "RuntimeDefault"
            || p["seccompProfile"]["type"] == "RuntimeDefault";
        let drops_all = s["capabilities"]["drop"] == serde_json::json!(["ALL"]);
        let ok = user == Some(uid)
            && non_root
            && seccomp
            && drops_all
            && s["readOnlyRootFilesystem"] == true
            && s["allowPrivilegeEscalation"] == false;
        if !ok {
            v.push(format!(
                "{kind} {}: not non-root {uid} / read-only / no capabilities / RuntimeDefault: {s}",
                c["name"]
            ));
        }
        let res = &c["resources"];
        if !res["requests"].is_object() || !res["limits"].is_object() {
            v.push(format!(
                "{kind} {}: no resource requests and limits",
                c["name"]
            ));
        }
    }
}

/// The port of `host:port`.
fn port_of(listen: &str) -> Option<u64> {
    listen.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

fn services(r: &Region, pod: &Value, v: &mut Vec<String>) {
    let c = &pod["containers"][0];
    let container_port = |name: &str| {
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
    };
    for (name, var) in [
        ("http", "NUMBERING_LISTEN"),
        ("grpc-mtls", "NUMBERING_GRPC_TLS_LISTEN"),
    ] {
        let listen = r.literal(pod, var).and_then(|l| port_of(&l));
        if listen.is_none() || listen != container_port(name) {
            v.push(format!(
                "container port {name} is not where {var} listens ({listen:?})"
            ));
        }
        let served = r.all("Service").iter().any(|s| {
            s["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["targetPort"] == name)
        });
        if !served {
            v.push(format!("no Service port targets {name}"));
        }
    }
}

/// The port names or numbers a rule opens.
fn rule_ports(rule: &Value) -> BTreeSet<String> {
    rule["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match &p["port"] {
            Value::String(s) => s.clone(),
            other => format!("{other}/{}", p["protocol"].as_str().unwrap_or("TCP")),
        })
        .collect()
}

/// Every ingress peer of the numbering server pods, by the port it reaches.
fn ingress_peers(r: &Region) -> BTreeMap<String, Vec<Value>> {
    let mut by_port: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for np in r.all("NetworkPolicy") {
        for rule in np["spec"]["ingress"].as_array().into_iter().flatten() {
            let peers = rule["from"].as_array().cloned().unwrap_or_default();
            let ports = rule_ports(rule);
            let ports = if ports.is_empty() {
                BTreeSet::from(["<every port>".to_owned()])
            } else {
                ports
            };
            for port in ports {
                let entry = by_port.entry(port).or_default();
                if peers.is_empty() {
                    entry.push(Value::String("<anyone>".into()));
                }
                entry.extend(peers.iter().cloned());
            }
        }
    }
    by_port
}

fn label<'v>(peer: &'v Value, selector: &str, key: &str) -> Option<&'v str> {
    peer[selector]["matchLabels"][key].as_str()
}

fn network_policies(r: &Region, v: &mut Vec<String>) {
    let deny = r.all("NetworkPolicy").into_iter().any(|np| {
        let s = &np["spec"];
        s["podSelector"] == serde_json::json!({})
            && s["policyTypes"] == serde_json::json!(["Ingress", "Egress"])
            && s["ingress"].as_array().is_none_or(Vec::is_empty)
            && s["egress"].as_array().is_none_or(Vec::is_empty)
    });
    if !deny {
        v.push("no default-deny NetworkPolicy (Ingress and Egress)".into());
    }
    let peers = ingress_peers(r);
    let ports: BTreeSet<&str> = peers.keys().map(String::as_str).collect();
    if ports != BTreeSet::from(["grpc-mtls", "http"]) {
        v.push(format!(
            "NetworkPolicy ingress opens {ports:?}, want grpc-mtls and http"
        ));
    }
    // mTLS: the six callers, each by namespace AND pod labels
    let callers: BTreeSet<&str> = peers
        .get("grpc-mtls")
        .into_iter()
        .flatten()
        .filter(|p| p["namespaceSelector"].is_object())
        .filter_map(|p| label(p, "podSelector", "app.kubernetes.io/name"))
        .collect();
    let six: BTreeSet<&str> = DEFAULT_CALLERS.into_iter().collect();
    let all_scoped = peers.get("grpc-mtls").is_some_and(|ps| {
        ps.len() == 6
            && ps
                .iter()
                .all(|p| p["namespaceSelector"].is_object() && p["podSelector"].is_object())
    });
    if callers != six || !all_scoped {
        v.push(format!(
            "NetworkPolicy peers of grpc-mtls are not the six callers by namespace and pod: {:?}",
            peers.get("grpc-mtls")
        ));
    }
    // REST: Kong's namespace; Prometheus's own pods scrape /metrics there
    let rest_ok = peers.get("http").is_some_and(|ps| {
        ps.iter().all(|p| {
            let ns = label(p, "namespaceSelector", "kubernetes.io/metadata.name");
            let kong = ns == Some("kong") && p.get("podSelector").is_none();
            let prometheus = ns == Some("monitoring")
                && label(p, "podSelector", "app.kubernetes.io/name") == Some("prometheus");
            kong || prometheus
        }) && ps
            .iter()
            .any(|p| label(p, "namespaceSelector", "kubernetes.io/metadata.name") == Some("kong"))
    });
    if !rest_ok {
        v.push(format!(
            "NetworkPolicy peers of http are not Kong's namespace (and Prometheus): {:?}",
            peers.get("http")
        ));
    }
    egress(r, v);
    allowlist(r, v);
}

/// Egress only to Postgres, NATS, billing, the registry, Vault and DNS.
fn egress(r: &Region, v: &mut Vec<String>) {
    let allowed: BTreeSet<&str> = [
        "53/UDP",
        "53/TCP",
        "5432/TCP",
        "4222/TCP",
        "50051/TCP",
        "8200/TCP",
    ]
    .into();
    let mut opened = BTreeSet::new();
    for np in r.all("NetworkPolicy") {
        for rule in np["spec"]["egress"].as_array().into_iter().flatten() {
            let to_anyone = rule["to"].as_array().is_none_or(Vec::is_empty);
            let ports = rule_ports(rule);
            if to_anyone || ports.is_empty() {
                v.push(format!("an egress rule open to anyone or any port: {rule}"));
            }
            opened.extend(ports);
        }
    }
    let opened: BTreeSet<&str> = opened.iter().map(String::as_str).collect();
    if opened != allowed {
        v.push(format!("egress opens {opened:?}, want {allowed:?}"));
    }
}

/// The mTLS allowlist the pods get names the same six callers.
fn allowlist(r: &Region, v: &mut Vec<String>) {
    let pod = r.pod("Deployment", "numbering").unwrap();
    let Some(list) = r.literal(pod, "NUMBERING_GRPC_ALLOWED_CALLERS") else {
        return; // the default: the six by their bare names
    };
    if let Err(e) = CallerAllowlist::parse(&list) {
        v.push(format!("NUMBERING_GRPC_ALLOWED_CALLERS: {e}"));
    }
    let names: BTreeSet<&str> = list
        .split(',')
        .map(|e| e.split_once('=').map_or(e, |(c, _)| c).trim())
        .collect();
    if names != DEFAULT_CALLERS.into_iter().collect() {
        v.push(format!("NUMBERING_GRPC_ALLOWED_CALLERS names {names:?}"));
    }
}

fn cronjob(r: &Region, pod: &Value, v: &mut Vec<String>) {
    let Some(cj) = r.find("CronJob", "numbering-export") else {
        return v.push("no CronJob numbering-export: the monthly export has no schedule".into());
    };
    let s = &cj["spec"];
    if s["schedule"] != "0 1 1 * *" || s["timeZone"] != "Etc/UTC" {
        v.push(format!(
            "export CronJob at {} {} (want 0 1 1 * * Etc/UTC)",
            s["schedule"], s["timeZone"]
        ));
    }
    if s["concurrencyPolicy"] != "Forbid"
        || s["jobTemplate"]["spec"]["backoffLimit"].as_u64() < Some(1)
    {
        v.push("export CronJob without concurrencyPolicy Forbid and a retry budget".into());
    }
    let job = r.pod("CronJob", "numbering-export").unwrap();
    if job["containers"][0]["args"] != serde_json::json!(["export", "scheduled"]) {
        v.push(format!(
            "export CronJob runs {}",
            job["containers"][0]["args"]
        ));
    }
    if r.literal(pod, "NUMBERING_EXPORT_SCHEDULE_ENABLED")
        .as_deref()
        != Some("false")
    {
        v.push("the host also runs the export schedule (NUMBERING_EXPORT_SCHEDULE_ENABLED)".into());
    }
    let store = |p: &Value| r.literal(p, "NUMBERING_EXPORT_STORE");
    let claims = |p: &Value| -> BTreeSet<String> {
        p["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|vol| vol["persistentVolumeClaim"]["claimName"].as_str())
            .map(str::to_owned)
            .collect()
    };
    if store(job) != store(pod) || claims(job) != claims(pod) || claims(pod).is_empty() {
        v.push("the export CronJob does not write the hosts' export store".into());
    }
}

fn migrate_job(r: &Region, v: &mut Vec<String>) {
    let Some(job) = r.pod("Job", "numbering-migrate") else {
        return;
    };
    if job["containers"][0]["args"] != serde_json::json!(["migrate"]) {
        v.push("the migrations Job does not run `numbering migrate`".into());
    }
    if !matches!(
        r.env(job).get("NUMBERING_MIGRATE_DATABASE_URL"),
        Some(Env::Secret { .. })
    ) {
        v.push("the migrations Job has no owner credentials (a Secret)".into());
    }
}

fn monitoring_and_certificate(r: &Region, pod: &Value, v: &mut Vec<String>) {
    let scraped = r.all("ServiceMonitor").iter().any(|m| {
        m["spec"]["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["port"] == "http" && e["path"] == "/metrics")
    });
    if !scraped {
        v.push("no ServiceMonitor scraping /metrics on http".into());
    }
    let cert_secret = r
        .all("Certificate")
        .first()
        .and_then(|c| c["spec"]["secretName"].as_str());
    let mounted = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|vol| vol["secret"]["secretName"].as_str() == cert_secret);
    if cert_secret.is_none() || !mounted {
        v.push("the mTLS certificate is not a mounted cert-manager Certificate".into());
    }
}

/// Names whose values are credentials: only ever from a Secret.
pub fn is_secret_name(name: &str) -> bool {
    name.starts_with("DATABASE_")
        || name.ends_with("_DATABASE_URL")
        || ["TOKEN", "SECRET", "PASSWORD", "JWKS"]
            .iter()
            .any(|w| name.contains(w) && !name.ends_with("_FILE") && !name.ends_with("_URL"))
}

fn no_literal_secret(r: &Region, v: &mut Vec<String>) {
    if !r.all("Secret").is_empty() {
        v.push("a Secret object is in the manifests".into());
    }
    let mut literals = Vec::new();
    for (kind, name) in [
        ("Deployment", "numbering"),
        ("Job", "numbering-migrate"),
        ("CronJob", "numbering-export"),
    ] {
        if let Some(pod) = r.pod(kind, name) {
            for (k, e) in r.env(pod) {
                if let Env::Literal(value) = e {
                    literals.push((k, value));
                }
            }
        }
    }
    for (k, value) in literals {
        // a password in a URL's user info (`scheme://user:password@host`)
        let credential_in_url = value.split("://").skip(1).any(|rest| {
            let authority = rest.split('/').next().unwrap_or_default();
            authority
                .rsplit_once('@')
                .is_some_and(|(userinfo, _)| userinfo.contains(':'))
        });
        if is_secret_name(&k) || credential_in_url || value.contains("-----BEGIN") {
            v.push(format!("{k} is given literally, not from a Secret"));
        }
    }
}
