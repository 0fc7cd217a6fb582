//! Readings of the service's metrics over the criterion's window: from
//! Prometheus when one is given (`--prometheus`, over 7 days), else from
//! one scrape of the host's `/metrics` (over the host's life so far).

use super::{
    Reading,
    prom::Prometheus,
    scrape::{Scrape, Sel},
};

/// The seed's observation window.
pub const WINDOW: &str = "7d";
const WINDOW_SECONDS: f64 = 7.0 * 86400.0;

/// Where metric readings come from.
pub struct Metrics {
    pub prometheus: Option<Prometheus>,
    /// The host's exposition, or why it could not be read.
    pub scrape: Result<Scrape, String>,
}

impl Metrics {
    /// The q-quantile of histogram `sel` over the window.
    pub async fn quantile(&self, q: f64, sel: &Sel) -> Reading {
        let expr = format!(
            "histogram_quantile({q}, sum by (le) (rate({}[{WINDOW}])))",
            sel.promql("_bucket")
        );
        self.read(&expr, |s| s.quantile(q, sel)).await
    }

    /// `num / den` of counters (increase over the window).
    pub async fn ratio(&self, num: &Sel, num_suffix: &str, den: &Sel, den_suffix: &str) -> Reading {
        let expr = format!(
            "sum(increase({}[{WINDOW}])) / sum(increase({}[{WINDOW}]))",
            num.promql(num_suffix),
            den.promql(den_suffix)
        );
        self.read(&expr, |s| {
            let den = s.sum(den, den_suffix).filter(|d| *d > 0.0)?;
            Some(s.sum(num, num_suffix).unwrap_or(0.0) / den)
        })
        .await
    }

    /// The increase of counter `sel` over the window (absent: 0).
    pub async fn increase(&self, sel: &Sel) -> Reading {
        let expr = format!("sum(increase({}[{WINDOW}])) or vector(0)", sel.promql(""));
        self.read(&expr, |s| Some(s.sum(sel, "").unwrap_or(0.0)))
            .await
    }

    /// The largest value of gauge `sel` right now (not a window).
    pub async fn max_now(&self, sel: &Sel) -> Reading {
        let expr = format!("max({})", sel.promql(""));
        let mut r = self.read(&expr, |s| s.max(sel)).await;
        r.window = "now".into();
        r.full = r.value.is_some();
        r
    }

    async fn read(&self, expr: &str, local: impl Fn(&Scrape) -> Option<f64>) -> Reading {
        match (&self.prometheus, &self.scrape) {
            (Some(p), _) => prometheus_reading(p, expr).await,
            (None, Ok(s)) => scrape_reading(s, local(s)),
            (None, Err(e)) => Reading::none(format!("host /metrics unreadable: {e}")),
        }
    }
}

async fn prometheus_reading(p: &Prometheus, expr: &str) -> Reading {
    let covered = p.value(COVERAGE).await.ok().flatten().unwrap_or(0.0);
    match p.value(expr).await {
        Ok(value) => Reading {
            value,
            window: format!(
                "{WINDOW} (Prometheus {}, {} of data)",
                p.url(),
                human(covered)
            ),
            full: covered >= WINDOW_SECONDS - 3600.0,
            note: None,
        },
        Err(e) => Reading::none(format!("{e:#}")),
    }
}

fn scrape_reading(s: &Scrape, value: Option<f64>) -> Reading {
    let up = uptime(s);
    Reading {
        value,
        window: format!("since host start ({}, /metrics)", human(up)),
        full: up >= WINDOW_SECONDS,
        note: None,
    }
}

/// How far back Prometheus holds the service's series.
const COVERAGE: &str =
    "time() - min(min_over_time(timestamp(numbering_validate_verdicts_total)[7d:10m]))";

/// Seconds since the host started (its `process_start_time_seconds`).
fn uptime(s: &Scrape) -> f64 {
    let start = s
        .max(&Sel::all("process_start_time_seconds"))
        .unwrap_or(0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    if start > 0.0 { now - start } else { 0.0 }
}

/// `90s`, `12m`, `5.2h`, `3.1d`.
pub fn human(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0}s"),
        s if s < 7200.0 => format!("{:.0}m", s / 60.0),
        s if s < 172_800.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}
