//! The report: the table of scenarios (one row each, written as they
//! finish) and the lines that set each tier against its baseline and goal.

use crate::scenarios::{BareCall, Dynamo, InProcess, Mix, Postgres};

/// The tier counter `tier`/`outcome` in rendered Prometheus metrics.
pub fn counter(metrics: &str, tier: &str, outcome: &str) -> f64 {
    let needle = format!("numbering_validate_tier_total{{tier=\"{tier}\",outcome=\"{outcome}\"}}");
    metrics
        .lines()
        .find(|l| l.starts_with(&needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// What the scenarios measured, for the report.
pub struct Results {
    pub stalls: String,
    pub rows: Vec<String>,
    pub bare: BareCall,
    pub local: InProcess,
    pub dynamo: Dynamo,
    pub postgres: Postgres,
    pub mix: Mix,
}

/// Prints the table, then each tier against its baseline and its goal.
pub fn print(r: &Results) {
    println!("| scenario | calls/s | p50 ms | p99 ms | p99.9 ms | errors |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        println!("{row}");
    }
    println!();
    println!("{}", r.stalls);
    print_in_process(&r.bare, &r.local);
    println!(
        "DynamoDB tier p50 vs raw GetItem p50: {:.2}x (goal <= 1.3)",
        r.dynamo.tier.pct(0.5) / r.dynamo.raw_get.pct(0.5)
    );
    print_postgres(&r.postgres);
    let m = &r.mix;
    println!(
        "Zipf mix hit ratio: in-process {:.2} %, DynamoDB {:.2} % of the rest, Postgres {:.2} % of all ({} requests)",
        100.0 * m.local_hits / m.requests,
        100.0 * m.dynamo_hits / (m.requests - m.local_hits).max(1.0),
        100.0 * m.pg_hits / m.requests,
        m.requests
    );
}

fn print_in_process(bare: &BareCall, local: &InProcess) {
    println!(
        "in-process hit vs bare call throughput: {:.2}x (goal >= 0.8)",
        local.closed.throughput() / bare.closed.throughput()
    );
    println!(
        "in-process hit p99 at half the bare load, open loop: {:.3} ms (goal <= 1 ms; the bare call's own p99 at that load: {:.3} ms)",
        local.half.pct(0.99),
        bare.half.pct(0.99)
    );
    let (before, after) = (&local.before, &local.after);
    println!(
        "in-process misses during the open-loop hit run (expiries refetched in the foreground): {} of {}",
        counter(after, "local", "miss") - counter(before, "local", "miss"),
        counter(after, "local", "hit") - counter(before, "local", "hit")
            + counter(after, "local", "miss")
            - counter(before, "local", "miss")
    );
}

fn print_postgres(pg: &Postgres) {
    let pg_rate = pg.rate;
    println!(
        "Postgres fallback, closed loop: p99 {:.3} ms (goal <= 5 ms); p50 vs raw select p50: {:.2}x (goal <= 1.5)",
        pg.closed.pct(0.99),
        pg.closed.pct(0.5) / pg.raw_closed.pct(0.5)
    );
    println!(
        "Postgres fallback, open loop at {pg_rate:.0}/s: p99 {:.3} ms (goal <= 5 ms); vs raw select: p50 {:.2}x, p99 {:.2}x (goal <= 1.5)",
        pg.open.pct(0.99),
        pg.open.pct(0.5) / pg.raw_open.pct(0.5),
        pg.open.pct(0.99) / pg.raw_open.pct(0.99)
    );
}
