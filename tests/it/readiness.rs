//! `numbering readiness --phase N` against a `numbering serve` that has
//! served traffic: every Phase 1 criterion of the seed is printed with a
//! measured value; then, with the relay stopped and the audit chain
//! tampered with, those criteria read FAIL and the exit code is 1. The
//! admin route serves the same report, and the host's `/metrics` exports
//! every metric the dashboard and the rules use.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use numbering_tests::{eventually, numbering_bin};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::host::Host;

/// The seed's Phase 1 exit criteria and success metrics, as the report names them.
const PHASE_1: [&str; 13] = [
    "ValidateLease P95, cache hit",
    "ValidateLease P95, PG fallback",
    "Error rate (UNAVAILABLE)",
    "Cache hit ratio",
    "Cross-region lag P95",
    "Hash-chain verify green 7 consecutive days",
    "Outbox lag P95",
    "Outbox: oldest unpublished event",
    "No consumer falling behind (pending messages)",
    "Unexpected INVALID_TRANSITION events",
    "compliance.tenant.suspended.v1 bulk-recalls (leases left)",
    "§8 ValidateLease P95 cache-hit over 7 d",
    "§8 Cache hit ratio",
];
const OUTBOX_NOW: &str = "Outbox: oldest unpublished event";
const CHAIN: &str = "Hash-chain verify green 7 consecutive days";
const CROSS_REGION: &str = "Cross-region lag P95";

fn token(banner: &str, who: &str) -> String {
    banner
        .lines()
        .find(|l| l.trim_start().starts_with(who))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("a token for {who} in the banner"))
        .to_owned()
}

