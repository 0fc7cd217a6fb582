//! ValidateLease benchmark: each tier of the hot path beside its baseline,
//! measured in the same run on loopback.
//!
//!   cargo run --profile perf -p numbering-tests --bin bench-hot-path [-- --seconds 5]
//!
//! Scenarios (64 concurrent requests over 8 HTTP/2 connections unless noted):
//! - bare tonic unary call that does nothing (the transport's limit)
//! - in-process hit, closed loop; then open loop at half the bare call's throughput
//! - DynamoDB hit (in-process tier off) beside a raw GetItem to the same endpoint
//! - Postgres fallback (no cache tiers) beside a raw sqlx primary-key select
//! - a realistic mix: Zipf-distributed identifiers, 1 % unknown, all tiers on:
//!   hit ratio per tier;
//! - the same mix without and with the invalidation bus (cold and warm
//!   windows): the in-process hit ratio; `--mix-only 1` runs only this one.
//!
//! Postgres, moto and the load generator all run on this machine and share
//! its CPUs; with `--pin 1` the load generator has half the CPUs to itself
//! and the servers, PostgreSQL and moto the other half. Before the scenarios, the machine's own stalls are
//! measured: one spinning thread per CPU, all at once, records every gap in
//! its clock readings (time the CPU was taken away, by the hypervisor or the
//! kernel) — the floor under any tail latency measured here.
//!
//! Layout: `load` (the closed and open loops), `stalls`, `setup` (the
//! seeded PostgreSQL and moto, the load generator's runtime), `scenarios`
//! (one function per measured scenario) and `report`.

mod bus;
mod load;
mod report;
mod scenarios;
mod setup;
mod stalls;

use std::time::Duration;

use numbering_tests::affinity;

use crate::{
    report::Results,
    scenarios::Scenarios,
    setup::{Fixture, Loads},
};

fn main() -> anyhow::Result<()> {
    // `--pin 1` (needs two CPUs or more): the load generator gets the upper
    // half of the CPUs, everything it measures — the servers, PostgreSQL and
    // moto, which inherit the main thread's affinity — the lower half.
    // `--pin 0` (the default): all share every CPU. Pinned, moto shares the
    // server's CPUs in the DynamoDB tier's scenario but not in the raw
    // GetItem's, so that comparison holds only unpinned.
    let cpus = affinity::allowed_cpus()?;
    let pinned = numbering_tests::bench_arg("--pin", 0) == 1 && cpus.len() >= 2;
    let (server_cpus, load_cpus) = cpus.split_at(cpus.len() / 2);
    let server = if pinned {
        affinity::pin_current_thread(server_cpus)?;
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server_cpus.len())
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    };
    let load_cpus = pinned.then(|| load_cpus.to_vec());
    server.block_on(run(load_cpus))
}

async fn run(load_cpus: Option<Vec<usize>>) -> anyhow::Result<()> {
    let seconds = numbering_tests::bench_arg("--seconds", 5);
    let duration = Duration::from_secs(seconds);
    let stalls = {
        let cpus = affinity::allowed_cpus()?;
        let all: Vec<usize> = match &load_cpus {
            // the main thread is pinned to the servers' CPUs by now
            Some(load) => cpus.iter().chain(load).copied().collect(),
            None => cpus,
        };
        tokio::task::spawn_blocking(move || stalls::machine_stalls(&all, duration)).await?
    };
    eprintln!("{stalls}");
    match &load_cpus {
        Some(cpus) => eprintln!(
            "pinned: load generator on CPUs {cpus:?}, servers, PostgreSQL and moto on the others"
        ),
        None => eprintln!("not pinned: load generator and servers share every CPU"),
    }
    let fx = Fixture::start().await?;
    // installs the metrics recorder before the first host starts
    let _ = numbering::telemetry::metrics();
    let loads = Loads::start(load_cpus)?;
    let mut scenarios = Scenarios {
        fx: &fx,
        open: &loads.open,
        closed: &loads.closed,
        duration,
        rows: Vec::new(),
    };
    if numbering_tests::bench_arg("--mix-only", 0) == 1 {
        let bus = scenarios.mix_bus().await;
        for row in &scenarios.rows {
            println!("{row}");
        }
        bus::print(&bus);
        loads.stop();
        fx.stop();
        return Ok(());
    }
    let bare = scenarios.bare().await?;
    let local = scenarios.in_process(bare.half_rate).await;
    let dynamo = scenarios.dynamo().await?;
    let postgres = scenarios.postgres().await?;
    let mix = scenarios.mix().await;
    let bus = scenarios.mix_bus().await;
    let rows = scenarios.rows;
    report::print(&Results {
        stalls,
        rows,
        bare,
        local,
        dynamo,
        postgres,
        mix,
    });
    bus::print(&bus);
    loads.stop();
    fx.stop();
    Ok(())
}
