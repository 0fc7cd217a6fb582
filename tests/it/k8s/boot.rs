//! Booting from the manifests without a cluster: the environment a rendered
//! overlay gives its pods, with each Secret reference and each in-cluster
//! service name replaced by the test's own loopback services, each listen
//! address by a free loopback port and each mounted volume by a directory,
//! and nothing else. The migrations Job's command runs with its own, then
//! the host starts with the Deployment's and must answer its probes, serve
//! an allowlisted caller on the mTLS port and stop cleanly on SIGTERM.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use numbering_proto::numbering::v1::{
    ValidateLeaseRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_tests::{TestDb, TestNats, numbering_bin};
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::Value;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::{
    REGIONS, Scratch,
    checks::{Env, Region},
    render::{overlay, repo},
};
use crate::mtls::{ca, client, dns, leaf, uri};

/// The value the test gives a Secret's key; every key the manifests
/// reference must be known here.
fn secret_value(name: &str, key: &str, database_url: &str) -> String {
    match (name, key) {
        ("numbering-database", "url" | "replica-url") | ("numbering-database-owner", "url") => {
            database_url.to_owned()
        }
        ("numbering-jwt", "jwks") => r#"{"keys":[]}"#.to_owned(),
        ("numbering-vault", "token") => "boot-test-vault-token".to_owned(),
        _ => panic!("the manifests reference Secret {name} key {key}, unknown to this test"),
    }
}

/// `env` with a placeholder for each Secret (enough to parse the
/// configuration, not to connect).
pub fn placeholders(env: &BTreeMap<String, Env>) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| {
            let value = match v {
                Env::Literal(s) => s.clone(),
                Env::Secret { name, key } => {
                    secret_value(name, key, "postgres://numbering@db.invalid/numbering")
                }
                Env::Other(o) => panic!("{k}: neither a literal nor a Secret: {o}"),
            };
            (k.clone(), value)
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `url` with an in-cluster service host (`*.svc…`) swapped for a loopback
/// port nothing listens on (the host needs billing, the registry and Vault
/// only for requests that call them).
fn swap_service(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if host.ends_with(".svc") || host.contains(".svc.") {
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        format!("{scheme}://127.0.0.1:{}{path}", free_port())
    } else {
        url.to_owned()
    }
}

/// The pod's environment on this machine, and where each container port went.
struct Local {
    env: BTreeMap<String, String>,
    ports: BTreeMap<u64, u16>,
}

fn localize(r: &Region, pod: &Value, db_url: &str, nats_url: &str, dir: &Path) -> Local {
    let mounts: Vec<(String, String)> = pod["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let (path, volume) = (m["mountPath"].as_str(), m["name"].as_str());
            (path.unwrap().to_owned(), volume.unwrap().to_owned())
        })
        .collect();
    let mut ports = BTreeMap::new();
    let mut env = BTreeMap::new();
    for (k, e) in r.env(pod) {
        let mut value = match e {
            Env::Literal(s) => s,
            Env::Secret { name, key } => secret_value(&name, &key, db_url),
            Env::Other(o) => panic!("{k}: neither a literal nor a Secret: {o}"),
        };
        if k == "NATS_URL" {
            value = nats_url.to_owned();
        } else if value.contains("://") {
            value = value
                .split(',')
                .map(swap_service)
                .collect::<Vec<_>>()
                .join(",");
        }
        if let Some(port) = value.strip_prefix("0.0.0.0:") {
            let local = free_port();
            ports.insert(port.parse().unwrap(), local);
            value = format!("127.0.0.1:{local}");
        }
        if let Some((mount, volume)) = mounts.iter().find(|(m, _)| value.starts_with(m.as_str())) {
            let local = dir.join(volume).display().to_string();
            value = value.replacen(mount.as_str(), &local, 1);
        }
        assert!(!value.contains(".svc"), "{k}={value}: a service name left");
        env.insert(k, value);
    }
    for (_, volume) in &mounts {
        std::fs::create_dir_all(dir.join(volume)).unwrap();
    }
    Local { env, ports }
}

/// Writes cert-manager's files (tls.crt, tls.key, ca.crt: a server
/// certificate for `localhost`) into every Secret volume of the pod.
fn write_certificates(
    pod: &Value,
    dir: &Path,
    issuer: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
) {
    let (cert, key) = leaf(
        issuer,
        dns("localhost"),
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    for vol in pod["volumes"].as_array().into_iter().flatten() {
        if vol["secret"].is_object() {
            let d = dir.join(vol["name"].as_str().unwrap());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("tls.crt"), &cert).unwrap();
            std::fs::write(d.join("tls.key"), &key).unwrap();
            std::fs::write(d.join("ca.crt"), issuer.pem()).unwrap();
        }
    }
}

