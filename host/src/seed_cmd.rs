//! `numbering seed legacy-leases --csv=PATH`: carries leases from the legacy
//! system over through the normal lifecycle (see `numbering_import::legacy`),
//! with a progress bar on a terminal, one line per failed row and a summary.

use std::{io::IsTerminal, path::Path, process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use numbering_import::legacy::{self, Outcome};

use crate::{config::Config, runtime::Database};

/// Seeds the file; exits 1 if any row failed (the others are seeded).
pub async fn legacy_leases(config: Config, csv: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(csv).with_context(|| format!("reading {}", csv.display()))?;
    let file = legacy::parse(&bytes).with_context(|| csv.display().to_string())?;
    let registry = numbering_clients::sender_id_registry(
        config.portal.sender_id_registry_url.as_deref(),
        Duration::from_secs(2),
    )
    .context("NUMBERING_SENDER_ID_REGISTRY_URL")?;
    let db = Database::open(&config, false).await?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(file.rows.len() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    } else {
        ProgressBar::hidden()
    };
    let summary = legacy::seed(&db.store, registry.as_ref(), &file, |outcome| {
        if let Outcome::Failed(f) = outcome {
            bar.suspend(|| println!("{f}"));
        }
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();
    println!(
        "legacy leases from {}: {} rows, {} seeded, {} already seeded, {} failed",
        csv.display(),
        summary.rows,
        summary.seeded,
        summary.already_seeded,
        summary.failures.len()
    );
    db.close().await;
    Ok(if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
