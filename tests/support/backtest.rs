//! The scarcity forecast's backtest on a synthetic year
//! ([`crate::synthetic`]): forecast as at the start of the day `holdout`
//! days ago, as the service would have then (`scarcity_forecast_as_of`:
//! the held-out days' events are left out), and compare with what the
//! generator did on those days and with the known rates.

use std::fmt;

use chrono::{Duration, Utc};
use numbering_store::{Store, forecast::ForecastFilter};

use crate::synthetic::{Generated, Rate};

/// The backtest's figures over all blocks.
#[derive(Debug, Clone, Default)]
pub struct Backtest {
    pub holdout_days: u32,
    pub blocks: usize,
    /// Mean absolute error of the projected AVAILABLE stock, per block-day.
    pub stock_mae: f64,
    /// The same relative to the stock at the cut, in %.
    pub stock_mape: f64,
    /// Share of block-days whose real stock is inside the 80 % band.
    pub band_coverage: f64,
    /// Constant-rate blocks: share whose true exhaustion (stock at the
    /// cut / known rate) is inside the interval, and the point's mean
    /// absolute error in days and in % of the true days.
    pub constant_blocks: usize,
    pub truth_coverage: f64,
    pub exhaustion_mae_days: f64,
    pub exhaustion_mape: f64,
    /// The same for those due within 120 days.
    pub near_blocks: usize,
    pub near_mae_days: f64,
    /// Blocks flagged at the cut, and of them those that really ran out
    /// within 60 days by the known rate (constant) or the data.
    pub flagged: usize,
    pub flag_errors: usize,
}

/// Backtests `generated` (a year of `year` days ending yesterday) with the
/// last `holdout` days held out.
pub async fn backtest(store: &Store, generated: &[Generated], year: u32, holdout: u32) -> Backtest {
    let cut = Utc::now().date_naive() - Duration::days(i64::from(holdout));
    let report = store
        .scarcity_forecast_as_of(&ForecastFilter::default(), 1, Some(cut))
        .await
        .expect("forecast as of the cut");
    let mut b = Backtest {
        holdout_days: holdout,
        ..Default::default()
    };
    let (mut abs, mut rel, mut inside, mut days) = (0.0, 0.0, 0usize, 0usize);
    let (mut truth_in, mut err_days, mut err_rel, mut near_err) = (0usize, 0.0, 0.0, 0.0);
    for g in generated {
        let Some(f) = report
            .blocks
            .iter()
            .find(|f| f.block.contract_id == g.contract_id)
        else {
            continue;
        };
        b.blocks += 1;
        let first = (year - holdout) as usize;
        let at_cut = g.stock[first - 1];
        assert_eq!(
            f.block.available, at_cut,
            "{}: the stock at the cut",
            g.spec.contract_ref
        );
        for j in 1..=holdout as usize {
            let actual = g.stock[first + j - 1] as f64;
            // past the expected exhaustion the projection is 0
            let p = f.forecast.projection.get(j - 1);
            let (expected, low, high) = p.map_or((0.0, 0.0, 0.0), |p| (p.expected, p.low, p.high));
            abs += (expected - actual).abs();
            rel += (expected - actual).abs() / at_cut.max(1) as f64;
            inside += usize::from(low <= actual && actual <= high);
            days += 1;
        }
        let truth = true_days(g, at_cut, year - holdout);
        if let (Rate::Constant(_), Some(point)) = (g.spec.rate, f.forecast.days_to_exhaustion) {
            b.constant_blocks += 1;
            let (lo, hi) = (f.forecast.earliest_days, f.forecast.latest_days);
            truth_in +=
                usize::from(lo.is_some_and(|l| l <= truth) && hi.is_none_or(|h| truth <= h));
            err_days += (point - truth).abs();
            err_rel += (point - truth).abs() / truth.max(1.0);
            if truth <= 120.0 {
                b.near_blocks += 1;
                near_err += (point - truth).abs();
            }
        }
        if f.forecast.flagged {
            b.flagged += 1;
            b.flag_errors += usize::from(truth > 60.0);
        }
    }
    b.stock_mae = abs / days.max(1) as f64;
    b.stock_mape = 100.0 * rel / days.max(1) as f64;
    b.band_coverage = inside as f64 / days.max(1) as f64;
    b.truth_coverage = truth_in as f64 / b.constant_blocks.max(1) as f64;
    b.exhaustion_mae_days = err_days / b.constant_blocks.max(1) as f64;
    b.exhaustion_mape = 100.0 * err_rel / b.constant_blocks.max(1) as f64;
    b.near_mae_days = near_err / b.near_blocks.max(1) as f64;
    b
}

/// Days from the cut (day `cut_day` of the year) until the stock at the
/// cut runs out at the block's known rate from then on.
fn true_days(g: &Generated, at_cut: i64, cut_day: u32) -> f64 {
    let mut left = at_cut as f64;
    for d in 0.. {
        let rate = g.spec.rate.at(cut_day + d);
        if rate <= 0.0 || d > 3650 {
            return f64::INFINITY;
        }
        if left <= rate {
            return f64::from(d) + left / rate;
        }
        left -= rate;
    }
    f64::INFINITY
}

impl fmt::Display for Backtest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "holdout {} d, {} blocks: stock MAE {:.1} ({:.2} % of the stock at the cut), \
             80 % band coverage {:.0} %; {} constant-rate blocks: true exhaustion inside the \
             interval {:.0} %, point error {:.1} d MAE ({:.1} % of the true days), {:.1} d for the {} \
             due within 120 d; flagged {}, of which {} not due within 60 d",
            self.holdout_days,
            self.blocks,
            self.stock_mae,
            self.stock_mape,
            100.0 * self.band_coverage,
            self.constant_blocks,
            100.0 * self.truth_coverage,
            self.exhaustion_mae_days,
            self.exhaustion_mape,
            self.near_mae_days,
            self.near_blocks,
            self.flagged,
            self.flag_errors,
        )
    }
}
