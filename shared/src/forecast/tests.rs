use chrono::{NaiveDate, TimeZone, Utc};

use super::*;

/// splitmix64: a small deterministic generator for the synthetic series.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson draw (Knuth's method; fine for the small rates here).
    fn poisson(&mut self, lambda: f64) -> f64 {
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= self.next();
            if p <= limit {
                return k;
            }
            k += 1.0;
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
}

fn yesterday() -> NaiveDate {
    now().date_naive() - Duration::days(1)
}

/// `days` of Poisson counts whose rate on day `i` is `rate(i)`.
fn series(seed: u64, days: usize, rate: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut rng = Rng(seed);
    (0..days).map(|i| rng.poisson(rate(i))).collect()
}

fn run(net: &[f64], available: i64) -> Forecast {
    let s = Series {
        last_day: yesterday(),
        net,
    };
    forecast(&s, available, now(), HORIZON_DAYS)
}

#[test]
fn a_constant_rate_blocks_true_exhaustion_is_inside_the_interval() {
    // 20 a day, 1500 left: the truth is 75 days away
    let net = series(7, 365, |_| 20.0);
    let f = run(&net, 1500);
    let point = f.days_to_exhaustion.unwrap();
    assert!((point - 75.0).abs() < 5.0, "point {point}");
    let (low, high) = (f.earliest_days.unwrap(), f.latest_days.unwrap());
    assert!(low <= 75.0 && 75.0 <= high, "[{low}, {high}]");
    assert!((f.daily_rate - 20.0).abs() < 1.5, "rate {}", f.daily_rate);
    assert!(!f.flagged, "75 days is beyond the 60-day horizon");
}

#[test]
fn the_interval_covers_the_truth_about_eight_times_in_ten() {
    let trials = 200;
    let covered = (0..trials)
        .filter(|seed| {
            let net = series(1000 + seed, 180, |_| 20.0);
            let f = run(&net, 1500);
            let (low, high) = (f.earliest_days.unwrap(), f.latest_days.unwrap());
            low <= 75.0 && 75.0 <= high
        })
        .count();
    let share = covered as f64 / trials as f64;
    assert!((0.7..=0.95).contains(&share), "coverage {share}");
}

#[test]
fn a_block_whose_rate_doubles_is_flagged_and_runs_out_sooner_than_its_twin() {
    let constant = run(&series(11, 365, |_| 20.0), 1500);
    let doubling = run(
        &series(11, 365, |i| if i < 183 { 20.0 } else { 40.0 }),
        1500,
    );
    let (c, d) = (
        constant.days_to_exhaustion.unwrap(),
        doubling.days_to_exhaustion.unwrap(),
    );
    assert!(d < c * 0.6, "doubling {d} vs constant {c}");
    assert!(doubling.flagged && !constant.flagged);
    assert!((doubling.daily_rate - 40.0).abs() < 4.0);
}

#[test]
fn a_rising_rate_is_projected_with_its_trend() {
    // the rate climbs from 10 to 40 over the last 60 days
    let net = series(5, 240, |i| {
        if i < 180 {
            10.0
        } else {
            10.0 + (i - 180) as f64 * 0.5
        }
    });
    let f = run(&net, 3000);
    assert!(f.fit.beta > 0.0, "a trend is fitted: {:?}", f.fit);
    assert!(f.daily_rate > 35.0, "rate {}", f.daily_rate);
}

#[test]
fn a_block_without_net_consumption_does_not_run_out() {
    let f = run(&[0.0; 120], 500);
    assert_eq!(f.days_to_exhaustion, None);
    assert_eq!(f.latest_days, None);
    assert!(!f.flagged);
    assert_eq!(f.projection.len(), HORIZON_DAYS as usize);
    assert!(f.projection.iter().all(|p| p.expected == 500.0));
}

#[test]
fn an_empty_block_is_exhausted_now_and_flagged() {
    let f = run(&series(3, 60, |_| 5.0), 0);
    assert_eq!(f.days_to_exhaustion, Some(0.0));
    assert!(f.flagged);
}

#[test]
fn no_history_means_no_rate() {
    let f = run(&[], 100);
    assert_eq!(f.daily_rate, 0.0);
    assert_eq!(f.days_to_exhaustion, None);
}

#[test]
fn weekday_effects_are_recovered_and_projected() {
    // 30 a day on weekdays, none at weekends
    let last = yesterday();
    let days = 140;
    let net: Vec<f64> = (0..days)
        .map(|i| {
            let d = last - Duration::days((days - 1 - i) as i64);
            if d.weekday().num_days_from_monday() >= 5 {
                0.0
            } else {
                30.0
            }
        })
        .collect();
    let f = run(&net, 10_000);
    let mean = 30.0 * 5.0 / 7.0;
    assert!((f.fit.weekly[5] + mean).abs() < 0.01, "{:?}", f.fit.weekly);
    assert!((f.fit.weekly[0] - (30.0 - mean)).abs() < 0.01);
    // the projection consumes nothing on Saturdays and Sundays
    for p in f.projection.windows(2) {
        let used = p[0].expected - p[1].expected;
        let weekend = (p[1].date - Duration::days(1))
            .weekday()
            .num_days_from_monday()
            >= 5;
        assert!(
            (used - if weekend { 0.0 } else { 30.0 }).abs() < 0.5,
            "{p:?}"
        );
    }
}

#[test]
fn the_projection_stops_at_the_expected_exhaustion() {
    let f = run(&series(9, 200, |_| 50.0), 500);
    let point = f.days_to_exhaustion.unwrap();
    assert!((8.0..12.0).contains(&point), "{point}");
    assert_eq!(f.projection.len(), point.ceil() as usize);
    assert_eq!(f.projection.last().unwrap().expected, 0.0);
    let date = Forecast::date_after(now(), point);
    assert_eq!(
        date,
        now().date_naive() + Duration::days(point.floor() as i64)
    );
}

#[test]
fn stock_history_runs_the_changes_backwards_from_the_stock_now() {
    // 100 at the start, then -10, +50 (an import), -5
    assert_eq!(stock_history(135, &[-10, 50, -5]), vec![90, 140, 135]);
    assert_eq!(stock_history(7, &[]), Vec::<i64>::new());
}
