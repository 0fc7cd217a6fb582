//! The `atra-port-v1` portability file (docs/formats/atra-port-v1.md): UTF-8
//! CSV (RFC 4180) with the header `msisdn,mcc,mnc,ported_at`, one ported
//! MSISDN per row with its recipient operator's codes and the port date.
//!
//! The file-level checks are the lease files' ([`crate::file`]): too large,
//! empty, no data rows, not UTF-8, a record or column count past the limits,
//! another header — the file is refused with the line that shows it. A bad
//! row (field count, MSISDN, codes, date, a repeat) is one refused row with
//! its line and reason; the importer applies nothing while any row is refused.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use numbering_shared::{Identifier, IdentifierKind};
use numbering_store::{imports::RowRejection, portings::PortingRow};

use crate::{
    FileError, Limits,
    file::{Records, checked_text, trim_newline, visible},
};

/// The header of an `atra-port-v1` file.
pub const HEADER: [&str; 4] = ["msisdn", "mcc", "mnc", "ported_at"];

/// Whether `bytes` is an `atra-port-v1` file, by its header line (a UTF-8
/// BOM, spaces around the names and their case aside): how the CLI and the
/// bucket trigger tell a portability file from a lease file.
pub fn is_port_file(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let Ok(first) = std::str::from_utf8(first) else {
        return false;
    };
    trim_newline(first)
        .split(',')
        .map(|f| f.trim().to_ascii_lowercase())
        .eq(HEADER)
}

/// A parsed portability file: the candidate rows and the refused ones.
#[derive(Debug, Clone)]
pub struct ParsedPortFile {
    /// Data records (header excluded), good and refused.
    pub total_rows: u32,
    pub rows: Vec<PortingRow>,
    pub rejected: Vec<RowRejection>,
}

/// Parses `bytes` (the exact signed bytes); `now` bounds the port dates.
pub fn parse(
    bytes: &[u8],
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<ParsedPortFile, FileError> {
    let (text, body_start) = checked_text(bytes, limits)?;
    let mut records = Records::new(&bytes[body_start..], body_start, limits);
    if records.next()?.is_none() {
        return Err(FileError::Empty);
    }
    check_header(&records.record)?;
    let (mut rows, mut rejected, mut total) = (Vec::new(), Vec::new(), 0u32);
    let mut first_line: HashMap<String, u32> = HashMap::new();
    while let Some((line, span)) = records.next()? {
        total += 1;
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        let raw = visible(trim_newline(&text[span]));
        match row(&records.record, now) {
            Ok((msisdn, mcc, mnc, ported_at)) => match first_line.get(&msisdn) {
                Some(first) => rejected.push(RowRejection {
                    line,
                    reason: format!("duplicate: {msisdn} already appears on line {first}"),
                    raw,
                }),
                None => {
                    first_line.insert(msisdn.clone(), line);
                    rows.push(PortingRow {
                        line,
                        msisdn,
                        mcc,
                        mnc,
                        ported_at,
                        raw,
                    });
                }
            },
            Err(reason) => rejected.push(RowRejection { line, reason, raw }),
        }
    }
    if total == 0 {
        return Err(FileError::HeaderOnly);
    }
    Ok(ParsedPortFile {
        total_rows: total,
        rows,
        rejected,
    })
}

fn check_header(record: &csv::ByteRecord) -> Result<(), FileError> {
    let names: Vec<String> = record
        .iter()
        .map(|f| visible(String::from_utf8_lossy(f).trim()).to_ascii_lowercase())
        .collect();
    if names.iter().map(String::as_str).eq(HEADER) {
        return Ok(());
    }
    Err(FileError::Malformed {
        line: 1,
        detail: format!(
            "the header must be `{}`, not `{}`",
            HEADER.join(","),
            names.join(",").chars().take(200).collect::<String>()
        ),
    })
}

type Fields = (String, String, String, DateTime<Utc>);

fn row(record: &csv::ByteRecord, now: DateTime<Utc>) -> Result<Fields, String> {
    if record.len() != HEADER.len() {
        return Err(format!(
            "malformed row: expected {} fields ({}), found {}",
            HEADER.len(),
            HEADER.join(","),
            record.len()
        ));
    }
    if let Some(i) = record.iter().position(|f| f.contains(&0)) {
        return Err(format!(
            "malformed row: {} contains the NUL character (U+0000)",
            HEADER[i]
        ));
    }
    let field = |i: usize| std::str::from_utf8(&record[i]).unwrap_or_default().trim();
    let msisdn = Identifier::parse_as(IdentifierKind::Msisdn, field(0))
        .map_err(|e| format!("invalid MSISDN: {e}"))?;
    let (mcc, mnc) = (field(1), field(2));
    if !digits(mcc, 3..=3) {
        return Err(format!(
            "malformed row: mcc must be 3 digits, not {:?}",
            short(mcc)
        ));
    }
    if !digits(mnc, 2..=3) {
        return Err(format!(
            "malformed row: mnc must be 2 or 3 digits, not {:?}",
            short(mnc)
        ));
    }
    let ported_at = date(field(3))?;
    if ported_at > now {
        return Err(format!(
            "ported_at {} is in the future",
            ported_at.to_rfc3339()
        ));
    }
    Ok((
        msisdn.as_str().to_owned(),
        mcc.into(),
        mnc.into(),
        ported_at,
    ))
}

/// RFC 3339 with an offset, or a date (midnight UTC).
fn date(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!(
                "malformed row: ported_at must be an RFC 3339 time or a date YYYY-MM-DD, not {:?}",
                short(s)
            )
        })
}