/// `numbering readiness ARGS` on the host's data directory and port.
fn readiness(dir: &Path, host: &Host, args: &[&str]) -> Output {
    let listen = host.base.trim_start_matches("http://");
    Command::new(numbering_bin())
        .arg("readiness")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NUMBERING_DATA_DIR", dir)
        .env("NUMBERING_LISTEN", listen)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn criterion<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {report:#}"))
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Tenant `token` takes `n` available MSISDNs through reserve → hold →
/// assign; returns (identifier, lease id) of each.
async fn lease_some(base: &str, token: &str, n: usize) -> Vec<(String, String)> {
    let http = reqwest::Client::new();
    let portal = format!("{base}/v1/portal/numbering");
    let page: Value = http
        .get(format!("{portal}/available?kind=MSISDN&limit={n}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut leased = vec![];
    for item in page["items"].as_array().expect("demo stock") {
        let id = item["identifier"].as_str().unwrap().to_owned();
        let (status, r) = post(
            &http,
            format!("{portal}/reservations"),
            token,
            json!({ "identifier": id }),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        let rid = r["id"].as_str().unwrap().to_owned();
        let (status, r) = post(
            &http,
            format!("{portal}/reservations/{rid}/hold"),
            token,
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let (status, l) = post(
            &http,
            format!("{portal}/leases"),
            token,
            json!({ "reservation_id": rid }),
        )
        .await;
        assert_eq!(status, 201, "{l}");
        leased.push((id, l["id"].as_str().unwrap().to_owned()));
    }
    leased
}

/// ValidateLease and Lookup over the JSON routes, each identifier many
/// times (the first read of each falls back to Postgres).
async fn validate_many(base: &str, ids: &[(String, String)], tenant: &str) {
    let http = reqwest::Client::new();
    for round in 0..40 {
        for (id, _) in ids {
            let body = json!({ "identifier": id, "tenant_id": tenant });
            let v: Value = http
                .post(format!("{base}/v1/validate-lease"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["allowed"], true, "{v}");
            if round == 0 {
                let lookup = http
                    .post(format!("{base}/v1/lookup"))
                    .json(&json!({ "identifier": id }));
                assert_eq!(lookup.send().await.unwrap().status(), 200);
            }
        }
    }
}

/// Traffic of every kind the dashboard and the rules read: leases, hot-path
/// reads, a lost reserve race, a refused transition, a suspension.
async fn serve_traffic(host: &Host) {
    let (a, b) = (
        token(&host.banner, "enterprise-sim"),
        token(&host.banner, "smb-sim"),
    );
    let leased = lease_some(&host.base, &a, 5).await;
    validate_many(&host.base, &leased, "enterprise-sim").await;
    let http = reqwest::Client::new();
    let portal = format!("{}/v1/portal/numbering", host.base);
    // smb-sim loses the race for an identifier enterprise-sim holds
    let (status, _) = post(
        &http,
        format!("{portal}/reservations"),
        &b,
        json!({ "identifier": leased[0].0 }),
    )
    .await;
    assert_eq!(status, 409);
    // a lease released twice: the second is a refused transition
    let released = format!("{portal}/leases/{}/release", leased[4].1);
    assert_eq!(post(&http, released.clone(), &a, json!({})).await.0, 200);
    let (status, again) = post(&http, released, &a, json!({})).await;
    assert_eq!(status, 409, "{again}");
    suspend_tenant(host, "government-sim").await;
}

/// Sends `compliance.tenant.suspended.v1` for `tenant` to the host's
/// embedded JetStream and waits until it is handled.
async fn suspend_tenant(host: &Host, tenant: &str) {
    let nats = async_nats::connect(host.address("embedded JetStream"))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(nats);
    let id = format!("evt-suspend-{tenant}");
    let body = json!({
        "specversion": "1.0", "id": id, "type": "compliance.tenant.suspended.v1", "source": "test",
        "time": chrono::Utc::now().to_rfc3339(), "data": { "tenant_id": tenant, "reason": "KYC_FAILED" },
    });
    eventually(Duration::from_secs(30), "the inbound stream", || async {
        js.get_stream("NUMBERING_INBOUND").await.is_ok()
    })
    .await;
    js.publish("compliance.tenant.suspended.v1", body.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let pg = host.address("(embedded; data in");
    eventually(Duration::from_secs(30), "the suspension handled", || {
        let (pg, id) = (pg.clone(), id.clone());
        async move {
            let mut c = PgConnection::connect(&pg).await.unwrap();
            sqlx::query("SELECT 1 FROM numbering.processed_events WHERE event_id = $1")
                .bind(id)
                .fetch_optional(&mut c)
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
}

async fn metrics_text(host: &Host) -> String {
    reqwest::get(format!("{}/metrics", host.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until a chain verify has succeeded and the database gauges are set.
async fn wait_for_jobs(host: &Host) {
    eventually(
        Duration::from_secs(60),
        "a green verify and the database gauges",
        || async {
            let m = metrics_text(host).await;
            m.contains("numbering_audit_verify_last_success_timestamp_seconds")
                && m.contains("numbering_reserve_conversion_24h_ratio")
                && m.contains("numbering_consumer_pending_messages")
        },
    )
    .await;
}

/// Every Phase 1 criterion with a measured value (the cross-region lag
/// once the host exports either of its metrics); nothing FAILs that the
/// broken run below must fail.
fn assert_measured(report: &Value, metrics: &str) {
    assert_eq!(report["phase"], 1);
    let two_regions = metrics.contains("numbering_invalidation_delay_seconds")
        || metrics.contains("numbering_replica_lag_seconds");
    for name in PHASE_1 {
        let c = criterion(report, name);
        assert!(c["measured"].is_string(), "{c}");
        assert!(c["target"].is_string() && c["window"].is_string(), "{c}");
        if name != CROSS_REGION || two_regions {
            assert!(c["value"].is_number(), "a measured value: {c}");
        }
    }
    for name in [OUTBOX_NOW, CHAIN] {
        assert_ne!(criterion(report, name)["status"], "FAIL", "{report:#}");
    }
    // a few minutes of history cannot pass a 7-day criterion
    assert_eq!(report["pass"], false);
}

/// Takes the relay's advisory lock from under it (the relay stays in
/// standby), then makes an event that nobody publishes.
async fn stop_relay(host: &Host) -> PgConnection {
    let pg = host.address("(embedded; data in");
    let mut holder = PgConnection::connect(&pg).await.unwrap();
    let mut admin = PgConnection::connect(&pg).await.unwrap();
    let key = numbering_outbox_relay::LOCK_KEY;
    let queued = tokio::spawn(async move {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut holder)
            .await
            .unwrap();
        holder
    });
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    for _ in 0..200 {
        let n: i64 = sqlx::query_scalar(waiting)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND ((classid::bigint << 32) | objid::bigint) = $1",
    )
    .bind(key)
    .execute(&mut admin)
    .await
    .unwrap();
    let holder = queued.await.unwrap();
    let a = token(&host.banner, "enterprise-sim");
    lease_some(&host.base, &a, 1).await;
    eventually(
        Duration::from_secs(60),
        "an event unpublished for 6 s",
        || {
            let pg = pg.clone();
            async move {
                let mut c = PgConnection::connect(&pg).await.unwrap();
                let q = "SELECT coalesce(now() - min(occurred_at) > interval '6 seconds', false) \
                     FROM numbering.outbox WHERE published_at IS NULL";
                sqlx::query_scalar::<_, bool>(q)
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    holder
}

/// Alters a sealed audit entry as a superuser with rules and triggers off.
async fn tamper_chain(host: &Host) {
    let mut c = PgConnection::connect(&host.address("(embedded; data in"))
        .await
        .unwrap();
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    let done = sqlx::query(
        "UPDATE numbering.audit_log SET actor = 'someone-else' \
         WHERE id = (SELECT min(id) FROM numbering.audit_log)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    tx.commit().await.unwrap();
}

async fn admin_route(host: &Host) {
    let http = reqwest::Client::new();
    let url = |phase: &str| format!("{}/v1/admin/numbering/readiness?phase={phase}", host.base);
    let admin = token(&host.banner, "platform admin");
    let r = http.get(url("1")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    for name in PHASE_1 {
        criterion(&report, name);
    }
    assert_eq!(criterion(&report, CHAIN)["status"], "FAIL", "{report:#}");
    let r = http.get(url("4")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let tenant = token(&host.banner, "enterprise-sim");
    let r = http
        .get(url("1"))
        .bearer_auth(&tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_measures_every_phase_1_criterion_and_a_stopped_relay_or_tampered_chain_reads_fail()
 {
    let dir =
        std::env::temp_dir().join(format!("numbering-ready-{}", uuid::Uuid::new_v4().simple()));
    let env = [
        ("NUMBERING_AUDIT_VERIFY_INTERVAL", "2s"),
        ("NUMBERING_DB_GAUGES_INTERVAL", "1s"),
    ];
    let host = Host::start_with(&dir, &env);
    serve_traffic(&host).await;
    wait_for_jobs(&host).await;
    let metrics = metrics_text(&host).await;
    crate::observability::assert_exported(&metrics);

    let out = readiness(&dir, &host, &["--phase", "1", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_measured(&report(&out), &metrics);
    let table = readiness(&dir, &host, &["--phase", "1"]);
    let text = String::from_utf8_lossy(&table.stdout);
    eprintln!("{text}");
    for name in PHASE_1
        .iter()
        .chain(&["CRITERION", "TARGET", "MEASURED", "STATUS", "WINDOW"])
    {
        assert!(text.contains(name), "{name}:\n{text}");
    }

    let _lock = stop_relay(&host).await;
    tamper_chain(&host).await;
    let out = readiness(&dir, &host, &["--phase", "1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let broken = report(&out);
    eprintln!("{broken:#}");
    assert_eq!(
        criterion(&broken, OUTBOX_NOW)["status"],
        "FAIL",
        "{broken:#}"
    );
    assert_eq!(criterion(&broken, CHAIN)["status"], "FAIL", "{broken:#}");
    admin_route(&host).await;
    drop(_lock);
    assert!(host.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}
