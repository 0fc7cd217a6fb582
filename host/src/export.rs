//! The regulator export in the host: `numbering export …` and the monthly
//! schedule of `numbering serve` (01:00 UTC on the 1st, for the previous
//! month; replicas serialise on an advisory lock and skip a period that
//! already has an export).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use clap::Subcommand;
use numbering_export::{ExportTools, Exporter, Outcome, Period, verify::verify_stored};
use numbering_http_edge::Edge;
use numbering_store::{Actor, Ctx};
use tokio::sync::watch;

use crate::{config::Config, runtime::Database};

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Check a stored export: the manifest's signature with the public key,
    /// and every file's SHA-256 and size (exit code 1 on any mismatch).
    Verify {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: String,
        /// The version (default: the latest generated one of the period).
        #[arg(long)]
        version: Option<i32>,
        /// A trusted public key (SPKI PEM); default: the configured signer's.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Print the configured signer's public key (SPKI PEM), the one
    /// `export verify --public-key` and other verifiers of an export take.
    /// For the local signer it is what `openssl pkey -in KEY -pubout`
    /// prints (the key file is generated first if absent).
    PublicKey,
    /// The monthly run, once: export the previous month unless it already
    /// has an export (another run holding the schedule's lock also counts
    /// as done). What the Kubernetes CronJob runs at 01:00 UTC on the 1st,
    /// with NUMBERING_EXPORT_SCHEDULE_ENABLED=false on the hosts. Exit code
    /// 0 when the month is exported or already was, 1 when the run failed
    /// (the Job retries).
    Scheduled,
}

/// The signer and WORM store from the environment (`NUMBERING_EXPORT_*`).
pub async fn tools(config: &Config) -> Result<ExportTools> {
    config
        .export
        .tools(&config.data_dir)
        .await
        .context("regulator export configuration")
}

/// `edge` with the export machinery for the admin routes.
pub async fn with_exports(mut edge: Edge, config: &Config) -> Result<Edge> {
    edge.exports = Some(tools(config).await?);
    Ok(edge)
}

/// `numbering export --period P [--dry-run]` and `numbering export verify …`.
pub async fn run(
    config: Config,
    period: Option<String>,
    dry_run: bool,
    command: Option<ExportCommand>,
) -> Result<ExitCode> {
    let verify_args = match command {
        // needs only the signer, not the database
        Some(ExportCommand::PublicKey) => return public_key(&config).await,
        Some(ExportCommand::Verify {
            period,
            version,
            public_key,
        }) => Some((period, version, public_key)),
        Some(ExportCommand::Scheduled) => return scheduled_once(&config).await,
        None => None,
    };
    let db = Database::open(&config, false).await?;
    let exporter = tools(&config).await?.exporter(db.store.pool().clone());
    let result = match verify_args {
        Some((period, version, public_key)) => {
            verify(&exporter, &period, version, public_key).await
        }
        None => {
            let period = period.context("--period YYYY-MM is required")?;
            generate(&exporter, &period, dry_run).await
        }
    };
    db.close().await;
    result
}