fn digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn short(s: &str) -> String {
    s.chars().take(20).collect()
}

#[cfg(test)]
mod tests {

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_port_file_is_told_by_its_header() {
        assert!(super::is_port_file(
            b"msisdn,mcc,mnc,ported_at\n+93790000001,412,50,2026-12-01\n"
        ));
        assert!(super::is_port_file(
            b"\xEF\xBB\xBFMSISDN, mcc ,mnc,ported_at\r\n"
        ));
        assert!(!super::is_port_file(
            b"msisdn,mcc,mnc,contract_ref,vanity\n"
        ));
        assert!(!super::is_port_file(b"short_code,contract_ref\n"));
        assert!(!super::is_port_file(b""));
    }

    fn now() -> DateTime<Utc> {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    fn parse_ok(bytes: &[u8]) -> ParsedPortFile {
        parse(bytes, &Limits::default(), now()).unwrap()
    }

    #[test]
    fn a_good_file_parses_into_canonical_rows_with_their_dates() {
        let p = parse_ok(
            b"msisdn,mcc,mnc,ported_at\n0790000001,412,50,2026-12-01\n+93 79 000 0002,412,20,2026-12-02T08:30:00+04:30\n",
        );
        assert_eq!(p.total_rows, 2);
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        assert_eq!(p.rows[0].msisdn, "+93790000001");
        assert_eq!(
            p.rows[0].ported_at,
            "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            (p.rows[1].mcc.as_str(), p.rows[1].mnc.as_str()),
            ("412", "20")
        );
        assert_eq!(
            p.rows[1].ported_at,
            "2026-12-02T04:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(p.rows[1].line, 3);
    }

    #[test]
    fn bad_rows_are_refused_with_their_line_and_reason() {
        let p = parse_ok(
            b"msisdn,mcc,mnc,ported_at\n+93790000001,412,50,2026-12-01\nnot-a-number,412,50,2026-12-01\n+93790000001,412,20,2026-12-01\n+93790000003,41,50,2026-12-01\n+93790000004,412,5,2026-12-01\n+93790000005,412,50,yesterday\n+93790000006,412,50,2027-01-01\n+93790000007,412,50\n",
        );
        let got: Vec<(u32, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.split([':', ' ']).next().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "invalid"),
                (4, "duplicate"),
                (5, "malformed"),
                (6, "malformed"),
                (7, "malformed"),
                (8, "ported_at"),
                (9, "malformed"),
            ]
        );
        assert_eq!(p.rejected[0].raw, "not-a-number,412,50,2026-12-01");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.total_rows, 8);
    }

    #[test]
    fn a_lease_file_or_an_empty_one_is_refused_as_a_whole() {
        let lease = b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,false\n";
        let e = parse(lease, &Limits::default(), now()).unwrap_err();
        assert_eq!((e.code(), e.line()), ("MALFORMED_FILE", Some(1)));
        let e = parse(b"msisdn,mcc,mnc,ported_at\n", &Limits::default(), now()).unwrap_err();
        assert_eq!(e, FileError::HeaderOnly);
        let e = parse(b"  \n", &Limits::default(), now()).unwrap_err();
        assert_eq!(e, FileError::Empty);
    }

    proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, &Limits::default(), now());
        }
    }
}
