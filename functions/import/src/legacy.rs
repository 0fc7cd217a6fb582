//! Legacy lease seeding (SPEC §8, file format §11): leases that predate the
//! service are carried over through the normal lifecycle — Reserve, then
//! Assign with the legacy lease's own start and term end — so each one has
//! the same audit entries and outbox events as a lease taken today.
//!
//! The CSV (UTF-8, RFC 4180, header row) is
//! `identifier,tenant_id,leased_at,term_end,auto_renew`; timestamps are
//! RFC 3339 (`2025-03-01T00:00:00Z`) or a date (`2025-03-01`, midnight UTC),
//! `auto_renew` is `true` or `false`.
//!
//! Safe to re-run: a row whose identifier is already ASSIGNED to its tenant
//! by a lease with exactly that start and term end is "already seeded" and
//! writes nothing. Every other refusal is reported with its line and reason,
//! and the remaining rows still seed.

use chrono::{DateTime, NaiveDate, Utc};
use numbering_shared::{Identifier, NumberState, TenantId};
use numbering_store::{
    Actor, AssignError, Ctx, LeaseTerm, LifecycleError, SenderIdRegistry, Store,
    assign_verified_for,
};
use sha2::{Digest, Sha256};

/// The header every legacy-lease file starts with.
pub const HEADER: [&str; 5] = [
    "identifier",
    "tenant_id",
    "leased_at",
    "term_end",
    "auto_renew",
];

/// The audit trail's subject for the seeding actor (`tenant:<T>:legacy-seed`).
pub const ACTOR_SUBJECT: &str = "legacy-seed";

/// A file that cannot be read as a legacy-lease file at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the header must be `{}`, found `{found}`", HEADER.join(","))]
    Header { found: String },
    #[error("the header cannot be read: {0}")]
    Unreadable(String),
}

/// One legacy lease, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyLease {
    /// The line the row starts on (the header is line 1).
    pub line: u64,
    pub identifier: Identifier,
    pub tenant: TenantId,
    pub leased_at: DateTime<Utc>,
    pub term_end: DateTime<Utc>,
    pub auto_renew: bool,
}

/// A row that was not seeded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub line: u64,
    /// The identifier as written, when the row had one.
    pub identifier: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RowFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.identifier {
            Some(id) => write!(f, "line {}: {id}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A parsed file: its rows in order (good or malformed) and its SHA-256,
/// which names the seeding run in the audit entries' request ids.
#[derive(Debug)]
pub struct LegacyFile {
    pub rows: Vec<Result<LegacyLease, RowFailure>>,
    pub sha256: [u8; 32],
}

/// Parses the whole file. Only an unusable header fails the file; every
/// malformed row becomes a [`RowFailure`] in place.
pub fn parse(bytes: &[u8]) -> Result<LegacyFile, FileError> {
    let sha256 = Sha256::digest(bytes).into();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| FileError::Unreadable(e.to_string()))?;
    // header names as the lease files read them: trimmed, any case
    if header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .ne(HEADER.iter().map(|h| (*h).to_owned()))
    {
        return Err(FileError::Header {
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(bytes);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                rows.push(parse_row(line, &record));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                let reason = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "malformed row: not valid UTF-8".to_owned(),
                    _ => format!("malformed row: {e}"),
                };
                rows.push(Err(RowFailure {
                    line,
                    identifier: None,
                    reason,
                }));
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break; // the reader cannot continue past an I/O error
                }
            }
        }
    }
    Ok(LegacyFile { rows, sha256 })
}

/// The line a record starts on, from its byte offset. (The reader's own
/// line count is one short after a CRLF: a record "starts" at the `\n`.)
/// Offsets only grow, so counting resumes where it stopped.
struct LineCounter<'a> {
    bytes: &'a [u8],
    counted_to: usize,
    newlines: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            counted_to: 0,
            newlines: 0,
        }
    }

    fn line_at(&mut self, offset: u64) -> u64 {
        let mut at = (offset as usize).min(self.bytes.len());
        while at < self.bytes.len() && matches!(self.bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        if at > self.counted_to {
            self.newlines += self.bytes[self.counted_to..at]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            self.counted_to = at;
        }
        self.newlines + 1
    }
}

