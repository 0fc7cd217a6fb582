//! Issue 16, the write path: real `numbering serve` hosts for `kbl` and
//! `mzr` on a multi-host `DATABASE_URL` (`target_session_attrs=read-write`)
//! through the loss of the Postgres primary and the promotion of the
//! standby, and a host that reaches only a standby.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use numbering_tests::{
    eventually, numbering_bin,
    regions::{
        Region, Regions,
        drill::{DrillHost, SINGLETONS, prepare, token},
    },
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

const TENANT: &str = "drill-tenant";

/// Bound on every wait: far beyond what a loaded machine needs.
const WITHIN: Duration = Duration::from_secs(120);

async fn advisory_locks(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let n = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        .fetch_one(&mut conn)
        .await
        .expect("pg_locks");
    conn.close().await.ok();
    n
}

async fn grpc_health(host: &DrillHost) -> i32 {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let channel = tonic::transport::Channel::from_shared(host.url(""))
        .unwrap()
        .connect()
        .await
        .expect("grpc");
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_pointed_only_at_the_standby_is_not_ready_starts_no_singleton_and_takes_over_once_promoted()
 {
    let mut regions = Regions::builder().start().await;
    prepare(&regions, TENANT, 0, 10).await;
    regions.wait_replayed().await;
    let host = DrillHost::start(&regions, Region::Mzr, &regions.standby_url()).await;

    let (status, body) = host.readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "NOT_READY");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no read-write primary"),
        "{body}"
    );
    let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
    assert_eq!(grpc_health(&host).await, not_serving);
    for job in SINGLETONS {
        assert_eq!(
            host.singleton_running(job).await,
            Some(0.0),
            "{job} is known and not running"
        );
    }
    // a relay, sweeper or sealer would hold its advisory lock on the standby
    assert_eq!(advisory_locks(&regions.standby_url()).await, 0);
    let log = host.log_text();
    for refused in [
        "read-only transaction",
        "cannot execute LISTEN during recovery",
    ] {
        assert!(!log.contains(refused), "{refused}:\n{log}");
    }

    // the failover manager promotes the standby: the same host, unrestarted,
    // becomes ready and runs its singletons there
    regions.stop_primary_immediate().await;
    regions.promote_standby().await;
    host.wait_ready(200).await;
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!(grpc_health(&host).await, serving);
    let on = &host;
    for job in SINGLETONS {
        eventually(WITHIN, job, move || async move {
            on.singleton_running(job).await == Some(1.0)
        })
        .await;
    }
    let promoted = regions.standby_url();
    let promoted = promoted.as_str();
    eventually(
        WITHIN,
        "the singletons' locks on the new primary",
        move || async move { advisory_locks(promoted).await > 0 },
    )
    .await;
}

/// What the drill's clients saw.
#[derive(Default)]
struct Ledger {
    /// Acknowledged reservations: identifier → reservation id.
    reserved: HashMap<String, String>,
    /// Acknowledged leases: identifier → lease id.
    leased: HashMap<String, String>,
    /// Acknowledged releases (lease ids).
    released: HashSet<String>,
    /// 503 answers: (code, Retry-After).
    unavailable: Vec<(String, Option<String>)>,
    /// Writes that succeeded on a retry with their key after a 503.
    retried_ok: usize,
    /// ValidateLease answers with allowed = true: (identifier, lease id).
    allowed: Vec<(String, String)>,
    /// ValidateLease answers in all.
    validations: usize,
}

type Shared = Arc<Mutex<Ledger>>;

/// POSTs `body` under `key` until it succeeds; a 503 must be the retryable
/// DATABASE_UNAVAILABLE problem, anything else fails the drill.
async fn write(
    http: &reqwest::Client,
    host: &str,
    path: &str,
    body: Option<Value>,
    key: &str,
    ledger: &Shared,
) -> Value {
    let mut saw_503 = false;
    loop {
        let mut req = http
            .post(format!("{host}{path}"))
            .bearer_auth(token(TENANT))
            .header("Idempotency-Key", key);
        if let Some(body) = &body {
            req = req.json(body);
        }
        let r = req.send().await.expect("the host answers");
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200 | 201 => {
                if saw_503 {
                    ledger.lock().unwrap().retried_ok += 1;
                }
                return answer;
            }
            503 => {
                assert_eq!(
                    content_type.as_deref(),
                    Some("application/problem+json"),
                    "{answer}"
                );
                let code = answer["code"].as_str().unwrap_or_default().to_owned();
                ledger.lock().unwrap().unavailable.push((code, retry_after));
                saw_503 = true;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{path} under {key}: {other} {answer}"),
        }
    }
}

