//! The scarcity forecast (seed Phase 4.3): when a block's AVAILABLE stock
//! runs out, with an 80 % interval, and whether that is within the horizon
//! (60 days).
//!
//! The model is small on purpose, so that an operator can follow it:
//!
//! 1. **Input.** A block's net consumption per complete UTC day, oldest
//!    first: identifiers that left AVAILABLE (reserve, retire) minus those
//!    that came back (cancel, reservation expiry, quarantine end or
//!    override). Imports add stock but are not demand: they are left out of
//!    the rate and show only in the stock itself.
//! 2. **Weekly seasonality.** With four weeks of history or more, each
//!    weekday's mean deviation from the overall mean is an additive effect;
//!    the series is smoothed without it and the projection adds it back.
//! 3. **Damped Holt smoothing** (level and trend, error-correction form):
//!    `level += α·e`, `trend = φ·trend + α·β·e`, where `e` is the one-day
//!    forecast error. α, β and φ are fitted by a grid search for the least
//!    squared one-day error (the first week is the burn-in). The level is
//!    the current daily rate; the trend lets a rate that keeps rising
//!    ("doubles") be projected higher still, damped so that it levels off.
//! 4. **Projection.** Cumulative expected consumption `M(t)` from `now`
//!    day by day (a day's rate is never below zero); its variance
//!    `V(t) = σ²·(t + k·t²) + C(t)²·var(trend)`: `t` days of independent
//!    noise (σ² is the fitted one-day error variance), plus the error of
//!    the estimated level (`k = α/(2−α)`, the variance of an exponentially
//!    smoothed mean per σ²), which persists over all `t` days, plus the
//!    estimated trend's, carried through its damped sums `C(t)`.
//! 5. **Exhaustion.** The point estimate is when `M(t)` reaches the stock;
//!    the 80 % interval's earliest and latest ends are when
//!    `M(t) ± 1.2816·√V(t)` reach it (the 10th and 90th percentiles of a
//!    normal). None: not within ten years (or no net consumption). A block
//!    is flagged when the point estimate is within the horizon.
//!
//! Pure: no I/O, no clock (`now` is a parameter), no serde.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// The two-sided 80 % interval's z (the normal's 90th percentile).
pub const Z80: f64 = 1.281_551_565_545;
/// The horizon within which a block is flagged, in days.
pub const HORIZON_DAYS: u32 = 60;
/// How far the exhaustion is looked for: beyond it, "does not run out".
pub const MAX_DAYS: u32 = 3650;
/// Days of the series used to start the level, and not scored in the fit.
const BURN_IN: usize = 7;
/// History needed before weekday effects are estimated.
const SEASONAL_MIN_DAYS: usize = 28;

const ALPHAS: [f64; 7] = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5];
const BETAS: [f64; 4] = [0.0, 0.05, 0.1, 0.2];
const PHIS: [f64; 2] = [0.9, 0.98];

/// A block's net consumption per complete UTC day, oldest first; the last
/// element is `last_day`.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub last_day: NaiveDate,
    pub net: &'a [f64],
}

impl Series<'_> {
    /// The date of element `i`.
    fn day(&self, i: usize) -> NaiveDate {
        let back = (self.net.len() - 1 - i) as i64;
        self.last_day - Duration::days(back)
    }
}

/// The fitted model of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub alpha: f64,
    pub beta: f64,
    pub phi: f64,
    /// The deseasonalised daily rate at the end of the series.
    pub level: f64,
    /// Its trend per day (damped by `phi` each day ahead).
    pub trend: f64,
    /// The standard deviation of the one-day forecast error.
    pub sigma: f64,
    /// Additive weekday effects, Monday first (zeros with little history).
    pub weekly: [f64; 7],
}

/// One projected day: the stock expected at its end, with the 80 %
/// interval's ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedDay {
    /// Days after `now` (1, 2, …).
    pub day: u32,
    pub date: NaiveDate,
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

