//! The import files of SPEC §11: UTF-8 CSV (RFC 4180) with a header row,
//! `msisdn,mcc,mnc,contract_ref,vanity` (an MNO's MSISDNs) or
//! `short_code,contract_ref` (ATRA's short codes).
//!
//! Two kinds of problem, kept apart: a file that is not a plausible file of
//! this format at all (too large, empty, no data rows, not UTF-8, an unknown
//! header, a record longer than any real row, more columns than any real
//! row) is refused as a whole with the line that shows it ([`FileError`]);
//! a row with the wrong number of fields or a bad value is one refused row
//! with its line and reason ([`RowRejection`]), and the rest of the file is
//! still checked. Nothing here panics on any input (property tests and the
//! checked-in corpus under `tests/fixtures/import-corpus`).

use std::collections::{HashMap, hash_map::Entry};

use numbering_shared::{Identifier, IdentifierKind};
use numbering_store::imports::{ImportRow, RowRejection};

use crate::Limits;

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `msisdn,mcc,mnc,contract_ref,vanity`, signed by an MNO's key.
    Msisdn,
    /// `short_code,contract_ref`, signed by an ATRA key (no operator).
    ShortCode,
}

impl FileKind {
    pub fn header(self) -> &'static [&'static str] {
        match self {
            Self::Msisdn => &["msisdn", "mcc", "mnc", "contract_ref", "vanity"],
            Self::ShortCode => &["short_code", "contract_ref"],
        }
    }
    pub fn identifier_kind(self) -> IdentifierKind {
        match self {
            Self::Msisdn => IdentifierKind::Msisdn,
            Self::ShortCode => IdentifierKind::ShortCode,
        }
    }
}

/// Why a file is refused as a whole. Lines are 1-based (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file has a header but no data rows")]
    HeaderOnly,
    #[error("line {line}: the file is not valid UTF-8")]
    InvalidUtf8 { line: u64 },
    #[error("line {line}: a record of {len} bytes is longer than the limit of {max}")]
    RecordTooLong { line: u64, len: usize, max: usize },
    #[error("line {line}: {count} columns is more than the limit of {max}")]
    TooManyColumns { line: u64, count: usize, max: usize },
    #[error(
        "line 1: the header must be `msisdn,mcc,mnc,contract_ref,vanity` or `short_code,contract_ref`, not `{found}`"
    )]
    UnknownHeader { found: String },
    #[error("line {line}: {detail}")]
    Malformed { line: u64, detail: String },
}

impl FileError {
    /// The line that shows the problem, when there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::InvalidUtf8 { line }
            | Self::RecordTooLong { line, .. }
            | Self::TooManyColumns { line, .. }
            | Self::Malformed { line, .. } => Some(*line),
            Self::UnknownHeader { .. } => Some(1),
            Self::TooLarge { .. } | Self::Empty | Self::HeaderOnly => None,
        }
    }

    /// The stable code the edges report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "FILE_TOO_LARGE",
            Self::Empty => "EMPTY_FILE",
            Self::HeaderOnly => "NO_DATA_ROWS",
            Self::InvalidUtf8 { .. } => "INVALID_UTF8",
            Self::RecordTooLong { .. } => "RECORD_TOO_LONG",
            Self::TooManyColumns { .. } => "TOO_MANY_COLUMNS",
            Self::UnknownHeader { .. } | Self::Malformed { .. } => "MALFORMED_FILE",
        }
    }
}

/// A parsed file: the candidate rows and the rows already refused.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub kind: FileKind,
    /// Data records (header excluded), good and refused.
    pub total_rows: u32,
    pub rows: Vec<ImportRow>,
    pub rejected: Vec<RowRejection>,
}

