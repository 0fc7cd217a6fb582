//! Audit retention (SPEC §8: 13 months hot, 7 years cold): a monthly
//! `audit_log` partition whose month ended 13 months ago or more is written
//! to WORM storage, recorded in `audit_archives`, then detached.
//!
//! Continuity stays provable: the partition's `audit_chain` links remain in
//! the database, the archive row records the chain hash before the
//! partition's first link and at its last, and the object holds exactly what
//! [`entry_digest`] hashes, so each archived entry can be re-hashed against
//! its link ([`verify_archive`]) years later.
//!
//! The object (format [`FORMAT`]) is JSON lines: first a header
//! `{"format", "partition", "month", "entry_count", "first_seq",
//! "last_seq", "prev_hash", "head_hash"}` (hashes in hex), then one line per
//! entry in chain order: `{"seq", "id", "txid", "occurred_at_us",
//! "actor", "action", "tenant_id", "subject", "before", "after",
//! "request_id"}` — `occurred_at_us` is microseconds since the epoch and
//! `before`/`after` are the stored JSON texts as strings, byte for byte.

use std::io::Write;

use chrono::{DateTime, Datelike, Utc};
use futures_util::TryStreamExt;
use numbering_store::audit::{AuditEntry, GENESIS, entry_digest, link_hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::worm::{Body, WormError, WormStore, retention_years};

/// The archive object's format name.
pub const FORMAT: &str = "numbering-audit-archive-v1";

/// How long archived partitions are kept in WORM storage.
pub const RETENTION_YEARS: u32 = 7;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("audit partition {partition}: {count} entries are not sealed into the chain yet")]
    Unsealed { partition: String, count: i64 },
    #[error("audit partition {partition}: entry {entry_id} does not match its chain link {seq}")]
    ChainBroken {
        partition: String,
        seq: i64,
        entry_id: i64,
    },
    #[error("{0} has not been archived")]
    NotArchived(String),
    #[error(
        "write-once storage already holds a different object for {partition} at {uri}; refusing to record it"
    )]
    Conflict { partition: String, uri: String },
    #[error(transparent)]
    Worm(#[from] WormError),
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A monthly partition whose month ended 13 months ago or more.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DuePartition {
    pub partition: String,
    pub month_start: DateTime<Utc>,
    pub month_end: DateTime<Utc>,
}

impl DuePartition {
    /// `YYYY-MM`.
    pub fn month(&self) -> String {
        format!(
            "{:04}-{:02}",
            self.month_start.year(),
            self.month_start.month()
        )
    }

    fn key(&self) -> String {
        format!("audit/{}/{}.jsonl", self.month(), self.partition)
    }
}

/// The partitions still attached whose month ended 13 months ago or more.
pub async fn due(pool: &PgPool) -> Result<Vec<DuePartition>, sqlx::Error> {
    sqlx::query_as(
        "SELECT partition, month_start, month_end FROM numbering.audit_partition_bounds() \
         WHERE month_end <= date_trunc('month', now()) - interval '13 months' ORDER BY month_start",
    )
    .fetch_all(pool)
    .await
}

/// One archived partition as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub partition: String,
    pub month: String,
    pub entry_count: i64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub storage_uri: String,
    pub object_sha256: [u8; 32],
}

/// What a run did (or, in a dry run, would do) with one due partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Archived and detached now.
    Archived(Archived),
    /// Archived by an earlier run that did not get to detach it: detached now.
    Detached { partition: String },
    /// Dry run: would archive this many entries.
    WouldArchive { partition: String, entries: i64 },
}

/// Archives and detaches every due partition (one at a time, each
/// all-or-nothing on the database side); with `dry_run`, only counts.
pub async fn archive_due(
    pool: &PgPool,
    worm: &dyn WormStore,
    dry_run: bool,
) -> Result<Vec<Outcome>, ArchiveError> {
    let mut outcomes = Vec::new();
    for p in due(pool).await? {
        let recorded: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM numbering.audit_archives WHERE partition = $1)",
        )
        .bind(&p.partition)
        .fetch_one(pool)
        .await?;
        if dry_run {
            let entries = count_entries(pool, &p).await?;
            outcomes.push(Outcome::WouldArchive {
                partition: p.partition,
                entries,
            });
        } else if recorded {
            detach(pool, &p.partition).await?;
            outcomes.push(Outcome::Detached {
                partition: p.partition,
            });
        } else {
            let archived = archive_partition(pool, worm, &p).await?;
            detach(pool, &p.partition).await?;
            tracing::info!(partition = %archived.partition, entries = archived.entry_count,
                uri = %archived.storage_uri, "audit partition archived and detached");
            outcomes.push(Outcome::Archived(archived));
        }
    }
    Ok(outcomes)
}

