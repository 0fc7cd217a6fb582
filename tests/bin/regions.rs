//! `./dev regions`: two regions on one machine, until Ctrl-C. A Postgres
//! primary (kbl) and its synchronous hot standby (mzr, `pg_basebackup -R`),
//! a NATS super-cluster (one JetStream server per region, joined by
//! gateways), `numbering migrate`, and two `numbering serve` hosts, kbl and
//! mzr, configured through the contract's variables (`NUMBERING_REGION`,
//! `DATABASE_URL`, `DATABASE_REPLICA_URL`, `NATS_URL`), with demo data.
//!
//!   cargo build -p numbering --bin numbering
//!   cargo run -p numbering-tests --bin numbering-regions [-- --async]
//!
//! `--async`: asynchronous replication instead of synchronous.

use numbering_tests::{
    app::tenant_token,
    regions::{Hosts, Region, Regions, Replication},
};

#[tokio::main]
async fn main() {
    let replication = match std::env::args().any(|a| a == "--async") {
        true => Replication::Asynchronous,
        false => Replication::Synchronous,
    };
    eprintln!("starting Postgres (primary + standby) and the NATS super-cluster …");
    let regions = Regions::builder().replication(replication).start().await;
    eprintln!("migrating and starting the kbl and mzr hosts …");
    let hosts = regions.hosts().demo_data().start().await;
    print_banner(&regions, &hosts, replication);
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping both regions …");
    drop(hosts);
    drop(regions);
}

fn print_banner(regions: &Regions, hosts: &Hosts, replication: Replication) {
    println!("two regions are up ({replication:?} replication)");
    for region in Region::ALL {
        let name = region.as_str();
        println!("  {name}  REST + gRPC {}", hosts.url(region));
        println!("       Postgres    {}", regions.pg_url(region));
        println!("       NATS        {}", regions.nats_url(region));
        println!("       log         {}", hosts.log(region).display());
    }
    let token = tenant_token("enterprise-sim");
    let (kbl, mzr) = (hosts.url(Region::Kbl), hosts.url(Region::Mzr));
    println!("  TOKEN={token}   (enterprise-sim, 1 h)");
    println!("try:");
    println!("  curl -s {kbl}/readyz; curl -s {mzr}/readyz");
    println!(
        "  curl -s -H \"Authorization: Bearer $TOKEN\" {mzr}/v1/portal/numbering/available?limit=3"
    );
    println!(
        "  reserve and lease through mzr (POST {mzr}/v1/portal/numbering/reservations, then /leases),"
    );
    println!(
        "  then ask kbl: curl -s -H 'content-type: application/json' -d '{{\"identifier\":\"+9379…\",\"tenant_id\":\"enterprise-sim\"}}' {kbl}/v1/validate-lease"
    );
    println!(
        "  Ctrl-C stops everything; logs and data are under {}",
        regions.dir().display()
    );
}
