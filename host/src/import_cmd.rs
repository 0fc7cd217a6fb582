//! `numbering import --file F --sig F.sig [--partial]`: the CLI trigger of
//! the signed lease import, with a progress bar (on a terminal) and a final
//! summary. A portability file (`atra-port-v1`, told by its header line)
//! goes to the portability import instead (all rows or none).

use std::{io::IsTerminal, path::Path, process::ExitCode, sync::Arc};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use numbering_import::{
    Importer, PortImportError, PortImporter, PortUpload, Progress, Upload, port_file::is_port_file,
};
use numbering_store::{Actor, Ctx, Store, imports::Imported, portings::Ported};

use crate::{config::Config, runtime::Database};

/// Exit code of a batch whose rows were refused (nothing applied).
const REJECTED: u8 = 1;
/// Exit code of a file refused as a whole (unreadable, signature, key, format).
const REFUSED: u8 = 2;

/// A refused input file: what could not be read and why, exit code 2.
fn unreadable(option: &str, path: &Path, error: &std::io::Error) -> ExitCode {
    eprintln!(
        "refused: {option} {}: {error}; nothing was imported",
        path.display()
    );
    ExitCode::from(REFUSED)
}

/// The progress bar: bytes parsed, then the database step.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn parsing(&self, total: u64) {
        self.0.set_length(total);
        self.0.set_message("parsing");
    }
    fn parsed(&self, done: u64) {
        self.0.set_position(done);
    }
    fn ingesting(&self, rows: u64) {
        self.0.set_message(format!("writing {rows} rows"));
    }
}

pub async fn run(config: &Config, file: &Path, sig: &Path, partial: bool) -> Result<ExitCode> {
    let limits = config.import;
    // the inputs first, before any database: a file that cannot be read is
    // refused as a whole, at once
    let (bytes, signature) = match (std::fs::read(file), std::fs::read(sig)) {
        (Ok(bytes), Ok(signature)) => (bytes, signature),
        (Err(e), _) => return Ok(unreadable("--file", file, &e)),
        (_, Err(e)) => return Ok(unreadable("--sig", sig, &e)),
    };
    if is_port_file(&bytes) {
        return run_port(config, file, bytes, signature, partial).await;
    }
    let db = Database::open(config, false).await?;
    let bar = progress_bar(bytes.len() as u64);
    let ctx = cli_ctx();
    let upload = Upload {
        file: bytes,
        signature,
        file_name: Some(file.display().to_string()),
        partial,
    };
    let importer = Importer::new(db.store.clone(), limits);
    let result = importer
        .import(&ctx, upload, Arc::new(Bar(bar.clone())))
        .await;
    bar.finish_and_clear();
    let code = match result {
        Ok(imported) => print_summary(&db.store, file, &imported).await?,
        Err(e) if !e.is_internal() => {
            eprintln!("refused: {} ({}); nothing was applied", e, e.code());
            ExitCode::from(REFUSED)
        }
        Err(e) => {
            db.close().await;
            return Err(e).context("the import failed inside the service");
        }
    };
    db.close().await;
    Ok(code)
}

fn cli_ctx() -> Ctx {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Ctx::new(Actor::system(&format!("import-cli:{user}")))
}

/// A portability file: applied through [`PortImporter`] (its `PortingSink`,
/// the same as the admin upload's), all rows or none.
async fn run_port(
    config: &Config,
    file: &Path,
    bytes: Vec<u8>,
    signature: Vec<u8>,
    partial: bool,
) -> Result<ExitCode> {
    if partial {
        eprintln!(
            "refused: --partial does not apply to a portability file (atra-port-v1: all rows or none); nothing was imported"
        );
        return Ok(ExitCode::from(REFUSED));
    }
    let db = Database::open(config, false).await?;
    let upload = PortUpload {
        file: bytes,
        signature,
        file_name: Some(file.display().to_string()),
    };
    let result = PortImporter::new(db.store.clone(), config.import)
        .import(&cli_ctx(), upload)
        .await;
    let code = match result {
        Ok(ported) => {
            print_port_summary(file, &ported);
            ExitCode::SUCCESS
        }
        Err(PortImportError::Rejected { total, rows }) => {
            println!("portability file {}  REJECTED", file.display());
            println!("  rows       {total} total, {} refused", rows.len());
            println!("  first refused lines:");
            for r in rows.iter().take(10) {
                println!("    line {}: {}", r.line, r.reason);
            }
            println!("  nothing was applied (all rows or none)");
            ExitCode::from(REJECTED)
        }
        Err(e) if !e.is_internal() => {
            eprintln!("refused: {} ({}); nothing was applied", e, e.code());
            ExitCode::from(REFUSED)
        }
        Err(e) => {
            db.close().await;
            return Err(e).context("the portability import failed inside the service");
        }
    };
    db.close().await;
    Ok(code)
}

fn print_port_summary(file: &Path, ported: &Ported) {
    let b = ported.batch();
    println!("porting import {}  APPLIED", b.id);
    if matches!(ported, Ported::Existing(_)) {
        println!("  this file was imported before: nothing changed (the first batch is shown)");
    }
    println!("  file       {}", file.display());
    println!(
        "  sha256     {}",
        b.json["source_ref"].as_str().unwrap_or_default()
    );
    println!("  rows       {} ported numbers", b.total_rows);
}

/// A bar of `len` bytes on a terminal, hidden otherwise.
fn progress_bar(len: u64) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:<20} [{bar:40}] {bytes}/{total_bytes} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("verifying");
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The batch's summary and its first refused lines; exit code 1 when
/// nothing was applied.
async fn print_summary(store: &Store, file: &Path, imported: &Imported) -> Result<ExitCode> {
    let b = imported.batch();
    let errors = store.import_errors(b.id, 0, 10).await?;
    println!("import {}  {}", b.id, b.status);
    if matches!(imported, Imported::Existing(_)) {
        println!("  this file was imported before: nothing changed (the first batch is shown)");
    }
    println!("  file       {}", file.display());
    println!(
        "  sha256     {}",
        b.json["file_sha256"].as_str().unwrap_or_default()
    );
    println!(
        "  rows       {} total, {} applied, {} rejected",
        b.total_rows, b.applied_rows, b.rejected_rows
    );
    if !errors.is_empty() {
        println!("  first refused lines:");
        for e in &errors {
            println!(
                "    line {}: {}",
                e["line"],
                e["reason"].as_str().unwrap_or_default()
            );
        }
        if b.rejected_rows as usize > errors.len() {
            println!(
                "    … all {} at GET /v1/admin/numbering/imports/{}/errors",
                b.rejected_rows, b.id
            );
        }
    }
    if b.status == "REJECTED" {
        println!("  nothing was applied (all-or-nothing; --partial applies the good rows)");
        Ok(ExitCode::from(REJECTED))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