async fn count_entries(pool: &PgPool, p: &DuePartition) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM numbering.audit_log WHERE occurred_at >= $1 AND occurred_at < $2",
    )
    .bind(p.month_start)
    .bind(p.month_end)
    .fetch_one(pool)
    .await
}

async fn detach(pool: &PgPool, partition: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT numbering.detach_audit_partition($1)")
        .bind(partition)
        .execute(pool)
        .await?;
    Ok(())
}

/// The header line of an archive object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    format: String,
    partition: String,
    month: String,
    entry_count: i64,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    prev_hash: Option<String>,
    head_hash: Option<String>,
}

/// One entry line: exactly the fields [`entry_digest`] hashes, and its seq.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    seq: i64,
    id: i64,
    txid: String,
    occurred_at_us: i64,
    actor: String,
    action: String,
    tenant_id: Option<String>,
    subject: Option<String>,
    before: Option<String>,
    after: Option<String>,
    request_id: Option<String>,
}

impl Line {
    /// The archived form of the entry linked at `seq`.
    fn new(seq: i64, e: AuditEntry) -> Self {
        Self {
            seq,
            id: e.id,
            txid: e.txid,
            occurred_at_us: e.occurred_at.timestamp_micros(),
            actor: e.actor,
            action: e.action,
            tenant_id: e.tenant_id,
            subject: e.subject,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
        }
    }