/// The forecast of one block.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub fit: Fit,
    /// The expected net consumption per day now (level plus a day's trend).
    pub daily_rate: f64,
    /// Days from `now` until the stock is expected to run out.
    pub days_to_exhaustion: Option<f64>,
    /// The 80 % interval: earliest and latest (None: beyond [`MAX_DAYS`]).
    pub earliest_days: Option<f64>,
    pub latest_days: Option<f64>,
    /// Expected to run out within the horizon.
    pub flagged: bool,
    /// Day by day up to the horizon, or to the expected exhaustion if sooner.
    pub projection: Vec<ProjectedDay>,
}

impl Forecast {
    /// The date `days` after `now` (for the three exhaustion estimates).
    pub fn date_after(now: DateTime<Utc>, days: f64) -> NaiveDate {
        let ms = (days * 86_400_000.0).round() as i64;
        (now + Duration::milliseconds(ms)).date_naive()
    }
}

/// Forecasts when `available` runs out, from `series`, at `now`, flagging
/// it when that is within `horizon_days`.
pub fn forecast(
    series: &Series,
    available: i64,
    now: DateTime<Utc>,
    horizon_days: u32,
) -> Forecast {
    let fit = fit(series);
    let daily_rate = fit.level + fit.phi * fit.trend;
    let walk = Walk::run(&fit, available.max(0) as f64, now, horizon_days);
    let flagged = walk.point.is_some_and(|d| d <= f64::from(horizon_days));
    Forecast {
        fit,
        daily_rate,
        days_to_exhaustion: walk.point,
        earliest_days: walk.earliest,
        latest_days: walk.latest,
        flagged,
        projection: walk.projection,
    }
}

/// Fits weekday effects and the damped Holt model to `series`.
pub fn fit(series: &Series) -> Fit {
    let weekly = weekly_effects(series);
    let y: Vec<f64> = (0..series.net.len())
        .map(|i| series.net[i] - weekly[weekday(series.day(i))])
        .collect();
    let mut best: Option<(f64, Fit)> = None;
    for alpha in ALPHAS {
        for beta in BETAS {
            // without a trend, φ changes nothing: one φ suffices
            let phis: &[f64] = if beta == 0.0 { &PHIS[..1] } else { &PHIS };
            for &phi in phis {
                let (sse, count, level, trend) = smooth(&y, alpha, beta, phi);
                let mse = if count == 0 { 0.0 } else { sse / count as f64 };
                if best.as_ref().is_none_or(|(b, _)| mse < *b) {
                    let sigma = mse.sqrt();
                    let f = Fit {
                        alpha,
                        beta,
                        phi,
                        level,
                        trend,
                        sigma,
                        weekly,
                    };
                    best = Some((mse, f));
                }
            }
        }
    }
    best.map(|(_, f)| f).unwrap_or(Fit {
        alpha: ALPHAS[0],
        beta: 0.0,
        phi: PHIS[0],
        level: 0.0,
        trend: 0.0,
        sigma: 0.0,
        weekly,
    })
}

/// Runs the smoother over `y`: the squared one-day errors after the
/// burn-in and their count, and the final level and trend.
fn smooth(y: &[f64], alpha: f64, beta: f64, phi: f64) -> (f64, usize, f64, f64) {
    if y.is_empty() {
        return (0.0, 0, 0.0, 0.0);
    }
    let start = &y[..y.len().min(BURN_IN)];
    let mut level = start.iter().sum::<f64>() / start.len() as f64;
    let mut trend = 0.0;
    let (mut sse, mut count) = (0.0, 0);
    for (t, &v) in y.iter().enumerate() {
        let predicted = level + phi * trend;
        let e = v - predicted;
        if t >= BURN_IN {
            sse += e * e;
            count += 1;
        }
        level = predicted + alpha * e;
        trend = phi * trend + alpha * beta * e;
    }
    (sse, count, level, trend)
}

fn weekday(d: NaiveDate) -> usize {
    d.weekday().num_days_from_monday() as usize
}

/// Each weekday's mean deviation from the series' mean, when the series
/// holds at least four weeks; zeros otherwise.
fn weekly_effects(series: &Series) -> [f64; 7] {
    let n = series.net.len();
    if n < SEASONAL_MIN_DAYS {
        return [0.0; 7];
    }
    let mean = series.net.iter().sum::<f64>() / n as f64;
    let (mut sum, mut count) = ([0.0; 7], [0usize; 7]);
    for (i, v) in series.net.iter().enumerate() {
        let w = weekday(series.day(i));
        sum[w] += v;
        count[w] += 1;
    }
    let mut effects = [0.0; 7];
    for w in 0..7 {
        effects[w] = sum[w] / count[w] as f64 - mean;
    }
    effects
}

