//! `numbering readiness --phase 1|2|3` and `GET /v1/admin/numbering/readiness`:
//! the seed's exit criteria and success metrics of a rollout phase
//! (MIGRATION_PLAN §2, §8), each measured from the live system — the
//! host's `/metrics` or Prometheus for latencies and rates, the database
//! for conversion, chain-verify history and export acknowledgements — and
//! judged PASS, FAIL or NOT ENOUGH DATA over the window it covered.
//!
//! A value that misses its target is FAIL whatever the window; one that
//! meets it over less than the seed's window (7 days) is NOT ENOUGH DATA,
//! as is a criterion the system holds no data for (support tickets, the
//! readiness checklist).

pub mod cmd;
pub mod db;
pub mod gauges;
pub mod measure;
mod phases;
pub mod prom;
pub mod scrape;

use serde::Serialize;

pub use phases::evaluate;

/// A criterion's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    #[serde(rename = "NOT ENOUGH DATA")]
    NotEnoughData,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::NotEnoughData => "NOT ENOUGH DATA",
        }
    }
}

/// What a criterion's value is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds, shown as milliseconds.
    Ms,
    /// A fraction, shown as a percentage.
    Percent,
    Seconds,
    Count,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Ms => format!("{:.1} ms", v * 1000.0),
            Unit::Percent => format!("{} %", trim(format!("{:.3}", v * 100.0))),
            Unit::Seconds => format!("{v:.2} s"),
            Unit::Count => format!("{v:.0}"),
        }
    }
}

/// `97.000` → `97`, `0.050` → `0.05`.
fn trim(number: String) -> String {
    match number.contains('.') {
        true => number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
        false => number,
    }
}

/// The bound a value must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    AtMost(f64, Unit),
    Below(f64, Unit),
    AtLeast(f64, Unit),
}

impl Target {
    fn met_by(self, v: f64) -> bool {
        match self {
            Target::AtMost(t, _) => v <= t,
            Target::Below(t, _) => v < t,
            Target::AtLeast(t, _) => v >= t,
        }
    }

    fn unit(self) -> Unit {
        match self {
            Target::AtMost(_, u) | Target::Below(_, u) | Target::AtLeast(_, u) => u,
        }
    }

    fn show(self) -> String {
        let (op, t, u) = match self {
            Target::AtMost(t, u) => ("≤", t, u),
            Target::Below(t, u) => ("<", t, u),
            Target::AtLeast(t, u) => ("≥", t, u),
        };
        format!("{op} {}", u.show(t))
    }
}

/// A measured value and the window it covered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub value: Option<f64>,
    pub window: String,
    /// The window is as long as the criterion asks.
    pub full: bool,
    /// Said instead of, or beside, the value.
    pub note: Option<String>,
}

impl Reading {
    /// Nothing measured, and why.
    pub fn none(why: impl Into<String>) -> Self {
        Self {
            value: None,
            window: "-".into(),
            full: false,
            note: Some(why.into()),
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    pub name: String,
    pub target: String,
    pub measured: Option<String>,
    /// The measured value in the unit of the metric (seconds, fraction, count).
    pub value: Option<f64>,
    pub status: Status,
    pub window: String,
}

impl Criterion {
    /// Judges `reading` against `target`.
    pub fn judge(name: &str, target: Target, reading: Reading) -> Self {
        let status = match reading.value {
            None => Status::NotEnoughData,
            Some(v) if !target.met_by(v) => Status::Fail,
            Some(_) if !reading.full => Status::NotEnoughData,
            Some(_) => Status::Pass,
        };
        let shown = reading.value.map(|v| target.unit().show(v));
        let measured = match (shown, reading.note) {
            (Some(v), Some(n)) => Some(format!("{v} ({n})")),
            (v, n) => v.or(n),
        };
        Self {
            name: name.to_owned(),
            target: target.show(),
            measured,
            value: reading.value,
            status,
            window: reading.window,
        }
    }
}

/// The report of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub phase: u8,
    pub pass: bool,
    pub criteria: Vec<Criterion>,
}

impl Report {
    pub fn new(phase: u8, criteria: Vec<Criterion>) -> Self {
        let pass = criteria.iter().all(|c| c.status == Status::Pass);
        Self {
            phase,
            pass,
            criteria,
        }
    }

    /// The report as a table: criterion, target, measured, status, window.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 5]> = self
            .criteria
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.target.clone(),
                    c.measured.clone().unwrap_or_else(|| "-".into()),
                    c.status.as_str().to_owned(),
                    c.window.clone(),
                ]
            })
            .collect();
        let header = ["CRITERION", "TARGET", "MEASURED", "STATUS", "WINDOW"].map(String::from);
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        let verdict = if self.pass { "PASS" } else { "NOT YET" };
        out.push_str(&format!("phase {}: {verdict}\n", self.phase));
        out
    }
}
