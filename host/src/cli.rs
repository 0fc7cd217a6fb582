//! The `numbering` command line.

use std::{process::ExitCode, time::Duration};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::{
    audit_cmd,
    config::Config,
    demo,
    events::Events,
    import_cmd,
    nats::EmbeddedNats,
    runtime::{self, Database},
    seed_cmd,
    serve::{self, AppState},
    telemetry, token,
};

#[derive(Debug, Parser)]
#[command(
    name = "numbering",
    version,
    about = "numbering-service: who may send from which sender identifier"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the all-in-one host: REST and gRPC on NUMBERING_LISTEN (default
    /// 127.0.0.1:8080). With no DATABASE_URL it starts a private Postgres
    /// under NUMBERING_DATA_DIR (default .numbering) with demo data.
    /// DATABASE_URL may list several servers (postgres://u@h1:5432,h2:5432/db):
    /// it writes through the read-write one, is ready only while it has one,
    /// and follows a promotion without a restart.
    Serve,
    /// Apply the database migrations (owner credentials: NUMBERING_MIGRATE_DATABASE_URL or DATABASE_URL).
    Migrate,
    /// Import a signed MNO (MSISDN) or ATRA (short-code) lease file into
    /// inventory: verify its detached signature with the signer's key from
    /// mno_signing_keys, check every row, apply all rows or none (or, with
    /// --partial, the good ones), and print the batch. A file with the
    /// header `msisdn,mcc,mnc,ported_at` is an ATRA portability file
    /// (atra-port-v1): its numbers move to their recipient operators, all
    /// rows or none (--partial is refused). Exit code 0: applied
    /// (or partial, or imported before); 1: rows refused, nothing applied;
    /// 2: the file was refused as a whole (unreadable, signature, key or
    /// format). On the data directory of a running `serve` it uses that
    /// serve's embedded cluster.
    /// The largest file: NUMBERING_IMPORT_MAX_BYTES (default 128 MiB).
    Import {
        /// The CSV exactly as signed: `msisdn,mcc,mnc,contract_ref,vanity`,
        /// `short_code,contract_ref` or `msisdn,mcc,mnc,ported_at`.
        #[arg(long, value_name = "F")]
        file: std::path::PathBuf,
        /// Its detached signature, JSON `{"key_id", "algorithm", "signature"}`.
        #[arg(long, value_name = "F.sig")]
        sig: std::path::PathBuf,
        /// Apply the good rows and record the refused ones, instead of
        /// all-or-nothing.
        #[arg(long)]
        partial: bool,
    },
    /// Audit trail operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Seed data from the legacy system.
    Seed {
        #[command(subcommand)]
        command: SeedCommand,
    },
    /// Generate the regulator export (atra-v1) of a month — a new version,
    /// signed and stored write-once — or dry-run it; `export verify` checks a
    /// stored one; `export public-key` prints the signer's public key;
    /// `export scheduled` is the monthly run, once (for a CronJob).
    /// Signer and store: NUMBERING_EXPORT_SIGNER, NUMBERING_EXPORT_STORE.
    #[command(args_conflicts_with_subcommands = true)]
    Export {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: Option<String>,
        /// Build and print the manifest; store and record nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(subcommand)]
        command: Option<crate::export::ExportCommand>,
    },
    /// Evaluate the seed's exit criteria and success metrics of a rollout
    /// phase from the live system and print criterion, target, measured
    /// value, PASS / FAIL / NOT ENOUGH DATA and the window it covered.
    /// Sources: Prometheus (--prometheus) for rates over days, else the
    /// host's /metrics (--metrics-url, default http://NUMBERING_LISTEN/metrics)
    /// over its life; the database (DATABASE_URL, or the embedded cluster
    /// under NUMBERING_DATA_DIR) for conversion, chain-verify history and
    /// export acknowledgements. Exit code 0 only if every criterion passes.
    Readiness {
        /// The phase: 1, 2 or 3.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
        phase: u8,
        /// Print `{"phase", "pass", "criteria": [...]}` instead of the table.
        #[arg(long)]
        json: bool,
        /// A Prometheus server scraping the service (base URL).
        #[arg(long, value_name = "URL", env = "NUMBERING_PROMETHEUS_URL")]
        prometheus: Option<String>,
        /// The running host's metrics endpoint.
        #[arg(long, value_name = "URL")]
        metrics_url: Option<String>,
    },
    /// Mint a development token (needs NUMBERING_JWT_HS256_SECRET, or the
    /// embedded default's secret under NUMBERING_DATA_DIR).
    Token {
        /// Tenant id (required for tenant_pool_admin).
        #[arg(long)]
        tenant: Option<String>,
        /// Binds the token to one account of the tenant (the `account_id`
        /// claim): it reserves for that account and may name no other.
        #[arg(long)]
        account: Option<String>,
        /// tenant_pool_admin or platform_admin.
        #[arg(long, default_value = "tenant_pool_admin")]
        role: String,
        /// The token's subject (user).
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Lifetime, e.g. 12h or 30m.
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Seal pending entries, recompute the whole hash chain, compare its
    /// head with the newest signed checkpoint (export store and, with
    /// NATS_URL, the NUMBERING_AUDIT stream) and report the first broken
    /// position (exit code 1 if broken, e.g. "head seq S is behind
    /// checkpoint seq C"); an intact head is checkpointed.
    Verify,
    /// Archive the partitions whose month ended 13 months ago or more to
    /// NUMBERING_AUDIT_ARCHIVE_URI, then detach them.
    Archive {
        /// List what would be archived; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-verify an archived partition's object against the hash chain
    /// (exit code 1 if it does not match).
    VerifyArchive {
        /// The partition, e.g. audit_log_y2025m07.
        partition: String,
    },
}

#[derive(Debug, Subcommand)]
enum SeedCommand {
    /// Reserve + Assign each row of a legacy-lease CSV
    /// (`identifier,tenant_id,leased_at,term_end,auto_renew`) through the
    /// normal lifecycle; safe to re-run (exit code 1 if any row failed).
    LegacyLeases {
        #[arg(long)]
        csv: std::path::PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    numbering_clients::traces::flush();
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = Database::open(&config, true).await?;
            println!("migrations applied");
            db.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, sig, partial } => {
            import_cmd::run(&config, &file, &sig, partial).await
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(config).await,
        Command::Audit {
            command: AuditCommand::Archive { dry_run },
        } => audit_cmd::archive(config, dry_run).await,
        Command::Audit {
            command: AuditCommand::VerifyArchive { partition },
        } => audit_cmd::verify_archive(config, &partition).await,
        Command::Seed {
            command: SeedCommand::LegacyLeases { csv },
        } => seed_cmd::legacy_leases(config, &csv).await,
        Command::Export {
            period,
            dry_run,
            command,
        } => crate::export::run(config, period, dry_run, command).await,
        Command::Readiness {
            phase,
            json,
            prometheus,
            metrics_url,
        } => {
            let args = crate::readiness::cmd::Args {
                phase,
                json,
                prometheus,
                metrics_url,
            };
            crate::readiness::cmd::run(config, args).await
        }
        Command::Token {
            tenant,
            account,
            role,
            subject,
            ttl,
        } => {
            let mut jwt = config.edge.jwt.clone();
            jwt.hs256_secret = runtime::dev_secret(&config)?;
            let ttl = numbering_shared::policy::parse_duration(&ttl)
                .with_context(|| format!("--ttl {ttl:?}"))?;
            println!(
                "{}",
                token::mint_for_account(
                    &jwt,
                    &subject,
                    tenant.as_deref(),
                    account.as_deref(),
                    &role,
                    ttl
                )?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(config: Config) -> Result<ExitCode> {
    let metrics = telemetry::metrics();
    let db = Database::open_for_serve(&config).await?;
    if config.demo_data && demo::seed(&db.owner_url).await? {
        tracing::info!("seeded demo data");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (validator, tiers_line) = hot_path(&config, &db).await?;
    let (embedded_nats, nats_line) = start_nats(&config);
    let events = connect_events(&config, embedded_nats.as_ref()).await?;
    let grpc_tls = grpc_tls_listener(&config).await?;
    print_banner(&config, &db, addr, &tiers_line, &nats_line)?;
    // the relay projects into the DynamoDB lease cache before it publishes the invalidation
    let projection = validator.reader().dynamo().is_some().then(|| {
        std::sync::Arc::new(numbering_outbox_relay::LeaseCacheProjection::new(
            db.store.clone(),
            std::sync::Arc::new(validator.reader().clone()),
        )) as std::sync::Arc<dyn numbering_outbox_relay::Projection>
    });
    let extras = serve::Extras {
        audit: config.audit_jobs.clone(),
        grpc_tls,
        nats: events.as_ref().map(|e| e.nats.clone()),
        projection,
        ops: bind_ops(&config).await?,
        no_export_schedule: !config.export_schedule,
        drain: Some(config.shutdown_drain),
        forecast_every: Some(config.forecast_every),
    };
    let mut edge = crate::export::with_exports(
        serve::edge(&config, runtime::dev_secret(&config)?.as_deref())?,
        &config,
    )
    .await?;
    edge.readiness = Some(crate::readiness::cmd::HostReadiness::new(
        db.store.pool().clone(),
        metrics.clone(),
        std::env::var("NUMBERING_PROMETHEUS_URL").ok().as_deref(),
    )?);
    let state = AppState {
        store: db.store.clone(),
        metrics,
        grpc_on_plaintext: extras.grpc_tls.is_none(),
        validator,
        edge,
        events,
    };
    let seal_every = Duration::from_millis(config.audit_seal_interval_ms);
    let result = serve::run(
        state,
        listener,
        seal_every,
        extras,
        serve::shutdown_signal(),
    )
    .await;
    drop(embedded_nats);
    close_database(db).await;
    tracing::info!("stopped");
    result.map(|()| ExitCode::SUCCESS)
}

/// The event side's NATS connection, when there is a NATS to connect to.
async fn connect_events(
    config: &Config,
    embedded: Option<&EmbeddedNats>,
) -> Result<Option<Events>> {
    Ok(match nats_url(config, embedded) {
        Some(url) => Some(
            Events::connect(
                &url,
                config.billing.client()?,
                config.inbound_stream.as_deref(),
            )
            .await?,
        ),
        None => None,
    })
}

/// The ops listener, bound, when `NUMBERING_OPS_LISTEN` is set.
async fn bind_ops(config: &Config) -> Result<Option<tokio::net::TcpListener>> {
    Ok(match config.ops_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding {at}"))?,
        ),
        None => None,
    })
}

async fn close_database(db: Database) {
    if db.embedded.is_some() {
        db.close().await;
    } else {
        // a request still holding a connection past the drain time must not
        // hold up the exit either
        let _ = tokio::time::timeout(crate::drain::JOBS_STOP_GRACE, db.close()).await;
    }
}

/// The mTLS listener, bound, when `NUMBERING_GRPC_TLS_LISTEN` is set.
async fn grpc_tls_listener(config: &Config) -> Result<Option<serve::GrpcTls>> {
    Ok(match &config.grpc_tls {
        Some(t) => {
            let files = crate::tls_reload::TlsFiles {
                cert: t.cert_pem.clone(),
                key: t.key_pem.clone(),
                client_ca: t.client_ca_pem.clone(),
            };
            let tls = crate::tls_reload::ServerTls::watch(files, config.tls_reload_every)
                .context("the mTLS listener's certificate")?;
            let listener = tokio::net::TcpListener::bind(t.listen)
                .await
                .with_context(|| format!("binding {}", t.listen))?;
            Some(serve::GrpcTls {
                listener,
                tls,
                allowlist: t.allowed_callers.clone(),
            })
        }
        None => None,
    })
}

/// The hot path's read tiers from configuration, and a line saying which.
pub async fn hot_path(
    config: &Config,
    db: &Database,
) -> Result<(numbering_validate_lease::Validator, String)> {
    let hp = &config.hot_path;
    let dynamo = hp.dynamo_tier().await;
    let line = match (&dynamo, &hp.lease_cache_table) {
        (Some(tier), Some(table)) => {
            if let Err(e) = tier.ensure_table().await {
                tracing::warn!(error = %e, table, "could not check or create the lease-cache table");
            }
            format!("in-process -> DynamoDB table {table} -> Postgres")
        }
        _ => "in-process -> Postgres (no DynamoDB lease cache configured: NUMBERING_LEASE_CACHE_TABLE)".to_owned(),
    };
    let reader = hp.reader(&db.store, dynamo).await?;
    let line = match &hp.replica {
        Some(r) => format!(
            "{line}; Postgres tier and Lookup: standby DATABASE_REPLICA_URL first (max lag {:?})",
            r.max_lag
        ),
        None => line,
    };
    Ok((numbering_validate_lease::Validator::new(reader), line))
}

/// With no `NATS_URL`, a private `nats-server -js` under the data dir
/// (port `NUMBERING_NATS_PORT`, default a free one). Without the binary the
/// service still runs, without events (the banner says so).
fn start_nats(config: &Config) -> (Option<EmbeddedNats>, String) {
    if config.nats_url.is_some() {
        return (None, "  NATS         NATS_URL\n".into());
    }
    let port = std::env::var("NUMBERING_NATS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let dir = config.data_dir.join("nats");
    match EmbeddedNats::start(&dir, port) {
        Ok(nats) => {
            let line = format!(
                "  NATS         {} (embedded JetStream; data in {})\n",
                nats.url(),
                dir.display()
            );
            (Some(nats), line)
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no NATS: events, consumers and the sweeper are off");
            (
                None,
                format!("  NATS         not started ({e}); events are off\n"),
            )
        }
    }
}

fn nats_url(config: &Config, embedded: Option<&EmbeddedNats>) -> Option<String> {
    config
        .nats_url
        .clone()
        .or_else(|| embedded.map(EmbeddedNats::url))
}

fn print_banner(
    config: &Config,
    db: &Database,
    addr: std::net::SocketAddr,
    tiers: &str,
    nats_line: &str,
) -> Result<()> {
    let mut out = String::new();
    out.push_str("\nnumbering-service is up\n");
    out.push_str(&format!(
        "  REST + gRPC  http://{addr}  (plaintext, one port)\n"
    ));
    match &config.grpc_tls {
        Some(t) => out.push_str(&format!(
            "  gRPC mTLS    https://{}  (NumberingService and its JSON routes for {} allowlisted identities only)\n",
            t.listen,
            t.allowed_callers.len()
        )),
        None => out.push_str("  gRPC         numbering.v1.NumberingService, grpc.health.v1, reflection on the port above\n"),
    }
    out.push_str(&format!("  hot path     {tiers}\n"));
    out.push_str(&format!(
        "  console      http://{addr}/console/  (Commerce Ops: paste the platform-admin token)   API docs: http://{addr}/docs\n"
    ));
    out.push_str(&format!("  health       http://{addr}/healthz   ready: http://{addr}/readyz   metrics: http://{addr}/metrics\n"));
    if let Some(ops) = config.ops_listen {
        out.push_str(&format!(
            "  ops          http://{ops}  (/healthz, /readyz, /metrics only)\n"
        ));
    }
    match &db.embedded {
        Some(pg) => out.push_str(&format!(
            "  Postgres     {} (embedded; data in {})\n",
            pg.url("numbering"),
            pg.data_dir().display()
        )),
        None => out.push_str("  Postgres     DATABASE_URL\n"),
    }
    out.push_str(nats_line);
    let mut jwt = config.edge.jwt.clone();
    jwt.hs256_secret = runtime::dev_secret(config)?;
    if jwt.hs256_secret.is_some() {
        out.push_str("  dev tokens (12 h; more with `numbering token --tenant T --role R`):\n");
        let ttl = chrono::Duration::hours(12);
        for tenant in demo::DEMO_TENANTS {
            let t = token::mint(&jwt, "demo-user", Some(tenant), "tenant_pool_admin", ttl)?;
            out.push_str(&format!("    {tenant:<16} {t}\n"));
        }
        // a second admin approves what the first requests (the two-person rule)
        let t = token::mint(&jwt, "demo-approver", None, "platform_admin", ttl)?;
        out.push_str(&format!("    {:<16} {t}\n", "second admin"));
        let t = token::mint(&jwt, "demo-admin", None, "platform_admin", ttl)?;
        out.push_str(&format!("    {:<16} {t}\n", "platform admin"));
    }
    println!("{out}");
    Ok(())
}

async fn audit_verify(config: Config) -> Result<ExitCode> {
    let db = Database::open(&config, false).await?;
    let pool = db.store.pool().clone();
    let sealed = numbering_store::audit::seal_pending(&pool, Duration::from_secs(30)).await?;
    let nats = match &config.nats_url {
        Some(url) => {
            match tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url.as_str()))
                .await
            {
                Ok(Ok(client)) => Some(client),
                _ => {
                    eprintln!(
                        "warning: NATS at {url} unreachable: checkpoints on the stream not read"
                    );
                    None
                }
            }
        }
        None => None,
    };
    let tools = crate::export::tools(&config).await?;
    let checkpointer = crate::audit_jobs::checkpointer(Some(&tools), nats);
    let done = crate::audit_jobs::verify_once(&db.store, checkpointer.as_ref()).await?;
    for r in done.refused.iter().chain(&done.unreadable) {
        println!("warning: checkpoint refused: {} ({})", r.location, r.reason);
    }
    match (&done.checkpoint, &done.written) {
        (Some(c), _) if !done.report.is_intact() => println!(
            "compared with the checkpoint of seq {} taken {}",
            c.seq,
            c.time.to_rfc3339()
        ),
        (_, Ok(Some(c))) => println!(
            "checkpointed seq {} in {}",
            c.seq,
            checkpointer
                .as_ref()
                .map(|c| c.describe())
                .unwrap_or_default()
        ),
        (_, Err(e)) => println!("warning: head not checkpointed: {e}"),
        _ => {}
    }
    let report = done.report;
    let head = report
        .head
        .as_ref()
        .map(|h| format!("seq {} hash {}", h.seq, h.hash_hex()))
        .unwrap_or_else(|| "empty".into());
    let code = match &report.first_break {
        None => {
            println!(
                "audit chain intact: {} entries verified, {} archived (sealed {sealed} just now, {} still pending); head {head}",
                report.checked, report.archived, report.pending
            );
            ExitCode::SUCCESS
        }
        Some(b) => {
            println!(
                "audit chain BROKEN at position {}: {} ({} entries verified before it)",
                b.position, b.kind, report.checked
            );
            ExitCode::from(1)
        }
    };
    db.close().await;
    Ok(code)
}
