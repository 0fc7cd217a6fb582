//! The reporting period: one calendar month in UTC.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// A calendar month `YYYY-MM`, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("period {0:?} is not a month YYYY-MM")]
pub struct BadPeriod(pub String);

impl Period {
    pub fn parse(s: &str) -> Result<Self, BadPeriod> {
        let bad = || BadPeriod(s.to_owned());
        let (year, month) = s.split_once('-').ok_or_else(bad)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || year < 1970 {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The month before the one containing `now` (what the monthly schedule
    /// exports on the 1st).
    pub fn previous(now: DateTime<Utc>) -> Self {
        let (year, month) = if now.month() == 1 {
            (now.year() - 1, 12)
        } else {
            (now.year(), now.month() - 1)
        };
        Self { year, month }
    }

    /// The month containing `now`.
    pub fn containing(now: DateTime<Utc>) -> Self {
        Self {
            year: now.year(),
            month: now.month(),
        }
    }

    /// The first instant of the month.
    pub fn start(&self) -> DateTime<Utc> {
        first_instant(self.year, self.month)
    }

    /// The first instant after the month (exclusive end).
    pub fn end(&self) -> DateTime<Utc> {
        if self.month == 12 {
            first_instant(self.year + 1, 1)
        } else {
            first_instant(self.year, self.month + 1)
        }
    }
}

fn first_instant(year: i32, month: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl std::str::FromStr for Period {
    type Err = BadPeriod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_bound() {
        let p = Period::parse("2026-12").unwrap();
        assert_eq!(p.to_string(), "2026-12");
        assert_eq!(p.start().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2027-01-01T00:00:00+00:00");
        for bad in [
            "2026-13",
            "2026-00",
            "26-01",
            "2026-1",
            "2026/01",
            "",
            "abcd-ef",
            "2026-01-01",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let jan = Utc.with_ymd_and_hms(2027, 1, 1, 1, 0, 0).unwrap();
        assert_eq!(Period::previous(jan).to_string(), "2026-12");
    }
}