/// `numbering export scheduled`.
async fn scheduled_once(config: &Config) -> Result<ExitCode> {
    let db = Database::open(config, false).await?;
    let exporter = tools(config).await?.exporter(db.store.pool().clone());
    let period = Period::previous(Utc::now());
    let result = exporter.scheduled(Utc::now()).await;
    db.close().await;
    match result? {
        Some(record) => println!(
            "export {} of {} version {} GENERATED; stored at {}",
            record.id,
            record.period,
            record.version,
            record.storage_uri.unwrap_or_default()
        ),
        None => {
            println!("{period} already has an export (or another run is making it): nothing to do")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `numbering export public-key`.
async fn public_key(config: &Config) -> Result<ExitCode> {
    let signer = config
        .export
        .signer(&config.data_dir)
        .await
        .context("regulator export signer")?;
    let identity = signer
        .identity()
        .await
        .context("reading the signer's public key")?;
    print!("{}", identity.public_key_pem);
    Ok(ExitCode::SUCCESS)
}

async fn generate(exporter: &Exporter, period: &str, dry_run: bool) -> Result<ExitCode> {
    let period = Period::parse(period)?;
    let ctx = Ctx::new(Actor::system("cli"));
    match exporter.generate(period, &ctx, dry_run).await? {
        Outcome::DryRun(manifest) => {
            println!("dry run of {period}: nothing stored");
            println!("{}", String::from_utf8_lossy(&manifest.to_bytes()));
        }
        Outcome::Generated(record, manifest) => {
            let counts: Vec<String> = manifest
                .files
                .iter()
                .map(|f| format!("{} {} rows", f.name, f.rows))
                .collect();
            println!(
                "export {} of {period} version {} GENERATED: {}; stored at {}; signed by {}",
                record.id,
                record.version,
                counts.join(", "),
                record.storage_uri.unwrap_or_default(),
                record.signer_key_id.unwrap_or_default(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    exporter: &Exporter,
    period: &str,
    version: Option<i32>,
    public_key: Option<PathBuf>,
) -> Result<ExitCode> {
    let period = Period::parse(period)?;
    let version = match version {
        Some(v) => v,
        None => exporter.latest_generated(period).await?.version,
    };
    let public_key = match public_key {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("--public-key {}", path.display()))?,
        None => exporter.signer().identity().await?.public_key_pem,
    };
    let prefix = format!("{period}/v{version}");
    match verify_stored(exporter.store().as_ref(), &prefix, &public_key).await {
        Ok(verified) => {
            println!(
                "export {period} v{version} verified: signature ({} by {}) and {} file checksums match; stored at {}/{prefix}",
                verified.signature.algorithm,
                verified.signature.key_id,
                verified.manifest.files.len(),
                exporter.store().describe(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("export {period} v{version} does NOT verify: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The next 01:00 UTC on the 1st of a month strictly after `now`.
pub fn next_run(now: DateTime<Utc>) -> DateTime<Utc> {
    let this_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 1, 0, 0)
        .single()
        .unwrap_or(now);
    if this_month > now {
        this_month
    } else {
        Period::containing(now).end() + chrono::Duration::hours(1)
    }
}

/// Runs the monthly export at each due time until `stop` turns true. On
/// start it first catches up a run missed while no host was up (the
/// previous month, if due and without an export; see `Exporter::catch_up`).
pub async fn schedule(exporter: Exporter, mut stop: watch::Receiver<bool>) {
    match exporter.catch_up(Utc::now()).await {
        Ok(Some(record)) => tracing::warn!(
            period = %record.period,
            version = record.version,
            "made the regulator export the schedule missed while no host was up"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "catching up the regulator export failed"),
    }
    loop {
        let due = next_run(Utc::now());
        let wait = (due - Utc::now()).to_std().unwrap_or_default();
        // sleep in steps of at most an hour, so clock changes are noticed
        tokio::select! {
            _ = tokio::time::sleep(wait.min(Duration::from_secs(3600))) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if Utc::now() < due {
            continue;
        }
        match exporter.scheduled(Utc::now()).await {
            Ok(Some(record)) => {
                tracing::info!(period = %record.period, version = record.version, "scheduled regulator export generated")
            }
            Ok(None) => tracing::info!(
                "scheduled regulator export: the period already has one (or another replica is making it)"
            ),
            Err(e) => tracing::error!(error = %e, "scheduled regulator export failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_is_01_utc_on_the_first() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            next_run(at("2026-11-26T07:00:00Z")),
            at("2026-12-01T01:00:00Z")
        );
        assert_eq!(
            next_run(at("2026-12-01T00:59:59Z")),
            at("2026-12-01T01:00:00Z")
        );
        assert_eq!(
            next_run(at("2026-12-01T01:00:00Z")),
            at("2027-01-01T01:00:00Z")
        );
        assert_eq!(
            next_run(at("2026-12-31T23:00:00Z")),
            at("2027-01-01T01:00:00Z")
        );
    }
}