/// Reserve → assign (→ release every other one) through `host`, one
/// identifier after another, until `stop`.
async fn writer(host: String, ids: Vec<String>, ledger: Shared, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder().timeout(WITHIN).build().unwrap();
    for (n, id) in ids.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let base = "/v1/portal/numbering";
        let r = write(
            &http,
            &host,
            &format!("{base}/reservations"),
            Some(json!({ "identifier": id })),
            &format!("r-{id}"),
            &ledger,
        )
        .await;
        let rid = r["id"].as_str().expect("reservation id").to_owned();
        ledger
            .lock()
            .unwrap()
            .reserved
            .insert(id.clone(), rid.clone());
        let body = json!({ "reservation_id": rid, "auto_renew": false });
        let l = write(
            &http,
            &host,
            &format!("{base}/leases"),
            Some(body),
            &format!("a-{id}"),
            &ledger,
        )
        .await;
        let lid = l["id"].as_str().expect("lease id").to_owned();
        ledger
            .lock()
            .unwrap()
            .leased
            .insert(id.clone(), lid.clone());
        if n % 2 == 1 {
            write(
                &http,
                &host,
                &format!("{base}/leases/{lid}/release"),
                None,
                &format!("x-{id}"),
                &ledger,
            )
            .await;
            ledger.lock().unwrap().released.insert(lid);
        }
    }
}

