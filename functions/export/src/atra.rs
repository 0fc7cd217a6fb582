//! The `atra-v1` files (docs/formats/atra-v1.md): the inventory state at
//! the period's end and the lifecycle events of the period, streamed from
//! Postgres into RFC 4180 CSV files and hashed as they are written.
//!
//! Both queries run in one `REPEATABLE READ` transaction, so the two files
//! describe the same snapshot; rows are written as they arrive, so memory
//! stays flat whatever the inventory's size.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};

/// The format's name, in the manifest and the `regulator_exports` row.
pub const FORMAT: &str = "atra-v1";
pub const INVENTORY_FILE: &str = "inventory.csv";
pub const EVENTS_FILE: &str = "events.csv";

pub const INVENTORY_HEADER: [&str; 11] = [
    "identifier",
    "kind",
    "operator_id",
    "mcc",
    "mnc",
    "state",
    "tenant_id",
    "lease_id",
    "lease_start",
    "lease_end",
    "state_changed_at",
];

pub const EVENTS_HEADER: [&str; 10] = [
    "audit_id",
    "occurred_at",
    "identifier",
    "transition",
    "from_state",
    "to_state",
    "tenant_id",
    "lease_id",
    "actor",
    "request_id",
];

/// RFC 3339 UTC with microseconds, formatted by Postgres.
macro_rules! ts {
    ($e:expr) => {
        concat!(
            "to_char(",
            $e,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        )
    };
}

/// The state of every identifier that existed at `as_of`. A row unchanged
/// since `as_of` (`state_changed_at < as_of`) is its own state then;
/// otherwise the last lifecycle audit entry before `as_of` says what it was
/// (its `after.state`, and the tenant it concerned when that state has a
/// holder); an identifier with no such entry was still in its initial
/// state, AVAILABLE. The lease is the one running at `as_of`, with its term
/// end at `as_of`: a row changed since may have been renewed since, so its
/// term end then is the one the last assign or renew entry before `as_of`
/// recorded for that lease.
const INVENTORY_SQL: &str = concat!(
    "SELECT n.identifier, n.kind::text AS kind, n.operator_id, n.mcc, n.mnc, \
            CASE WHEN n.state_changed_at < $1 THEN n.state::text ELSE coalesce(h.state, 'AVAILABLE') END AS state, \
            CASE WHEN n.state_changed_at < $1 THEN n.tenant_id \
                 WHEN h.state IN ('RESERVED', 'HELD', 'ASSIGNED', 'SUSPENDED') THEN h.tenant_id END AS tenant_id, \
            l.id::text AS lease_id, ",
    ts!("l.started_at"),
    " AS lease_start, ",
    ts!("coalesce(t.term_end, l.term_end)"),
    " AS lease_end, ",
    ts!(
        "CASE WHEN n.state_changed_at < $1 THEN n.state_changed_at ELSE coalesce(h.occurred_at, n.created_at) END"
    ),
    " AS state_changed_at \
     FROM numbering.numbers n \
     LEFT JOIN LATERAL ( \
         SELECT a.after->>'state' AS state, a.tenant_id, a.occurred_at FROM numbering.audit_log a \
         WHERE n.state_changed_at >= $1 AND a.subject = n.identifier AND a.occurred_at < $1 \
           AND a.after->>'state' IS NOT NULL \
         ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1) h ON true \
     LEFT JOIN LATERAL ( \
         SELECT l.id, l.started_at, l.term_end FROM numbering.leases l \
         WHERE l.number_id = n.id AND l.started_at < $1 AND (l.ended_at IS NULL OR l.ended_at >= $1) \
         ORDER BY l.started_at DESC LIMIT 1) l ON true \
     LEFT JOIN LATERAL ( \
         SELECT (a.after->>'term_end')::timestamptz AS term_end FROM numbering.audit_log a \
         WHERE n.state_changed_at >= $1 AND a.subject = n.identifier AND a.occurred_at < $1 \
           AND a.after->>'lease_id' = l.id::text AND a.after->>'term_end' IS NOT NULL \
         ORDER BY a.occurred_at DESC, a.id DESC LIMIT 1) t ON true \
     WHERE n.created_at < $1 \
     ORDER BY n.id"
);

/// The lifecycle transitions recorded in `[start, end)`: audit entries
/// whose `after` carries a state.
const EVENTS_SQL: &str = concat!(
    "SELECT a.id::text AS audit_id, ",
    ts!("a.occurred_at"),
    " AS occurred_at, a.subject AS identifier, a.action AS transition, \
            a.before->>'state' AS from_state, a.after->>'state' AS to_state, a.tenant_id, \
            a.after->>'lease_id' AS lease_id, a.actor, a.request_id \
     FROM numbering.audit_log a \
     WHERE a.occurred_at >= $1 AND a.occurred_at < $2 AND a.after->>'state' IS NOT NULL \
     ORDER BY a.occurred_at, a.id"
);

/// One written file: where it is, its rows (without the header), size and
/// SHA-256.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub name: &'static str,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Writes through to `inner` while hashing and counting.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("reading the inventory: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing {0}: {1}")]
    Io(&'static str, std::io::Error),
}

/// Streams `sql` (text columns only) into `dir/name` as RFC 4180 CSV
/// (CRLF, quoted where needed) with `header` first.
async fn write_csv<const N: usize>(
    conn: &mut PgConnection,
    dir: &Path,
    name: &'static str,
    header: [&str; N],
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<WrittenFile, WriteError> {
    let io = |e: std::io::Error| WriteError::Io(name, e);
    let path = dir.join(name);
    let file = std::fs::File::create(&path).map_err(io)?;
    let mut csv = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Hashing {
            inner: BufWriter::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            bytes: 0,
        });
    let csv_io = |e: csv::Error| WriteError::Io(name, std::io::Error::other(e));
    csv.write_record(header).map_err(csv_io)?;
    let mut rows = query.fetch(&mut *conn);
    let mut count = 0u64;
    while let Some(row) = rows.try_next().await? {
        for i in 0..N {
            let field: Option<&str> = row.try_get(i)?;
            csv.write_field(field.unwrap_or("")).map_err(csv_io)?;
        }
        csv.write_record(None::<&[u8]>).map_err(csv_io)?;
        count += 1;
    }
    drop(rows);
    let mut hashing = csv.into_inner().map_err(|e| io(e.into_error()))?;
    hashing.flush().map_err(io)?;
    hashing.inner.get_ref().sync_all().map_err(io)?;
    Ok(WrittenFile {
        name,
        path,
        rows: count,
        bytes: hashing.bytes,
        sha256: hex::encode(hashing.hasher.finalize()),
    })
}

/// Writes both files of the period `[start, end)` into `dir`, from one
/// snapshot taken on `conn` (which must be in a `REPEATABLE READ`
/// transaction in the platform scope).
pub async fn write_files(
    conn: &mut PgConnection,
    dir: &Path,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<[WrittenFile; 2], WriteError> {
    let inventory = write_csv(
        conn,
        dir,
        INVENTORY_FILE,
        INVENTORY_HEADER,
        sqlx::query(INVENTORY_SQL).bind(end),
    )
    .await?;
    let events = write_csv(
        conn,
        dir,
        EVENTS_FILE,
        EVENTS_HEADER,
        sqlx::query(EVENTS_SQL).bind(start).bind(end),
    )
    .await?;
    Ok([inventory, events])
}