    fn entry(&self) -> Option<AuditEntry> {
        Some(AuditEntry {
            id: self.id,
            txid: self.txid.clone(),
            occurred_at: DateTime::from_timestamp_micros(self.occurred_at_us)?,
            actor: self.actor.clone(),
            action: self.action.clone(),
            tenant_id: self.tenant_id.clone(),
            subject: self.subject.clone(),
            before: self.before.clone(),
            after: self.after.clone(),
            request_id: self.request_id.clone(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct LinkedEntry {
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    #[sqlx(flatten)]
    entry: AuditEntry,
}

/// Writes one due partition to `worm` and records it (no detach). Every
/// entry is checked against its link first: a tampered partition is never
/// archived as if it were whole.
pub async fn archive_partition(
    pool: &PgPool,
    worm: &dyn WormStore,
    p: &DuePartition,
) -> Result<Archived, ArchiveError> {
    let unsealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM numbering.audit_log a WHERE a.occurred_at >= $1 AND a.occurred_at < $2 \
         AND NOT EXISTS (SELECT 1 FROM numbering.audit_chain c WHERE c.entry_id = a.id)",
    )
    .bind(p.month_start)
    .bind(p.month_end)
    .fetch_one(pool)
    .await?;
    if unsealed > 0 {
        return Err(ArchiveError::Unsealed {
            partition: p.partition.clone(),
            count: unsealed,
        });
    }
    // entries in chain order, each with its link, spooled to a file
    let tmp = std::env::temp_dir().join(format!(
        "numbering-audit-{}-{}.jsonl",
        p.partition,
        uuid::Uuid::new_v4().simple()
    ));
    let written = spool(pool, p, &tmp).await;
    let result = match written {
        Ok(spooled) => store_and_record(pool, worm, p, &tmp, spooled).await,
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&tmp).await;
    result
}

/// What spooling a partition found.
struct Spooled {
    header: Header,
    sha256: [u8; 32],
}

async fn spool(
    pool: &PgPool,
    p: &DuePartition,
    path: &std::path::Path,
) -> Result<Spooled, ArchiveError> {
    // the entry lines first (to a body file), then header + body into the object
    let body_path = path.with_extension("body");
    let mut body = std::io::BufWriter::new(std::fs::File::create(&body_path)?);
    let mut rows = sqlx::query_as::<_, LinkedEntry>(
        "SELECT c.seq, c.prev_hash, c.hash, a.id, a.txid::text AS txid, a.occurred_at, a.actor, a.action, \
                a.tenant_id, a.subject, a.before::text AS before, a.after::text AS after, a.request_id \
         FROM numbering.audit_log a JOIN numbering.audit_chain c ON c.entry_id = a.id \
         WHERE a.occurred_at >= $1 AND a.occurred_at < $2 ORDER BY c.seq",
    )
    .bind(p.month_start)
    .bind(p.month_end)
    .fetch(pool);
    let mut count = 0i64;
    let mut first: Option<(i64, Vec<u8>)> = None;
    let mut last: Option<(i64, Vec<u8>)> = None;
    while let Some(row) = rows.try_next().await? {
        let prev: [u8; 32] = row.prev_hash.as_slice().try_into().unwrap_or(GENESIS);
        if prev[..] != row.prev_hash[..]
            || link_hash(&prev, row.seq, &entry_digest(&row.entry))[..] != row.hash[..]
        {
            let _ = std::fs::remove_file(&body_path);
            return Err(ArchiveError::ChainBroken {
                partition: p.partition.clone(),
                seq: row.seq,
                entry_id: row.entry.id,
            });
        }
        let line = Line::new(row.seq, row.entry);
        serde_json::to_writer(&mut body, &line).map_err(std::io::Error::other)?;
        body.write_all(b"\n")?;
        count += 1;
        if first.is_none() {
            first = Some((row.seq, row.prev_hash));
        }
        last = Some((row.seq, row.hash));
    }
    body.flush()?;
    drop(body);
    let header = Header {
        format: FORMAT.to_owned(),
        partition: p.partition.clone(),
        month: p.month(),
        entry_count: count,
        first_seq: first.as_ref().map(|f| f.0),
        last_seq: last.as_ref().map(|l| l.0),
        prev_hash: first.map(|f| hex::encode(f.1)),
        head_hash: last.map(|l| hex::encode(l.1)),
    };
    let sha256 = assemble(path, &header, &body_path)?;
    let _ = std::fs::remove_file(&body_path);
    Ok(Spooled { header, sha256 })
}

/// Writes the object to `path`: the header line, then the body file's
/// entry lines; returns the object's SHA-256.
fn assemble(
    path: &std::path::Path,
    header: &Header,
    body_path: &std::path::Path,
) -> Result<[u8; 32], ArchiveError> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut hasher = Sha256::new();
    let mut head = serde_json::to_vec(header).map_err(std::io::Error::other)?;
    head.push(b'\n');
    hasher.update(&head);
    out.write_all(&head)?;
    let mut body = std::fs::File::open(body_path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut body, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    Ok(hasher.finalize().into())
}

async fn store_and_record(
    pool: &PgPool,
    worm: &dyn WormStore,
    p: &DuePartition,
    path: &std::path::Path,
    spooled: Spooled,
) -> Result<Archived, ArchiveError> {
    let key = p.key();
    let uri = match worm
        .put(
            &key,
            Body::File(path.to_owned()),
            retention_years(RETENTION_YEARS),
        )
        .await
    {
        Ok(stored) => stored.uri,
        // an earlier run stored it but did not record it: the same bytes are fine
        Err(WormError::AlreadyExists(uri)) => {
            let existing = worm.get(&key).await?;
            if <[u8; 32]>::from(Sha256::digest(&existing)) != spooled.sha256 {
                return Err(ArchiveError::Conflict {
                    partition: p.partition.clone(),
                    uri,
                });
            }
            uri
        }
        Err(e) => return Err(e.into()),
    };
    let h = &spooled.header;
    let unhex = |s: &Option<String>| s.as_deref().and_then(|s| hex::decode(s).ok());
    sqlx::query(
        "INSERT INTO numbering.audit_archives \
             (partition, month, format, entry_count, first_seq, last_seq, prev_hash, head_hash, storage_uri, object_key, object_sha256) \
         VALUES ($1, $2::date, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&p.partition)
    .bind(p.month_start.date_naive())
    .bind(FORMAT)
    .bind(h.entry_count)
    .bind(h.first_seq)
    .bind(h.last_seq)
    .bind(unhex(&h.prev_hash))
    .bind(unhex(&h.head_hash))
    .bind(&uri)
    .bind(&key)
    .bind(&spooled.sha256[..])
    .execute(pool)
    .await?;
    Ok(Archived {
        partition: p.partition.clone(),
        month: p.month(),
        entry_count: h.entry_count,
        first_seq: h.first_seq,
        last_seq: h.last_seq,
        storage_uri: uri,
        object_sha256: spooled.sha256,
    })
}

mod verify;

pub use verify::{ArchiveCheck, verify_archive};