/// ValidateLease through `host` for the identifiers leased lately, until `stop`.
async fn validator(host: String, ledger: Shared, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder().timeout(WITHIN).build().unwrap();
    while !stop.load(Ordering::Relaxed) {
        let recent: Vec<String> = ledger
            .lock()
            .unwrap()
            .leased
            .keys()
            .take(16)
            .cloned()
            .collect();
        for id in recent {
            let Ok(r) = http
                .post(format!("{host}/v1/validate-lease"))
                .json(&json!({ "identifier": id, "tenant_id": TENANT }))
                .send()
                .await
            else {
                continue;
            };
            let answer: Value = r.json().await.unwrap_or(Value::Null);
            let mut l = ledger.lock().unwrap();
            l.validations += 1;
            if answer["allowed"] == true {
                let lease = answer["lease_id"].as_str().unwrap_or_default().to_owned();
                l.allowed.push((id, lease));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn leases_acked(ledgers: &[Shared]) -> Vec<usize> {
    ledgers
        .iter()
        .map(|l| l.lock().unwrap().leased.len())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_loss_drill_keeps_every_acknowledged_write_and_resumes_writes_in_both_regions()
{
    let mut regions = Regions::builder().start().await;
    let ids = prepare(&regions, TENANT, 0, 600).await;
    regions.wait_replayed().await;
    let url = regions.multi_host_url();
    let kbl = DrillHost::start(&regions, Region::Kbl, &url).await;
    let mzr = DrillHost::start(&regions, Region::Mzr, &url).await;
    kbl.wait_ready(200).await;
    mzr.wait_ready(200).await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledgers: Vec<Shared> = vec![Shared::default(), Shared::default()];
    let mut tasks = Vec::new();
    for (i, host) in [&kbl, &mzr].into_iter().enumerate() {
        let mine = ids[i * 300..(i + 1) * 300].to_vec();
        tasks.push(tokio::spawn(writer(
            host.url(""),
            mine,
            ledgers[i].clone(),
            stop.clone(),
        )));
        tasks.push(tokio::spawn(validator(
            host.url(""),
            ledgers[i].clone(),
            stop.clone(),
        )));
    }
    let all = &ledgers;
    eventually(WITHIN, "writes through both hosts", move || async move {
        leases_acked(all).iter().all(|n| *n >= 20)
    })
    .await;

    regions.stop_primary_immediate().await;
    eventually(
        WITHIN,
        "a 503 through each host while no primary is up",
        move || async move {
            all.iter()
                .all(|l| !l.lock().unwrap().unavailable.is_empty())
        },
    )
    .await;
    regions.promote_standby().await;
    let at_promotion = leases_acked(&ledgers);
    let then = &at_promotion;
    eventually(
        WITHIN,
        "writes resuming through both hosts, unrestarted",
        move || async move {
            leases_acked(all)
                .iter()
                .zip(then)
                .all(|(now, then)| *now >= then + 10)
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("drill task");
    }

    for (l, region) in ledgers.iter().zip(["kbl", "mzr"]) {
        let l = l.lock().unwrap();
        eprintln!(
            "{region}: {} leases acked, {} 503 answers, {} retried writes, {} ValidateLease ({} allowed)",
            l.leased.len(),
            l.unavailable.len(),
            l.retried_ok,
            l.validations,
            l.allowed.len()
        );
    }
    let primary = regions.standby_url();
    every_503_was_retryable_and_a_retry_succeeded(&ledgers);
    every_acknowledged_write_is_there_exactly_once(&primary, &ledgers).await;
    no_allowed_answer_contradicts_the_database(&primary, &ledgers).await;
    the_audit_chain_verifies(&regions, &url);
    every_outbox_event_reaches_jetstream_once(&regions, &primary).await;
}

fn every_503_was_retryable_and_a_retry_succeeded(ledgers: &[Shared]) {
    for l in ledgers {
        let l = l.lock().unwrap();
        for (code, retry_after) in &l.unavailable {
            assert_eq!(code, "DATABASE_UNAVAILABLE");
            assert_eq!(retry_after.as_deref(), Some("1"));
        }
        assert!(
            l.retried_ok >= 1,
            "a write retried with its key after a 503 succeeded"
        );
    }
}

async fn every_acknowledged_write_is_there_exactly_once(primary: &str, ledgers: &[Shared]) {
    let mut conn = PgConnection::connect(primary).await.expect("new primary");
    let leases: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id::text, identifier, tenant_id, end_reason::text FROM numbering.leases",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let by_id: HashMap<&str, _> = leases.iter().map(|l| (l.0.as_str(), l)).collect();
    let reservations: HashSet<String> =
        sqlx::query_scalar("SELECT id::text FROM numbering.reservations")
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for l in ledgers {
        let l = l.lock().unwrap();
        for rid in l.reserved.values() {
            assert!(
                reservations.contains(rid),
                "acknowledged reservation {rid} survives"
            );
        }
        for (id, lid) in &l.leased {
            let row = by_id
                .get(lid.as_str())
                .unwrap_or_else(|| panic!("acknowledged lease {lid} survives"));
            assert_eq!((row.1.as_str(), row.2.as_str()), (id.as_str(), TENANT));
        }
        for lid in &l.released {
            assert!(
                by_id[lid.as_str()].3.is_some(),
                "acknowledged release of {lid} survives"
            );
        }
    }
    // exactly one effect per write: each identifier went through each
    // transition once, so no event repeats for one identifier
    let repeated: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, event_type, count(*) FROM numbering.outbox \
         WHERE event_type LIKE 'number.%' OR event_type LIKE 'lease.%' \
         GROUP BY 1, 2 HAVING count(*) > 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(repeated.is_empty(), "{repeated:?}");
    let per_identifier: Vec<(String, i64)> = sqlx::query_as(
        "SELECT identifier, count(*) FROM numbering.leases GROUP BY 1 HAVING count(*) > 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(per_identifier.is_empty(), "{per_identifier:?}");
    conn.close().await.ok();
}

async fn no_allowed_answer_contradicts_the_database(primary: &str, ledgers: &[Shared]) {
    let mut conn = PgConnection::connect(primary).await.expect("new primary");
    let leases: HashMap<String, (String, String)> = sqlx::query_as::<_, (String, String, String)>(
        "SELECT id::text, identifier, tenant_id FROM numbering.leases",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, identifier, tenant)| (id, (identifier, tenant)))
    .collect();
    let mut answers = 0;
    for l in ledgers {
        let l = l.lock().unwrap();
        answers += l.validations;
        for (id, lease) in &l.allowed {
            assert_eq!(
                leases.get(lease),
                Some(&(id.clone(), TENANT.to_owned())),
                "allowed=true for {id} names lease {lease}, which the database has for it"
            );
        }
    }
    assert!(answers > 0, "ValidateLease ran during the drill");
    conn.close().await.ok();
}

/// `numbering audit verify` on the multi-host URL: seals what is pending on
/// the new primary and recomputes the whole chain.
fn the_audit_chain_verifies(regions: &Regions, url: &str) {
    let dir = regions.dir().join("audit-verify");
    let out = std::process::Command::new(numbering_bin())
        .args(["audit", "verify"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NUMBERING_DATA_DIR", &dir)
        .env("DATABASE_URL", url)
        .output()
        .expect("numbering audit verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn every_outbox_event_reaches_jetstream_once(regions: &Regions, primary: &str) {
    let mut conn = PgConnection::connect(primary).await.expect("new primary");
    eventually(WITHIN, "the relay to publish every outbox event", || {
        let primary = primary.to_owned();
        async move {
            let mut c = PgConnection::connect(&primary).await.unwrap();
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM numbering.outbox WHERE published_at IS NULL",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            left == 0
        }
    })
    .await;
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT stream, event_id::text FROM numbering.outbox")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let js = async_nats::jetstream::new(regions.nats_client(Region::Kbl).await);
    let streams: HashSet<&str> = events.iter().map(|e| e.0.as_str()).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for name in streams {
        for id in msg_ids(&js, name).await {
            *seen.entry(id).or_default() += 1;
        }
    }
    for (stream, id) in &events {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "event {id} on {stream} exactly once"
        );
    }
    conn.close().await.ok();
}

/// The `Nats-Msg-Id` of every message of `stream`, by sequence.
async fn msg_ids(js: &async_nats::jetstream::Context, stream: &str) -> Vec<String> {
    let mut s = js.get_stream(stream).await.expect("stream");
    let state = s.info().await.expect("stream info").state.clone();
    let mut out = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        let deadline = tokio::time::Instant::now() + WITHIN;
        let m = loop {
            match s.get_raw_message(seq).await {
                Ok(m) => break m,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "{stream} #{seq}: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        if let Some(id) = m.headers.get("Nats-Msg-Id") {
            out.push(id.as_str().to_owned());
        }
    }
    out
}
