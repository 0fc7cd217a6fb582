//! Moving an import's rows in bulk: the candidate rows `COPY`d into a
//! temporary staging table, the rows the database refuses found in one
//! set-based query, and the batch's row errors `COPY`d into
//! `lease_import_errors`.

use std::collections::HashMap;

use uuid::Uuid;

use super::{ImportRow, NewImport, Result, RowRejection};
use crate::scope::Tx;

/// COPY payloads are sent in pieces of about this size.
const COPY_CHUNK: usize = 1 << 20;

/// `COPY`s the candidate rows into the transaction's staging table.
pub(super) async fn stage(tx: &mut Tx, new: &NewImport<'_>) -> Result<()> {
    sqlx::query(
        "CREATE TEMPORARY TABLE import_rows (line integer NOT NULL, identifier text NOT NULL, \
             mcc text, mnc text, contract_ref text NOT NULL, vanity boolean NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut **tx)
    .await?;
    copy_in(
        tx,
        "COPY import_rows (line, identifier, mcc, mnc, contract_ref, vanity) FROM STDIN",
        new.rows,
        |buf, r| {
            use std::io::Write as _;
            let _ = write!(buf, "{}\t", r.line);
            copy_text(buf, Some(&r.identifier));
            buf.push(b'\t');
            copy_text(buf, r.mcc.as_deref());
            buf.push(b'\t');
            copy_text(buf, r.mnc.as_deref());
            buf.push(b'\t');
            copy_text(buf, Some(&r.contract_ref));
            buf.extend_from_slice(if r.vanity { b"\tt\n" } else { b"\tf\n" });
        },
    )
    .await?;
    sqlx::query("ANALYZE import_rows")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends `v` in COPY's text format (`\N` for NULL).
fn copy_text(buf: &mut Vec<u8>, v: Option<&str>) {
    let Some(v) = v else {
        buf.extend_from_slice(b"\\N");
        return;
    };
    for b in v.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

/// The staged rows the database refuses, with the first reason each.
pub(super) async fn refused_by_database(
    tx: &mut Tx,
    new: &NewImport<'_>,
) -> Result<Vec<RowRejection>> {
    let who = new.operator_id.unwrap_or("ATRA");
    let refused: Vec<(i32, String)> = sqlx::query_as(
        "SELECT s.line, CASE \
             WHEN c.id IS NULL THEN 'unknown contract: ' || s.contract_ref || ' is not a ' || $2 || ' contract of ' || $3 \
             WHEN c.status <> 'ACTIVE' THEN 'contract not active: ' || c.contract_ref || ' is ' || c.status \
             WHEN c.starts_on > current_date OR c.ends_on < current_date THEN 'contract not active: ' || c.contract_ref \
                  || ' runs ' || c.starts_on || ' to ' || coalesce(c.ends_on::text, 'open end') \
             WHEN length(s.identifier) <> length(c.range_start) \
                  OR s.identifier COLLATE \"C\" < c.range_start COLLATE \"C\" \
                  OR s.identifier COLLATE \"C\" > c.range_end COLLATE \"C\" \
                  THEN 'out of contract: ' || s.identifier || ' is outside ' || c.contract_ref \
                  || ' (' || c.range_start || ' to ' || c.range_end || ')' \
             ELSE 'already in inventory: ' || s.identifier || ' is ' || n.state END \
         FROM import_rows s \
         LEFT JOIN numbering.lease_contracts c ON c.contract_ref = s.contract_ref \
              AND c.operator_id IS NOT DISTINCT FROM $1 AND c.kind = $2::numbering.identifier_kind \
         LEFT JOIN numbering.numbers n ON n.identity_key = s.identifier AND n.state <> 'RETIRED' \
         WHERE c.id IS NULL OR c.status <> 'ACTIVE' OR c.starts_on > current_date OR c.ends_on < current_date \
            OR length(s.identifier) <> length(c.range_start) \
            OR s.identifier COLLATE \"C\" < c.range_start COLLATE \"C\" \
            OR s.identifier COLLATE \"C\" > c.range_end COLLATE \"C\" \
            OR n.id IS NOT NULL \
         ORDER BY s.line",
    )
    .bind(new.operator_id)
    .bind(new.kind.as_str())
    .bind(who)
    .fetch_all(&mut **tx)
    .await?;
    if refused.is_empty() {
        return Ok(Vec::new());
    }
    let by_line: HashMap<u32, &ImportRow> = new.rows.iter().map(|r| (r.line, r)).collect();
    Ok(refused
        .into_iter()
        .map(|(line, reason)| {
            let line = line as u32;
            let raw = by_line
                .get(&line)
                .and_then(|r| new.file.get(r.raw.clone()))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            RowRejection { line, reason, raw }
        })
        .collect())
}

/// `COPY`s the batch's row errors into `lease_import_errors`.
pub(super) async fn copy_errors(tx: &mut Tx, id: Uuid, rejected: &[RowRejection]) -> Result<()> {
    if rejected.is_empty() {
        return Ok(());
    }
    let id = id.to_string();
    copy_in(
        tx,
        "COPY numbering.lease_import_errors (import_id, line, reason, raw) FROM STDIN",
        rejected,
        |buf, r| {
            use std::io::Write as _;
            let _ = write!(buf, "{id}\t{}\t", r.line);
            copy_text(buf, Some(&r.reason));
            buf.push(b'\t');
            // NUL cannot be stored in text
            copy_text(buf, Some(&r.raw.replace('\0', "\u{fffd}")));
            buf.push(b'\n');
        },
    )
    .await
}

/// Sends `rows` to `statement` (a `COPY … FROM STDIN` in text format), each
/// written by `write`, in pieces of about [`COPY_CHUNK`] bytes.
async fn copy_in<T>(
    tx: &mut Tx,
    statement: &str,
    rows: &[T],
    write: impl Fn(&mut Vec<u8>, &T),
) -> Result<()> {
    let mut copy = tx.copy_in_raw(statement).await?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 4096);
    for r in rows {
        write(&mut buf, r);
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf)).await?;
            buf.reserve(COPY_CHUNK + 4096);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    copy.finish().await?;
    Ok(())
}
