//! `numbering audit archive [--dry-run]` and `numbering audit verify-archive
//! PARTITION`: the retention job on demand, and the proof that an archived
//! partition still matches the hash chain.

use std::process::ExitCode;

use anyhow::{Context, Result};
use numbering_export::archive::{self, Outcome};

use crate::{audit_jobs::worm_store, config::Config, runtime::Database};

fn archive_uri(config: &Config) -> Result<&str> {
    config
        .audit_jobs
        .archive_uri
        .as_deref()
        .context("NUMBERING_AUDIT_ARCHIVE_URI is not set (s3://bucket/prefix or a directory)")
}

pub async fn archive(config: Config, dry_run: bool) -> Result<ExitCode> {
    let worm = worm_store(archive_uri(&config)?).await;
    let db = Database::open(&config, false).await?;
    let outcomes = archive::archive_due(db.store.pool(), worm.as_ref(), dry_run).await;
    db.close().await;
    let outcomes = outcomes?;
    if outcomes.is_empty() {
        println!(
            "no audit partition is due for archiving (months that ended 13 months ago or more)"
        );
    }
    for o in &outcomes {
        match o {
            Outcome::Archived(a) => println!(
                "archived {} ({}): {} entries, chain {}..{}, sha256 {} -> {}; detached",
                a.partition,
                a.month,
                a.entry_count,
                a.first_seq.map_or("-".into(), |s| s.to_string()),
                a.last_seq.map_or("-".into(), |s| s.to_string()),
                hex::encode(a.object_sha256),
                a.storage_uri
            ),
            Outcome::Detached { partition } => {
                println!("{partition} was already archived; detached")
            }
            Outcome::WouldArchive { partition, entries } => {
                println!("would archive {partition}: {entries} entries (dry run: nothing written)")
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify_archive(config: Config, partition: &str) -> Result<ExitCode> {
    let worm = worm_store(archive_uri(&config)?).await;
    let db = Database::open(&config, false).await?;
    let check = archive::verify_archive(db.store.pool(), worm.as_ref(), partition).await;
    db.close().await;
    let check = check?;
    Ok(match &check.problem {
        None => {
            println!(
                "archive of {} intact: {} entries match the hash chain ({})",
                check.partition, check.entries_verified, check.storage_uri
            );
            ExitCode::SUCCESS
        }
        Some(problem) => {
            println!(
                "archive of {} does NOT match: {problem} ({})",
                check.partition, check.storage_uri
            );
            ExitCode::from(1)
        }
    })
}