/// The signing operator's codes, which every MSISDN row must carry.
#[derive(Debug, Clone)]
pub struct OperatorCodes {
    pub operator_id: String,
    pub mcc: String,
    pub mnc_codes: Vec<String>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses `bytes` (the exact signed bytes). `operator` is the signer's
/// codes for MSISDN files; `progress` is told the bytes read so far now and
/// then.
pub fn parse(
    bytes: &[u8],
    limits: &Limits,
    operator: Option<&OperatorCodes>,
    progress: &mut dyn FnMut(u64),
) -> Result<ParsedFile, FileError> {
    let (text, body_start) = checked_text(bytes, limits)?;
    let mut records = Records::new(&bytes[body_start..], body_start, limits);
    let Some(_) = records.next()? else {
        return Err(FileError::Empty);
    };
    let kind = header_kind(&records.record)?;
    let expected = kind.header().len();
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    let mut total: u32 = 0;
    while let Some((line, span)) = records.next()? {
        total += 1;
        if total % 65_536 == 0 {
            progress(records.reader.position().byte());
        }
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        let raw = trim_newline(&text[span.clone()]);
        match row(kind, &records.record, expected, operator) {
            Ok((identifier, mcc, mnc, contract_ref, vanity)) => rows.push(ImportRow {
                line,
                identifier,
                mcc,
                mnc,
                contract_ref,
                vanity,
                raw: span.start..span.start + raw.len(),
            }),
            Err(reason) => rejected.push(RowRejection {
                line,
                reason,
                raw: visible(raw),
            }),
        }
    }
    progress(bytes.len() as u64);
    if total == 0 {
        return Err(FileError::HeaderOnly);
    }
    reject_duplicates(text, &mut rows, &mut rejected);
    Ok(ParsedFile {
        kind,
        total_rows: total,
        rows,
        rejected,
    })
}

/// The file as text, within the size limit, UTF-8 and not blank; and where
/// its body starts (after a byte order mark, if any).
pub(crate) fn checked_text<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<(&'a str, usize), FileError> {
    if bytes.len() > limits.max_bytes {
        return Err(FileError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::InvalidUtf8 {
        line: line_of(bytes, e.valid_up_to()),
    })?;
    let body_start = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    if text[body_start..].trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok((text, body_start))
}

/// The body's CSV records one at a time, each with its line number and its
/// span in the file, checked against the column and record-length limits.
pub(crate) struct Records<'a> {
    body: &'a [u8],
    body_start: usize,
    limits: &'a Limits,
    pub(crate) reader: csv::Reader<&'a [u8]>,
    pub(crate) record: csv::ByteRecord,
    /// Lines are counted here, by '\n', rather than taken from the reader
    /// (which counts a CRLF as two).
    counted: (usize, u64),
}

impl<'a> Records<'a> {
    pub(crate) fn new(body: &'a [u8], body_start: usize, limits: &'a Limits) -> Self {
        Self {
            body,
            body_start,
            limits,
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(body),
            record: csv::ByteRecord::new(),
            counted: (0usize, 1u64),
        }
    }

    /// Reads the next record into `self.record`: its line and its span.
    pub(crate) fn next(&mut self) -> Result<Option<(u64, std::ops::Range<usize>)>, FileError> {
        let body = self.body;
        let start = self.reader.position().byte() as usize;
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| FileError::Malformed {
                line: line_at(body, &mut self.counted, start),
                detail: e.to_string(),
            })?;
        if !more {
            return Ok(None);
        }
        let to = self.reader.position().byte() as usize;
        // after a CR the reader stops before the LF, so a record may "start" there
        let mut from = self.record.position().map_or(start, |p| p.byte() as usize);
        while from < to && matches!(body[from], b'\r' | b'\n') {
            from += 1;
        }
        let line = line_at(body, &mut self.counted, from);
        if self.record.len() > self.limits.max_columns {
            return Err(FileError::TooManyColumns {
                line,
                count: self.record.len(),
                max: self.limits.max_columns,
            });
        }
        if to - from > self.limits.max_record_bytes {
            return Err(FileError::RecordTooLong {
                line,
                len: to - from,
                max: self.limits.max_record_bytes,
            });
        }
        Ok(Some((line, self.body_start + from..self.body_start + to)))
    }
}

fn line_at(body: &[u8], counted: &mut (usize, u64), offset: usize) -> u64 {
    let (from, line) = *counted;
    let offset = offset.clamp(from, body.len());
    let line = line + body[from..offset].iter().filter(|&&b| b == b'\n').count() as u64;
    *counted = (offset, line);
    line
}

fn line_of(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64
}

/// `s` as it can be stored and shown: a NUL (which Postgres text cannot
/// hold) as U+2400 SYMBOL FOR NULL.
pub(crate) fn visible(s: &str) -> String {
    s.replace('\0', "\u{2400}")
}

