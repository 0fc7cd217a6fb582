//! ValidateLease throughput with traces on (OTLP export, the default
//! hot-path sampling of `NUMBERING_TRACE_HOT_PATH_RATIO`) against off, in
//! the same run.
//!
//!   cargo build --profile perf -p numbering --bin numbering
//!   cargo run --profile perf -p numbering-tests --bin bench-traces [-- --seconds 5 --rounds 3]
//!
//! Two `numbering serve` processes over one seeded PostgreSQL: one with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (an OTLP sink in this process that accepts
//! and drops every batch), one without. Rounds alternate which goes first;
//! each is a closed loop of 64 concurrent gRPC ValidateLease calls over 8
//! HTTP/2 connections, in-process tier hits over 10,000 leased MSISDNs.

#[allow(dead_code)]
#[path = "hot_path/load.rs"]
mod load;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use numbering::embedded::{Durability, EmbeddedPostgres, free_port};

use crate::load::{Load, drive, validate_op};

const IDENTIFIERS: usize = 10_000;

fn msisdn(i: usize) -> String {
    format!("+937900{i:05}")
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let seconds = numbering_tests::bench_arg("--seconds", 5);
    let rounds = numbering_tests::bench_arg("--rounds", 3);
    let dir = std::env::temp_dir().join(format!("numbering-bench-traces-{}", std::process::id()));
    let pg = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || EmbeddedPostgres::start(&dir.join("pg"), 0, Durability::Throwaway)
    })
    .await??;
    let url = pg.url("postgres");
    numbering_store::migrate(&url).await?;
    seed_leases(&url).await?;
    let sink = otlp_sink().await?;
    let off = Host::start(&dir.join("off"), &url, None)?;
    let on = Host::start(&dir.join("on"), &url, Some(&sink))?;
    let load = Load {
        handle: tokio::runtime::Handle::current(),
        cpus: None,
    };
    let mut results: Vec<(&str, f64)> = Vec::new();
    for host in [&off, &on] {
        host.wait_ready().await?;
        // warm the in-process tier with every identifier, then a short run
        let op = validate_op(load.channels(&host.url).await, |_, n| {
            msisdn(n as usize % IDENTIFIERS)
        });
        for i in 0..IDENTIFIERS as u64 {
            op(0, i).await;
        }
        drive(&load, Duration::from_secs(1), op).await;
    }
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [("off", &off), ("on", &on)]
        } else {
            [("on", &on), ("off", &off)]
        };
        for (name, host) in order {
            let clients = load.channels(&host.url).await;
            let op = validate_op(clients, |w, n| {
                msisdn((w * 7919 + n as usize * 104_729) % IDENTIFIERS)
            });
            let stats = drive(&load, Duration::from_secs(seconds), op).await;
            eprintln!("round {round}: {}", stats.line(&format!("tracing {name}")));
            results.push((name, stats.throughput()));
        }
    }
    report(&results);
    drop((on, off));
    pg.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn report(results: &[(&str, f64)]) {
    let mean = |mode: &str| {
        let v: Vec<f64> = results
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, t)| *t)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (off, on) = (mean("off"), mean("on"));
    // each round runs both back to back: its own on / off is the least
    // disturbed by the machine's other load
    let mut pairs: Vec<f64> = results
        .chunks(2)
        .filter_map(|pair| match pair {
            [(a, x), (_, y)] if *a == "on" => Some(x / y),
            [(_, x), (_, y)] => Some(y / x),
            _ => None,
        })
        .collect();
    pairs.sort_by(f64::total_cmp);
    let median = pairs.get(pairs.len() / 2).copied().unwrap_or(f64::NAN);
    println!("ValidateLease, in-process hits, closed loop 64 over 8 connections");
    println!("tracing off: {off:>10.0} calls/s (mean of rounds)");
    println!("tracing on:  {on:>10.0} calls/s (hot-path ratio 0.01, OTLP http/protobuf)");
    println!("on / off:    {:>10.3} (means)", on / off);
    println!("on / off:    {median:>10.3} (median of the rounds' own ratios: {pairs:.3?})");
}

/// Tenant acme and its IDENTIFIERS assigned MSISDNs, each with a lease.
async fn seed_leases(url: &str) -> anyhow::Result<()> {
    let owner = sqlx::PgPool::connect(url).await?;
    sqlx::query("INSERT INTO numbering.tenant_pools (tenant_id, display_name, quota_msisdn) VALUES ('acme', 'acme', 100000)")
        .execute(&owner)
        .await?;
    sqlx::query(
        "WITH n AS (INSERT INTO numbering.numbers (identifier, identity_key, kind, state, tenant_id, operator_id, mcc, mnc) \
             SELECT id, id, 'MSISDN', 'ASSIGNED', 'acme', 'roshan', '412', '40' \
             FROM (SELECT '+937900' || lpad(i::text, 5, '0') AS id FROM generate_series(0, $1 - 1) i) s \
             RETURNING id, identifier) \
         INSERT INTO numbering.leases (id, number_id, identifier, kind, tenant_id, term_end) \
         SELECT gen_random_uuid(), id, identifier, 'MSISDN', 'acme', now() + interval '30 days' FROM n",
    )
    .bind(IDENTIFIERS as i32)
    .execute(&owner)
    .await?;
    owner.close().await;
    Ok(())
}

/// An OTLP/HTTP endpoint that accepts every batch and drops it.
async fn otlp_sink() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|_: axum::body::Bytes| async { Vec::<u8>::new() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    Ok(url)
}

/// A `numbering serve` process (the binary beside this one).
struct Host {
    child: Child,
    url: String,
}

impl Host {
    fn start(dir: &std::path::Path, database: &str, otlp: Option<&str>) -> anyhow::Result<Self> {
        let port = free_port()?;
        let bin: PathBuf = std::env::current_exe()?
            .parent()
            .map(|d| d.join("numbering"))
            .ok_or_else(|| anyhow::anyhow!("no directory beside the benchmark"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NUMBERING_DATA_DIR", dir)
            .env("NUMBERING_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database)
            .env("NUMBERING_CACHE_TTL_MS", "3600000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(otlp) = otlp {
            cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp);
        }
        Ok(Self {
            child: cmd.spawn()?,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(120);
        let http = reqwest::Client::new();
        while !http
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            anyhow::ensure!(Instant::now() < until, "{} did not become ready", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