/// The day-by-day projection and where it reaches the stock.
struct Walk {
    point: Option<f64>,
    earliest: Option<f64>,
    latest: Option<f64>,
    projection: Vec<ProjectedDay>,
}

/// Where a rising curve, `prev` on day `j - 1` and `next` on day `j`,
/// reaches `stock` (linear between the two days).
fn crossing(j: u32, prev: f64, next: f64, stock: f64) -> f64 {
    let step = next - prev;
    let part = if step > 0.0 {
        ((stock - prev) / step).clamp(0.0, 1.0)
    } else {
        1.0
    };
    f64::from(j - 1) + part
}

impl Walk {
    fn run(fit: &Fit, stock: f64, now: DateTime<Utc>, horizon_days: u32) -> Self {
        let mut w = Walk {
            point: None,
            earliest: None,
            latest: None,
            projection: Vec::new(),
        };
        if stock <= 0.0 {
            (w.point, w.earliest, w.latest) = (Some(0.0), Some(0.0), Some(0.0));
            return w;
        }
        let k = fit.alpha / (2.0 - fit.alpha);
        let var_trend = trend_variance(fit);
        let var_noise = fit.sigma * fit.sigma;
        let (mut consumed, mut damp, mut damp_sum, mut damp_cum) = (0.0, 1.0, 0.0, 0.0);
        let (mut prev_low, mut prev_high) = (0.0, 0.0);
        for j in 1..=MAX_DAYS {
            damp *= fit.phi;
            damp_sum += damp;
            damp_cum += damp_sum;
            let when = now + Duration::days(i64::from(j - 1));
            let rate = fit.level + damp_sum * fit.trend + fit.weekly[weekday(when.date_naive())];
            let prev = consumed;
            consumed += rate.max(0.0);
            let t = f64::from(j);
            let var = var_noise * (t + k * t * t) + damp_cum * damp_cum * var_trend;
            let spread = Z80 * var.sqrt();
            // the consumption's upper band exhausts the stock first
            let (high_use, low_use) = (consumed + spread, consumed - spread);
            if w.point.is_none() && consumed >= stock {
                w.point = Some(crossing(j, prev, consumed, stock));
            }
            if w.earliest.is_none() && high_use >= stock {
                w.earliest = Some(crossing(j, prev_high, high_use, stock));
            }
            if w.latest.is_none() && low_use >= stock {
                w.latest = Some(crossing(j, prev_low, low_use, stock));
            }
            (prev_low, prev_high) = (low_use, high_use);
            let within = j <= horizon_days && w.point.is_none_or(|p| p > f64::from(j - 1));
            if within {
                w.projection.push(ProjectedDay {
                    day: j,
                    date: (now + Duration::days(i64::from(j))).date_naive(),
                    expected: (stock - consumed).max(0.0),
                    low: (stock - high_use).max(0.0),
                    high: (stock - low_use).max(0.0),
                });
            }
            if w.latest.is_some() && j >= horizon_days {
                break;
            }
        }
        w
    }
}

/// The stationary variance of the trend estimate in the error-correction
/// recursion `trend = φ·trend + α·β·e` with errors of variance σ².
fn trend_variance(fit: &Fit) -> f64 {
    let g = fit.alpha * fit.beta;
    if g == 0.0 {
        return 0.0;
    }
    g * g * fit.sigma * fit.sigma / (1.0 - fit.phi * fit.phi)
}

/// The stock at the end of each day, oldest first, from the stock now
/// (`current`, at the end of the last day) and each day's net change of
/// the stock (`changes`, the same days).
pub fn stock_history(current: i64, changes: &[i64]) -> Vec<i64> {
    let mut out = vec![0; changes.len()];
    let mut stock = current;
    for i in (0..changes.len()).rev() {
        out[i] = stock;
        stock -= changes[i];
    }
    out
}

#[cfg(test)]
mod tests;
