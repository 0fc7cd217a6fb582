//! A crash halfway through an apply: the real `numbering serve` process is
//! killed (SIGKILL) while Postgres runs the apply's statements (the second
//! admin's approval, which runs the apply under the two-person rule). The block
//! is then entirely unmoved (the apply is one transaction, never
//! committed), and the same request, retried against a restarted host,
//! moves all of it.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use numbering_tests::{
    TestDb,
    app::{AUDIENCE, ISSUER, SECRET, admin_token_of},
    numbering_bin,
};
use serde_json::Value;

use crate::renumbering::{mixed_block, plan_body};

/// A `numbering serve` process over the test's database.
struct Host {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Host {
    async fn start(db: &TestDb) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "numbering-renumber-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(numbering_bin())
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.owner_url)
            .env("NUMBERING_DATA_DIR", &dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .env("NUMBERING_JWT_HS256_SECRET", SECRET)
            .env("NUMBERING_JWT_ISSUER", ISSUER)
            .env("NUMBERING_JWT_AUDIENCE", AUDIENCE)
            .env("NUMBERING_EXPORT_SCHEDULE_ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut host = Self { child, port, dir };
        let until = Instant::now() + Duration::from_secs(180);
        while !reqwest::get(host.url("/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(host.child.try_wait().unwrap().is_none(), "the host exited");
            assert!(Instant::now() < until, "the host never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        host
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGKILL: no drain, no rollback sent, nothing of the process survives.
    fn kill(&mut self) {
        Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn post(
    http: &reqwest::Client,
    who: &str,
    url: &str,
    key: &str,
    body: &Value,
) -> reqwest::Result<(u16, Value)> {
    let r = http
        .post(url)
        .bearer_auth(admin_token_of(who))
        .header("Idempotency-Key", key)
        .json(body)
        .timeout(Duration::from_secs(300))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await.unwrap_or(Value::Null)))
}

/// The backend running the apply's statements over its staging table.
async fn apply_backend(db: &TestDb) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'active' AND query LIKE '%renumber_moves%' AND pid <> pg_backend_pid()",
    )
    .fetch_optional(&db.owner)
    .await
    .unwrap()
}

/// (old rows retired, links, numbers of the old prefix still live).
async fn progress(db: &TestDb) -> (i64, i64, i64) {
    (
        db.count("numbering.numbers WHERE identifier LIKE '+937917%' AND state = 'RETIRED'")
            .await,
        db.count("numbering.identifier_links").await,
        db.count("numbering.numbers WHERE identifier LIKE '+937917%' AND state <> 'RETIRED'")
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_during_an_apply_leaves_nothing_moved_and_the_retried_apply_moves_it_all() {
    const TOTAL: i64 = 60_000;
    let db = TestDb::new().await;
    // 200 numbers in every live state through the lifecycle, the rest available
    mixed_block(&db, "+937917", 200).await;
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc) \
         SELECT '+937917' || lpad(i::text, 5, '0'), '+937917' || lpad(i::text, 5, '0'), \
                'MSISDN', 'roshan', '412', '40' FROM generate_series(200, $1 - 1) i",
    )
    .bind(TOTAL)
    .execute(&db.owner)
    .await
    .unwrap();
    let leases_before = db
        .count("numbering.leases WHERE identifier LIKE '+937917%'")
        .await;
    let mut host = Host::start(&db).await;
    let http = reqwest::Client::new();
    let (status, plan) = post(
        &http,
        "alice",
        &host.url("/v1/admin/numbering/renumberings"),
        "plan-1",
        &plan_body("+937917", "+937227", None),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{plan}");
    assert_eq!(plan["dry_run"]["total"], TOTAL);
    // alice asks (202: the two-person rule); bob's approval runs the apply
    let (status, asked) = post(
        &http,
        "alice",
        &host.url(&format!(
            "/v1/admin/numbering/renumberings/{}/apply",
            plan["id"].as_str().unwrap()
        )),
        "apply-1",
        &serde_json::json!({ "justification": "Roshan block move, notice R-2026-12" }),
    )
    .await
    .unwrap();
    assert_eq!(status, 202, "{asked}");
    let approve_path = format!(
        "/v1/admin/numbering/approvals/{}/approve",
        asked["approval_id"].as_str().unwrap()
    );
    let apply_url = host.url(&approve_path);

    // the apply runs; the host dies while Postgres works on it
    let call = {
        let (http, url) = (http.clone(), apply_url.clone());
        tokio::spawn(
            async move { post(&http, "bob", &url, "approve-1", &serde_json::json!({})).await },
        )
    };
    let started = Instant::now();
    let backend = loop {
        if let Some(pid) = apply_backend(&db).await {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the apply never ran"
        );
        assert!(
            !call.is_finished(),
            "the apply finished before it could be interrupted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    host.kill();
    assert!(call.await.unwrap().is_err(), "the caller got no answer");
    // the backend notices its client is gone once its statement ends, and rolls back
    let gone = Instant::now();
    while db
        .count(&format!("pg_stat_activity WHERE pid = {backend}"))
        .await
        > 0
    {
        assert!(
            gone.elapsed() < Duration::from_secs(120),
            "the orphaned apply never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (retired, links, live) = progress(&db).await;
    assert!(
        (retired, links, live) == (0, 0, TOTAL) || (retired, links, live) == (TOTAL, TOTAL, 0),
        "all or nothing, not ({retired}, {links}, {live})"
    );
    assert_eq!(
        (retired, links, live),
        (0, 0, TOTAL),
        "killed before its commit"
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.renumbered.v1'")
            .await,
        0
    );

    // a restarted host, the same request: the whole block moves
    drop(host);
    let host = Host::start(&db).await;
    let (status, approved) = post(
        &http,
        "bob",
        &host.url(&approve_path),
        "approve-1",
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "APPLIED");
    let applied = &approved["result"];
    assert_eq!(applied["moved"], TOTAL);
    assert_eq!(applied["applied_now"], true);
    assert_eq!(progress(&db).await, (TOTAL, TOTAL, 0));
    assert_eq!(
        db.count("numbering.leases WHERE identifier LIKE '+937227%'")
            .await,
        leases_before
    );
    assert_eq!(
        db.count("numbering.outbox WHERE event_type = 'number.renumbered.v1'")
            .await,
        TOTAL
    );
}
