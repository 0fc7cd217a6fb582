//! Lookup of a ported number beside an unported one, in the same run
//! (issue 20; goal: ported ≤ 1.1 × unported).
//!
//! ```sh
//! cargo build --profile perf -p numbering-tests --bin bench-lookup-ported
//! ./target/perf/bench-lookup-ported [--numbers 2000] [--seconds 5]
//! ```
//!
//! `--numbers` Roshan MSISDNs in inventory, every other one ported (signed
//! `atra-port-v1` file through the real importer). Two tiers, each with the
//! ported and unported sets measured alternately in rounds of a second so
//! that drift on a shared machine hits both alike:
//! - gRPC `Lookup` on the host's port, in-process tier warm (64 concurrent
//!   requests over 8 HTTP/2 connections): what routing-engine sees;
//! - the Postgres tier alone (`numbering.lookup_identifier`, one round trip,
//!   16 concurrent): where a ported number does more work (two more joins).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;

use numbering_import::{PortImporter, PortUpload};
use numbering_proto::numbering::v1::{
    LookupRequest, numbering_service_client::NumberingServiceClient,
};
use numbering_shared::Identifier;
use numbering_tests::{
    TestDb,
    hot_path::{HostSetup, TestHost},
    imports::MnoKey,
    system_ctx,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = numbering_tests::bench_arg("--numbers", 2000).clamp(2, 100_000) as usize;
    let seconds = numbering_tests::bench_arg("--seconds", 5);
    let db = TestDb::new().await;
    let (ported, unported) = seed(&db, n).await?;
    let host = TestHost::start(db.store.clone(), HostSetup::default()).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(host.client().await);
    }
    // warm the in-process tier
    for id in ported.iter().chain(&unported) {
        host.reader.lookup(id).await.expect("lookup");
    }
    let first = host.reader.lookup(&ported[0]).await.unwrap().unwrap();
    assert!(first.ported, "the ported set is ported");
    println!(
        "{n} numbers, {} ported; {seconds} rounds of 1 s per set and tier",
        ported.len()
    );
    let mut grpc = (Vec::new(), Vec::new());
    let mut pg = (Vec::new(), Vec::new());
    for _ in 0..seconds {
        grpc.0.push(grpc_round(&clients, &ported).await);
        grpc.1.push(grpc_round(&clients, &unported).await);
        pg.0.push(postgres_round(&db, &ported).await);
        pg.1.push(postgres_round(&db, &unported).await);
    }
    report("gRPC Lookup, in-process tier (64 concurrent)", &grpc);
    report("Postgres tier, lookup_identifier (16 concurrent)", &pg);
    host.stop().await;
    Ok(())
}

/// `n` Roshan numbers; the even ones ported to Etisalat-AF by a signed file.
async fn seed(db: &TestDb, n: usize) -> anyhow::Result<(Vec<Identifier>, Vec<Identifier>)> {
    let raw: Vec<String> = (0..n)
        .map(|i| format!("+9379{:07}", 2_000_000 + i))
        .collect();
    let refs: Vec<&str> = raw.iter().map(String::as_str).collect();
    let ids = db.inventory(&refs).await;
    let key = MnoKey::ed25519("atra-bench");
    key.install(db, None).await;
    let mut file = String::from("msisdn,mcc,mnc,ported_at\n");
    for id in ids.iter().step_by(2) {
        file.push_str(&format!("{},412,50,2026-12-01\n", id.as_str()));
    }
    let file = file.into_bytes();
    PortImporter::new(db.store.clone(), Default::default())
        .import(
            &system_ctx(),
            PortUpload {
                signature: key.sign(&file),
                file,
                file_name: None,
            },
        )
        .await?;
    let (ported, unported) = ids
        .into_iter()
        .enumerate()
        .partition::<Vec<_>, _>(|(i, _)| i % 2 == 0);
    Ok((
        ported.into_iter().map(|(_, id)| id).collect(),
        unported.into_iter().map(|(_, id)| id).collect(),
    ))
}

/// Latencies (µs) and calls per second of one round.
struct Round {
    micros: Vec<u64>,
    per_second: f64,
}

type Call = Arc<dyn Fn(usize, usize) -> BoxFuture<'static, ()> + Send + Sync>;

async fn grpc_round(
    clients: &[NumberingServiceClient<tonic::transport::Channel>],
    ids: &[Identifier],
) -> Round {
    let ids: Arc<Vec<String>> = Arc::new(ids.iter().map(|i| i.as_str().to_owned()).collect());
    let clients = clients.to_vec();
    let call: Call = Arc::new(move |worker, i| {
        let mut client = clients[worker % clients.len()].clone();
        let id = ids[(worker * 7919 + i) % ids.len()].clone();
        Box::pin(async move {
            client
                .lookup(LookupRequest { identifier: id })
                .await
                .expect("lookup");
        })
    });
    round(64, call).await
}

async fn postgres_round(db: &TestDb, ids: &[Identifier]) -> Round {
    let ids = Arc::new(ids.to_vec());
    let store = db.store.clone();
    let call: Call = Arc::new(move |worker, i| {
        let (store, ids) = (store.clone(), ids.clone());
        Box::pin(async move {
            let id = &ids[(worker * 7919 + i) % ids.len()];
            store.lookup(id).await.expect("lookup").expect("found");
        })
    });
    round(16, call).await
}

/// `workers` closed loops, spawned, for one second.
async fn round(workers: usize, call: Call) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (stop, call) = (stop.clone(), call.clone());
            tokio::spawn(async move {
                let mut micros = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    call(w, i).await;
                    micros.push(t.elapsed().as_micros() as u64);
                    i += 1;
                }
                micros
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut micros = Vec::new();
    for t in tasks {
        micros.extend(t.await.expect("worker"));
    }
    let per_second = micros.len() as f64 / started.elapsed().as_secs_f64();
    Round { micros, per_second }
}

fn report(name: &str, (ported, unported): &(Vec<Round>, Vec<Round>)) {
    let stats = |rounds: &[Round]| {
        let mut all: Vec<u64> = rounds
            .iter()
            .flat_map(|r| r.micros.iter().copied())
            .collect();
        all.sort_unstable();
        let q = |p: f64| all[((all.len() - 1) as f64 * p) as usize];
        let rate = rounds.iter().map(|r| r.per_second).sum::<f64>() / rounds.len() as f64;
        (q(0.5), q(0.99), rate)
    };
    let (p50, p99, rate) = stats(ported);
    let (u50, u99, urate) = stats(unported);
    println!("{name}");
    println!("  ported:   p50 {p50} µs, p99 {p99} µs, {rate:.0}/s");
    println!("  unported: p50 {u50} µs, p99 {u99} µs, {urate:.0}/s");
    println!(
        "  ported / unported: p50 {:.3}×, p99 {:.3}×, throughput {:.3}×",
        p50 as f64 / u50.max(1) as f64,
        p99 as f64 / u99.max(1) as f64,
        urate / rate.max(1.0)
    );
}