fn parse_row(line: u64, record: &csv::StringRecord) -> Result<LegacyLease, RowFailure> {
    let raw_identifier = record.get(0).map(|s| s.trim().to_owned());
    let fail = |reason: String| RowFailure {
        line,
        identifier: raw_identifier.clone().filter(|s| !s.is_empty()),
        reason: format!("malformed row: {reason}"),
    };
    if record.len() != HEADER.len() {
        return Err(fail(format!(
            "{} fields, expected {}",
            record.len(),
            HEADER.len()
        )));
    }
    let field = |i: usize| record.get(i).unwrap_or_default().trim();
    let identifier = Identifier::parse(field(0)).map_err(|e| fail(format!("identifier: {e}")))?;
    let tenant = TenantId::parse(field(1)).map_err(|e| fail(format!("tenant_id: {e}")))?;
    let leased_at = timestamp(field(2)).map_err(|e| fail(format!("leased_at: {e}")))?;
    let term_end = timestamp(field(3)).map_err(|e| fail(format!("term_end: {e}")))?;
    let auto_renew = match field(4).to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        other => return Err(fail(format!("auto_renew: {other:?} is not true or false"))),
    };
    if term_end <= leased_at {
        return Err(fail("term_end is not after leased_at".into()));
    }
    Ok(LegacyLease {
        line,
        identifier,
        tenant,
        leased_at,
        term_end,
        auto_renew,
    })
}

/// RFC 3339, or a plain date meaning midnight UTC.
fn timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 timestamp or a YYYY-MM-DD date"))
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Reserved and assigned now.
    Seeded,
    /// Already assigned to the tenant by a lease with this term: nothing written.
    AlreadySeeded,
    Failed(RowFailure),
}

/// The counts of a seeding run, and every failed row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub rows: u64,
    pub seeded: u64,
    pub already_seeded: u64,
    pub failures: Vec<RowFailure>,
}

/// Seeds every row of `file` in order, calling `on_row` after each one.
/// ALPHA identifiers are checked with the sender-id registry, as every
/// assign is.
pub async fn seed(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    file: &LegacyFile,
    mut on_row: impl FnMut(&Outcome),
) -> Summary {
    let run = hex::encode(&file.sha256[..8]);
    let mut summary = Summary::default();
    for row in &file.rows {
        let outcome = match row {
            Err(failure) => Outcome::Failed(failure.clone()),
            Ok(lease) => match seed_one(store, registry, &run, lease).await {
                Ok(outcome) => outcome,
                Err(reason) => Outcome::Failed(RowFailure {
                    line: lease.line,
                    identifier: Some(lease.identifier.as_str().to_owned()),
                    reason,
                }),
            },
        };
        summary.rows += 1;
        match &outcome {
            Outcome::Seeded => summary.seeded += 1,
            Outcome::AlreadySeeded => summary.already_seeded += 1,
            Outcome::Failed(f) => summary.failures.push(f.clone()),
        }
        on_row(&outcome);
    }
    summary
}

/// One row: skip it if already seeded, else Reserve + Assign; a failed
/// assign cancels the reservation it made.
async fn seed_one(
    store: &Store,
    registry: &dyn SenderIdRegistry,
    run: &str,
    lease: &LegacyLease,
) -> Result<Outcome, String> {
    let tenant = &lease.tenant;
    let snapshot = store
        .snapshot(&lease.identifier)
        .await
        .map_err(|e| reason(&e))?
        .ok_or("unknown identifier: not in inventory")?;
    if snapshot.state == NumberState::Assigned {
        if snapshot.tenant_id.as_ref() != Some(tenant) {
            return Err("wrong state: ASSIGNED to another tenant".into());
        }
        let current = match snapshot.lease_id {
            Some(id) => store.lease(tenant, id).await.map_err(|e| reason(&e))?,
            None => None,
        };
        return match current {
            Some(l) if l.started_at == lease.leased_at && l.term_end == lease.term_end => {
                Ok(Outcome::AlreadySeeded)
            }
            Some(l) => Err(format!(
                "wrong state: already ASSIGNED to this tenant by lease {} ({} to {}), not this term",
                l.id, l.started_at, l.term_end
            )),
            None => Err("wrong state: ASSIGNED without an active lease".into()),
        };
    }
    if lease.term_end <= Utc::now() {
        return Err(format!(
            "the lease term ended at {}: nothing to seed",
            lease.term_end
        ));
    }
    let ctx = Ctx::new(Actor::tenant(tenant, ACTOR_SUBJECT))
        .with_request_id(format!("legacy-seed:{run}:line-{}", lease.line));
    let reservation = store
        .reserve(&ctx, tenant, &lease.identifier)
        .await
        .map_err(|e| match e {
            LifecycleError::Conflict => {
                format!("wrong state: {} (state {})", e, snapshot.state.as_str())
            }
            e => reason(&e),
        })?;
    let term = LeaseTerm::Legacy {
        started_at: lease.leased_at,
        term_end: lease.term_end,
    };
    match assign_verified_for(
        store,
        registry,
        &ctx,
        tenant,
        reservation.id,
        lease.auto_renew,
        term,
    )
    .await
    {
        Ok(_) => Ok(Outcome::Seeded),
        Err(e) => {
            let why = match &e {
                AssignError::Lifecycle(l) => reason(l),
                other => other.to_string(),
            };
            if let Err(c) = store.cancel(&ctx, tenant, reservation.id).await {
                tracing::warn!(error = %c, "could not cancel the legacy seed's reservation");
            }
            Err(why)
        }
    }
}

