//! `numbering readiness`, and the host's answer to the admin route.

use std::{process::ExitCode, sync::Arc};

use anyhow::Result;
use metrics_exporter_prometheus::PrometheusHandle;
use numbering_clients::BoxFuture;
use sqlx::PgPool;

use super::{
    Report, evaluate, measure::Metrics, phases::Sources, prom::Prometheus, scrape::Scrape,
};
use crate::{config::Config, runtime::Database};

/// What `numbering readiness` was asked.
#[derive(Debug, Clone)]
pub struct Args {
    pub phase: u8,
    pub json: bool,
    pub prometheus: Option<String>,
    pub metrics_url: Option<String>,
}

/// Evaluates the phase against the database (as every command finds it),
/// the host's `/metrics` and, if given, Prometheus; prints the table or
/// the JSON. Exit code 0 only if every criterion passes.
pub async fn run(config: Config, args: Args) -> Result<ExitCode> {
    let db = Database::open(&config, false).await?;
    let url = args
        .metrics_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/metrics", config.listen));
    let metrics = Metrics {
        prometheus: args
            .prometheus
            .as_deref()
            .map(Prometheus::new)
            .transpose()?,
        scrape: scrape(&url).await,
    };
    let sources = Sources {
        pool: db.store.pool().clone(),
        metrics,
    };
    let report = evaluate(args.phase, &sources).await;
    db.close().await;
    print(&report, args.json)?;
    Ok(if report.pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// One scrape of `url`, or why not.
async fn scrape(url: &str) -> Result<Scrape, String> {
    let answer = async {
        let r = reqwest::Client::new()
            .get(url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await?
            .error_for_status()?;
        r.text().await
    };
    match answer.await {
        Ok(text) => Ok(Scrape::parse(&text)),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

/// The host's readiness report for the admin route: its own metrics (no
/// HTTP round trip), Prometheus when `NUMBERING_PROMETHEUS_URL` is set,
/// and its database.
pub struct HostReadiness {
    pool: PgPool,
    handle: PrometheusHandle,
    prometheus: Option<Prometheus>,
}

impl HostReadiness {
    pub fn new(
        pool: PgPool,
        handle: PrometheusHandle,
        prometheus: Option<&str>,
    ) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            pool,
            handle,
            prometheus: prometheus.map(Prometheus::new).transpose()?,
        }))
    }
}

impl numbering_http_edge::readiness::Readiness for HostReadiness {
    fn report(&self, phase: u8) -> BoxFuture<'_, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let sources = Sources {
                pool: self.pool.clone(),
                metrics: Metrics {
                    prometheus: self.prometheus.clone(),
                    scrape: Ok(Scrape::parse(&self.handle.render())),
                },
            };
            serde_json::to_value(evaluate(phase, &sources).await).map_err(|e| e.to_string())
        })
    }
}
