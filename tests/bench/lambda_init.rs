//! Each Lambda's cold init and binary size: its `bootstrap` started against
//! the test harness's Runtime API on loopback, with a real Postgres, timed
//! from process start to its first `/runtime/invocation/next` (init done,
//! ready for an event), minus the Postgres connection it logs
//! (`connect_ms`). The median of `--runs` cold starts (default 7).
//!
//! Goals (issue 15): init ≤ 50 ms without the database connection, binary
//! ≤ 15 MB.
//!
//! ```sh
//! cargo lambda build --release --x86-64 --bin portal-api …   # target/lambda/<fn>/bootstrap
//! cargo build --profile perf -p numbering-tests --bin bench-lambda-init
//! ./target/perf/bench-lambda-init --runs 7      # NUMBERING_LAMBDA_DIR=target/lambda
//! ```

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use numbering_tests::{
    TestDb,
    lambda_runtime::{LAMBDAS, LambdaProcess, RuntimeApi},
};

/// `NUMBERING_LAMBDA_DIR/<fn>/bootstrap` (default `target/lambda`).
fn bootstrap(function: &str) -> PathBuf {
    let dir = std::env::var("NUMBERING_LAMBDA_DIR").unwrap_or_else(|_| "target/lambda".into());
    PathBuf::from(dir).join(function).join("bootstrap")
}

/// One cold start: (init, of which the logged Postgres connection), in ms.
async fn cold_start(binary: &Path, env: &[(&str, String)]) -> (f64, f64) {
    let api = RuntimeApi::start().await;
    let lambda = LambdaProcess::spawn(binary, &api, env);
    let until = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        if let Some(at) = api.first_next() {
            break at;
        }
        assert!(
            Instant::now() < until,
            "{}: {:#?}",
            binary.display(),
            lambda.lines()
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    let init = (ready - lambda.started).as_secs_f64() * 1e3;
    let connect: f64 = lambda
        .logged("connected to Postgres")
        .iter()
        .filter_map(|l| l["fields"]["connect_ms"].as_f64())
        .sum();
    (init, connect)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = numbering_tests::bench_arg("--runs", 7).max(1) as usize;
    let db = TestDb::new().await;
    let scratch = std::env::temp_dir().join(format!("bench-lambda-{}", std::process::id()));
    let env = [
        ("DATABASE_URL", db.owner_url.clone()),
        ("AWS_REGION", "us-east-1".into()),
        (
            "NUMBERING_EXPORT_STORE",
            scratch.join("exports").display().to_string(),
        ),
        (
            "NUMBERING_EXPORT_SIGNING_KEY",
            scratch.join("key.pem").display().to_string(),
        ),
    ];
    println!("{runs} cold starts each (median); init = process start → first /invocation/next");
    println!(
        "{:<18} {:>10} {:>12} {:>16} {:>10}",
        "function", "init ms", "Postgres ms", "init − Postgres", "size MB"
    );
    for function in LAMBDAS {
        let binary = bootstrap(function);
        let size = std::fs::metadata(&binary)
            .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?
            .len() as f64
            / 1e6;
        let (mut inits, mut connects, mut rests) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let (init, connect) = cold_start(&binary, &env).await;
            inits.push(init);
            connects.push(connect);
            rests.push(init - connect);
        }
        println!(
            "{function:<18} {:>10.1} {:>12.1} {:>16.1} {size:>10.1}",
            median(inits),
            median(connects),
            median(rests)
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
