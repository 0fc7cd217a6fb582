//! Import of a signed 1,000,000-row MSISDN file, end to end, beside a raw
//! `COPY` of the same rows into a bare table in the same run.
//!
//! Goal (issue 6): ≤ 30 s end to end and ≤ 3 × the raw COPY.
//!
//! ```sh
//! cargo build --profile perf -p numbering-tests --bin bench-import
//! ./target/perf/bench-import --rows 1000000
//! ```

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use numbering_import::{Importer, Limits, Quiet, Upload, file};
use numbering_store::imports::Imported;
use numbering_tests::{
    TestDb,
    imports::{MnoKey, roshan_file},
    system_ctx,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows = numbering_tests::bench_arg("--rows", 1_000_000).min(1_000_000);
    let db = TestDb::new().await;
    let key = seed_contract(&db).await?;
    let bytes = roshan_file(1_000_000, rows, "ROSHAN-BENCH");
    let sig = key.sign(&bytes);
    println!(
        "file: {rows} rows, {:.1} MB, Ed25519-signed",
        bytes.len() as f64 / 1e6
    );
    let parse = time_parse(&bytes, rows)?;
    let import = time_import(&db, &bytes, sig, rows).await?;
    let raw = time_raw_copy(&db, &bytes, rows).await?;
    report(rows, parse, import, raw);
    Ok(())
}

/// A contract covering +93791000000 … +93791999999, and roshan's signing key.
async fn seed_contract(db: &TestDb) -> anyhow::Result<MnoKey> {
    sqlx::query(
        "INSERT INTO numbering.lease_contracts (contract_ref, operator_id, kind, range_start, range_end, starts_on) \
         VALUES ('ROSHAN-BENCH', 'roshan', 'MSISDN', '+93791000000', '+93791999999', '2026-06-01')",
    )
    .execute(&db.owner)
    .await?;
    let key = MnoKey::ed25519("roshan-bench");
    key.install(db, Some("roshan")).await;
    Ok(key)
}

/// Parsing alone, for the breakdown.
fn time_parse(bytes: &[u8], rows: u64) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let parsed = file::parse(bytes, &Limits::default(), None, &mut |_| {})?;
    let parse = t.elapsed();
    assert_eq!(parsed.rows.len() as u64, rows);
    drop(parsed);
    Ok(parse)
}

/// The import end to end, checked to apply every row.
async fn time_import(
    db: &TestDb,
    bytes: &[u8],
    signature: Vec<u8>,
    rows: u64,
) -> anyhow::Result<Duration> {
    let importer = Importer::new(db.store.clone(), Limits::default());
    let t = Instant::now();
    let imported = importer
        .import(
            &system_ctx(),
            Upload {
                file: bytes.to_vec(),
                signature,
                file_name: Some("bench.csv".into()),
                partial: false,
            },
            Arc::new(Quiet),
        )
        .await?;
    let import = t.elapsed();
    let Imported::Created(b) = imported else {
        anyhow::bail!("the file was imported before")
    };
    anyhow::ensure!(
        b.status == "APPLIED" && b.applied_rows as u64 == rows,
        "unexpected batch {:?}",
        b.json
    );
    Ok(import)
}

/// The same bytes through a raw COPY into a bare table.
async fn time_raw_copy(db: &TestDb, bytes: &[u8], rows: u64) -> anyhow::Result<Duration> {
    let mut conn = db.owner.acquire().await?;
    sqlx::query(
        "CREATE TABLE bench_raw (msisdn text, mcc text, mnc text, contract_ref text, vanity boolean)",
    )
    .execute(&mut *conn)
    .await?;
    let t = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)")
        .await?;
    for chunk in bytes.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    let copied = copy.finish().await?;
    let raw = t.elapsed();
    anyhow::ensure!(copied == rows, "COPY loaded {copied} rows");
    Ok(raw)
}

fn report(rows: u64, parse: Duration, import: Duration, raw: Duration) {
    println!(
        "import end to end: {:.2} s ({:.0} rows/s; parsing alone {:.2} s)",
        import.as_secs_f64(),
        rows as f64 / import.as_secs_f64(),
        parse.as_secs_f64()
    );
    println!(
        "raw COPY into a bare table: {:.2} s ({:.0} rows/s)",
        raw.as_secs_f64(),
        rows as f64 / raw.as_secs_f64()
    );
    println!(
        "ratio: {:.2} x raw COPY (goal <= 3); goal <= 30 s end to end: {}",
        import.as_secs_f64() / raw.as_secs_f64(),
        if import.as_secs_f64() <= 30.0 {
            "met"
        } else {
            "missed"
        }
    );
}