pub(crate) fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn header_kind(record: &csv::ByteRecord) -> Result<FileKind, FileError> {
    let names: Vec<String> = record
        .iter()
        .map(|f| visible(String::from_utf8_lossy(f).trim()).to_ascii_lowercase())
        .collect();
    [FileKind::Msisdn, FileKind::ShortCode]
        .into_iter()
        .find(|k| {
            names
                .iter()
                .map(String::as_str)
                .eq(k.header().iter().copied())
        })
        .ok_or_else(|| FileError::UnknownHeader {
            found: names.join(",").chars().take(200).collect(),
        })
}

type Fields = (String, Option<String>, Option<String>, String, bool);

/// One data record's fields, or the reason the row is refused.
fn row(
    kind: FileKind,
    record: &csv::ByteRecord,
    expected: usize,
    operator: Option<&OperatorCodes>,
) -> Result<Fields, String> {
    if record.len() != expected {
        return Err(format!(
            "malformed row: expected {expected} fields ({}), found {}",
            kind.header().join(","),
            record.len()
        ));
    }
    // no text that reaches Postgres may hold NUL, which it cannot store
    if let Some(i) = record.iter().position(|f| f.contains(&0)) {
        return Err(format!(
            "malformed row: {} contains the NUL character (U+0000)",
            kind.header()[i]
        ));
    }
    // the whole file is valid UTF-8, so every field is
    let field = |i: usize| std::str::from_utf8(&record[i]).unwrap_or_default().trim();
    let id = Identifier::parse_as(kind.identifier_kind(), field(0))
        .map_err(|e| format!("invalid identifier: {e}"))?;
    let contract_ref = field(match kind {
        FileKind::Msisdn => 3,
        FileKind::ShortCode => 1,
    });
    if contract_ref.is_empty() || contract_ref.len() > 128 {
        return Err("malformed row: contract_ref must be 1 to 128 characters".into());
    }
    match kind {
        FileKind::ShortCode => Ok((
            id.as_str().to_owned(),
            None,
            None,
            contract_ref.into(),
            false,
        )),
        FileKind::Msisdn => {
            let (mcc, mnc) = (field(1), field(2));
            let vanity = match field(4).to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => false,
                "true" | "1" | "yes" => true,
                other => {
                    return Err(format!(
                        "malformed row: vanity must be true or false, not {:?}",
                        other.chars().take(20).collect::<String>()
                    ));
                }
            };
            if let Some(op) = operator {
                if mcc != op.mcc {
                    return Err(format!(
                        "wrong MCC: {mcc:?} is not {}'s MCC {}",
                        op.operator_id, op.mcc
                    ));
                }
                if !op.mnc_codes.iter().any(|m| m == mnc) {
                    return Err(format!(
                        "wrong MNC: {mnc:?} is not one of {}'s MNCs ({})",
                        op.operator_id,
                        op.mnc_codes.join(", ")
                    ));
                }
            }
            Ok((
                id.as_str().to_owned(),
                Some(mcc.to_owned()),
                Some(mnc.to_owned()),
                contract_ref.into(),
                vanity,
            ))
        }
    }
}