fn spawn(args: &[&str], env: &BTreeMap<String, String>) -> Child {
    Command::new(numbering_bin())
        .args(args)
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start numbering")
}

/// The container's `args` (the image's entry point is `numbering`).
fn args(pod: &Value) -> Vec<String> {
    pod["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

async fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "{what} does not exit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_regions_own_environment_migrates_and_boots_the_host_to_ready() {
    for region in REGIONS {
        boot(region).await;
    }
}

async fn boot(region: &str) {
    let docs = overlay(&repo().join("infra/k8s"), region);
    let r = Region { docs: &docs };
    let (db, nats, scratch) = (
        TestDb::new().await,
        TestNats::start(),
        Scratch::new("k8s-boot"),
    );

    // the migrations Job, as the Job runs it
    let job = r.pod("Job", "numbering-migrate").unwrap();
    let local = localize(&r, job, &db.owner_url, &nats.url(), &scratch.0.join("job"));
    let job_args = args(job);
    let args_ref: Vec<&str> = job_args.iter().map(String::as_str).collect();
    let status = wait_exit(&mut spawn(&args_ref, &local.env), "numbering migrate").await;
    assert!(
        status.success(),
        "{region}: the migrations Job fails: {status}"
    );

    // the Deployment's container
    let pod = r.pod("Deployment", "numbering").unwrap();
    let issuer = ca("boot test Vault PKI");
    write_certificates(pod, &scratch.0.join("server"), &issuer);
    let local = localize(
        &r,
        pod,
        &db.owner_url,
        &nats.url(),
        &scratch.0.join("server"),
    );
    let host_args = args(pod);
    let args_ref: Vec<&str> = host_args.iter().map(String::as_str).collect();
    let mut host = spawn(&args_ref, &local.env);
    let c = &pod["containers"][0];
    let port_of = |name: &Value| -> u16 {
        let container = c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == *name || p["containerPort"] == *name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("probe port {name} is a container port"));
        local.ports[&container]
    };
    let http = reqwest::Client::new();
    let ready = &c["readinessProbe"]["httpGet"];
    let ready_url = format!(
        "http://127.0.0.1:{}{}",
        port_of(&ready["port"]),
        ready["path"].as_str().unwrap()
    );
    let until = Instant::now() + Duration::from_secs(180);
    while !http
        .get(&ready_url)
        .send()
        .await
        .is_ok_and(|a| a.status() == 200)
    {
        assert!(
            host.try_wait().unwrap().is_none(),
            "{region}: the host exited"
        );
        assert!(
            Instant::now() < until,
            "{region}: never ready at {ready_url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let get = &c[probe]["httpGet"];
        let url = format!(
            "http://127.0.0.1:{}{}",
            port_of(&get["port"]),
            get["path"].as_str().unwrap()
        );
        let status = http.get(&url).send().await.unwrap().status();
        assert_eq!(status, 200, "{region}: {probe} {url}");
    }
    mtls_call(&local, &issuer, port_of(&Value::from("grpc-mtls")), region).await;

    let pid = host.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_exit(&mut host, "the host after SIGTERM").await;
    assert!(
        status.success(),
        "{region}: the host stops cleanly on SIGTERM: {status}"
    );
}

/// ValidateLease on the mTLS port as the first allowlisted caller.
async fn mtls_call(
    local: &Local,
    issuer: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    port: u16,
    region: &str,
) {
    let list = &local.env["NUMBERING_GRPC_ALLOWED_CALLERS"];
    let first = list.split(',').next().unwrap();
    let identity = first.split_once('=').map_or(first, |(_, i)| i);
    let san = if identity.starts_with("spiffe://") {
        uri(identity)
    } else {
        dns(identity)
    };
    let (cert, key) = client(issuer, san);
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(issuer.pem()))
        .identity(Identity::from_pem(cert, key))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{region}: the mTLS port accepts the caller: {e}"));
    let answer = NumberingServiceClient::new(channel)
        .validate_lease(ValidateLeaseRequest {
            identifier: "+93790000001".into(),
            tenant_id: "acme".into(),
        })
        .await
        .unwrap_or_else(|e| panic!("{region}: {identity} is served on the mTLS port: {e}"));
    assert!(!answer.into_inner().allowed);
}