fn reason(e: &LifecycleError) -> String {
    if e.is_internal() {
        tracing::error!(error = ?e, "legacy seeding failed on the store");
    }
    format!("{} ({})", e, e.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_good_and_malformed_rows_keeps_each_row_in_place() {
        let csv = "\u{feff}identifier,tenant_id,leased_at,term_end,auto_renew\r\n\
                   +93790000001,acme,2025-01-01T00:00:00Z,2030-01-01,true\r\n\
                   +93790000002,acme,2025-01-01\r\n\
                   +9312,acme,2025-01-01,2030-01-01,true\r\n\
                   +93790000003,acme,2025-01-01,2030-01-01,maybe\r\n\
                   +93790000004,acme,2030-01-01,2025-01-01,false\r\n";
        let file = parse(csv.as_bytes()).unwrap();
        let lines: Vec<_> = file
            .rows
            .iter()
            .map(|r| match r {
                Ok(l) => (l.line, "ok".to_owned()),
                Err(f) => (f.line, f.reason.clone()),
            })
            .collect();
        assert_eq!(lines[0], (2, "ok".into()));
        assert_eq!(lines[1].0, 3);
        assert!(lines[1].1.contains("3 fields, expected 5"), "{lines:?}");
        assert_eq!(lines[2].0, 4);
        assert!(lines[2].1.starts_with("malformed row: identifier"));
        assert!(lines[3].1.contains("auto_renew"));
        assert!(lines[4].1.contains("term_end is not after leased_at"));
    }

    #[test]
    fn header_names_in_any_case_and_identifiers_in_any_notation_are_read_as_canonical() {
        let csv = "Identifier, TENANT_ID ,Leased_At,term_end,AUTO_RENEW\n\
                   0790000001,acme,2025-01-01,2030-01-01,true\n\
                   +93 79 000 0002,acme,2025-01-01,2030-01-01,false\n";
        let file = parse(csv.as_bytes()).unwrap();
        let ids: Vec<String> = file
            .rows
            .iter()
            .map(|r| r.as_ref().unwrap().identifier.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["+93790000001", "+93790000002"]);
    }

    #[test]
    fn a_wrong_header_or_an_empty_file_is_refused_as_a_whole() {
        assert!(matches!(parse(b""), Err(FileError::Empty)));
        assert!(matches!(
            parse(b"msisdn,tenant\n+93790000001,acme\n"),
            Err(FileError::Header { .. })
        ));
    }

    #[test]
    fn invalid_utf8_fails_its_row_only() {
        let mut csv = b"identifier,tenant_id,leased_at,term_end,auto_renew\n".to_vec();
        csv.extend_from_slice(b"+93790000001,ac\xFFme,2025-01-01,2030-01-01,true\n");
        csv.extend_from_slice(b"+93790000002,acme,2025-01-01,2030-01-01,true\n");
        let file = parse(&csv).unwrap();
        assert_eq!(file.rows.len(), 2);
        assert!(file.rows[0].as_ref().unwrap_err().reason.contains("UTF-8"));
        assert!(file.rows[1].is_ok());
    }
}