/// Moves every repeat of an identifier to the refused rows, naming the line
/// of its first occurrence.
fn reject_duplicates(text: &str, rows: &mut Vec<ImportRow>, rejected: &mut Vec<RowRejection>) {
    let mut first: HashMap<&str, u32> = HashMap::with_capacity(rows.len());
    let mut repeats = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match first.entry(r.identifier.as_str()) {
            Entry::Occupied(e) => repeats.push((i, *e.get())),
            Entry::Vacant(e) => {
                e.insert(r.line);
            }
        }
    }
    drop(first);
    if repeats.is_empty() {
        return;
    }
    for &(i, first_line) in &repeats {
        let r = &rows[i];
        rejected.push(RowRejection {
            line: r.line,
            reason: format!(
                "duplicate: {} already appears on line {first_line}",
                r.identifier
            ),
            raw: text.get(r.raw.clone()).unwrap_or_default().to_owned(),
        });
    }
    let mut drop_it = vec![false; rows.len()];
    for (i, _) in repeats {
        drop_it[i] = true;
    }
    let mut i = 0;
    rows.retain(|_| {
        i += 1;
        !drop_it[i - 1]
    });
    rejected.sort_by_key(|r| r.line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roshan() -> OperatorCodes {
        OperatorCodes {
            operator_id: "roshan".into(),
            mcc: "412".into(),
            mnc_codes: vec!["40".into()],
        }
    }

    fn parse_ok(bytes: &[u8]) -> ParsedFile {
        parse(bytes, &Limits::default(), Some(&roshan()), &mut |_| {}).unwrap()
    }

    fn parse_err(bytes: &[u8]) -> FileError {
        parse(bytes, &Limits::default(), Some(&roshan()), &mut |_| {}).unwrap_err()
    }

    #[test]
    fn a_good_msisdn_file_parses_into_canonical_rows() {
        let p = parse_ok(
            b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,ROSHAN-2026-001,false\n0790000002,412,40,ROSHAN-2026-001,true\n",
        );
        assert_eq!(p.kind, FileKind::Msisdn);
        assert_eq!(p.total_rows, 2);
        assert!(p.rejected.is_empty());
        assert_eq!(p.rows[0].identifier, "+93790000001");
        assert_eq!(p.rows[1].identifier, "+93790000002");
        assert_eq!(p.rows[1].line, 3);
        assert!(p.rows[1].vanity);
    }

    #[test]
    fn any_accepted_notation_and_header_case_are_normalised_as_the_readme_says() {
        let p = parse_ok(
            b"MSISDN,Mcc,MNC,Contract_Ref,VANITY\n0790000001,412,40,R,false\n+9379 0000 002,412,40,R,false\n+93-79-000-0003,412,40,R,false\n0790000001,412,40,R,false\n",
        );
        assert_eq!(p.kind, FileKind::Msisdn);
        let ids: Vec<&str> = p.rows.iter().map(|r| r.identifier.as_str()).collect();
        assert_eq!(ids, ["+93790000001", "+93790000002", "+93790000003"]);
        // the same number in two notations is one number: a duplicate
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 5);
        assert!(
            p.rejected[0].reason.starts_with("duplicate"),
            "{:?}",
            p.rejected
        );
    }

    #[test]
    fn bom_crlf_and_quoted_fields_with_commas_are_tolerated() {
        let p = parse_ok(
            b"\xEF\xBB\xBFmsisdn,mcc,mnc,contract_ref,vanity\r\n\"+93790000001\",412,\"40\",\"ROSHAN,2026\",false\r\n",
        );
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].contract_ref, "ROSHAN,2026");
    }

    #[test]
    fn bad_rows_are_refused_with_their_line_and_reason() {
        let p = parse_ok(
            b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,false\nnonsense\n+93790000001,412,40,R,false\n+93790000003,412,41,R,false\n+93790000004,413,40,R,false\n+1234,412,40,R,false\n",
        );
        let got: Vec<(u32, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "malformed row"),
                (4, "duplicate"),
                (5, "wrong MNC"),
                (6, "wrong MCC"),
                (7, "invalid identifier")
            ]
        );
        assert_eq!(p.rejected[0].raw, "nonsense");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.total_rows, 6);
    }

    #[test]
    fn a_nul_in_any_field_refuses_its_row_with_the_line_and_never_reaches_the_rows() {
        let p = parse_ok(
            b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R\0,false\n+93790000002,412,40,R,false\n\0+93790000003,412,40,R,false\n\"+93790000004\",412,40,\"R\0x\",false\n",
        );
        let got: Vec<(u32, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    2,
                    "malformed row: contract_ref contains the NUL character (U+0000)"
                ),
                (
                    4,
                    "malformed row: msisdn contains the NUL character (U+0000)"
                ),
                (
                    5,
                    "malformed row: contract_ref contains the NUL character (U+0000)"
                ),
            ]
        );
        assert_eq!(p.rejected[0].raw, "+93790000001,412,40,R\u{2400},false");
        assert!(p.rejected.iter().all(|r| !r.raw.contains('\0')));
        assert_eq!(p.rows.len(), 1);
        let short = parse_ok(b"short_code,contract_ref\n4455,A\0\n");
        assert_eq!(short.rejected[0].line, 2);
        assert!(short.rows.is_empty());
        assert!(!matches!(
            parse_err(b"msisdn\0,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,false\n"),
            FileError::UnknownHeader { found } if found.contains('\0')
        ));
    }

    #[test]
    fn hostile_files_are_refused_as_a_whole_with_a_clear_error() {
        assert_eq!(parse_err(b""), FileError::Empty);
        assert_eq!(parse_err(b"\xEF\xBB\xBF \r\n"), FileError::Empty);
        assert_eq!(
            parse_err(b"msisdn,mcc,mnc,contract_ref,vanity\r\n"),
            FileError::HeaderOnly
        );
        assert_eq!(
            parse_err(b"msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,f\xffalse\n"),
            FileError::InvalidUtf8 { line: 2 }
        );
        let long = format!(
            "msisdn,mcc,mnc,contract_ref,vanity\n+93790000001,412,40,R,false\n+93790000002,412,40,{},false\n",
            "x".repeat(10 << 20)
        );
        assert!(matches!(
            parse_err(long.as_bytes()),
            FileError::RecordTooLong { line: 3, .. }
        ));
        let wide = format!("{}\n", vec!["a"; 100_000].join(","));
        assert!(matches!(
            parse_err(wide.as_bytes()),
            FileError::TooManyColumns {
                line: 1,
                count: 100_000,
                ..
            }
        ));
        assert!(matches!(
            parse_err(b"number,contract\n1,2\n"),
            FileError::UnknownHeader { .. }
        ));
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(b"short_code,contract_ref\n", &limits, None, &mut |_| {}),
            Err(FileError::TooLarge { size: 24, max: 10 })
        ));
    }

    #[test]
    fn an_atra_file_parses_short_codes() {
        let p = parse(
            b"short_code,contract_ref\n4455,ATRA-SC-2026-001\n12,ATRA-SC-2026-001\n",
            &Limits::default(),
            None,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(p.kind, FileKind::ShortCode);
        assert_eq!(p.rows[0].identifier, "4455");
        assert_eq!(p.rows[0].contract_ref, "ATRA-SC-2026-001");
        assert_eq!(p.rows[0].mcc, None);
        assert_eq!(p.rejected[0].line, 3);
    }

    /// A valid file of `n` rows, as lines.
    fn valid_lines(n: usize) -> Vec<String> {
        let mut v = vec!["msisdn,mcc,mnc,contract_ref,vanity".to_owned()];
        v.extend((0..n).map(|i| format!("+9379{i:07},412,40,ROSHAN-2026-001,false")));
        v
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse(&bytes, &Limits::default(), Some(&roshan()), &mut |_| {});
        }

        #[test]
        fn any_text_after_a_valid_header_never_panics(body in "(?s).{0,800}") {
            let file = format!("msisdn,mcc,mnc,contract_ref,vanity\n{body}");
            let _ = parse(file.as_bytes(), &Limits::default(), Some(&roshan()), &mut |_| {});
        }

        /// Structured mutations of a valid file: every data record is
        /// accounted for exactly once, as a row or as a refusal, and every
        /// refusal names a line of the file.
        #[test]
        fn mutated_valid_files_account_for_every_record(
            n in 1usize..40,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..6, any::<u8>()), 0..6),
            crlf in any::<bool>(),
        ) {
            let mut lines = valid_lines(n);
            for (at, op, b) in edits {
                let i = 1 + at.index(n);
                match op {
                    0 => lines[i] = lines[i].replacen(',', ";", 1),
                    1 => lines[i].push(','),
                    2 => lines[i] = format!("\"{}\"", lines[i]),
                    3 => lines[i].insert(0, char::from(b'0' + b % 10)),
                    4 => lines[i] = lines[1].clone(),
                    _ => lines[i] = lines[i].replace("412", &format!("4{:02}", b % 100)),
                }
            }
            let sep = if crlf { "\r\n" } else { "\n" };
            let file = lines.join(sep) + sep;
            match parse(file.as_bytes(), &Limits::default(), Some(&roshan()), &mut |_| {}) {
                Ok(p) => {
                    prop_assert_eq!(p.rows.len() + p.rejected.len(), p.total_rows as usize);
                    for r in &p.rejected {
                        prop_assert!(r.line >= 2 && (r.line as usize) <= n + 1);
                    }
                    let mut seen = std::collections::HashSet::new();
                    for r in &p.rows {
                        prop_assert!(seen.insert(r.identifier.clone()));
                    }
                }
                Err(e) => {
                    let malformed = matches!(e, FileError::Malformed { .. });
                    prop_assert!(malformed, "{}", e);
                }
            }
        }
    }
}
