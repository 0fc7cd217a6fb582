//! The audit hash chain: sealing and verification.
//!
//! Writers only INSERT into `audit_log`; nothing serialises them. The sealer
//! appends `audit_chain` links in `(txid, id)` order, taking only entries
//! whose transaction is older than the oldest one still running
//! (`pg_snapshot_xmin`): once that holds, no entry can ever appear before
//! the sealed head, so the order is final. One sealer runs at a time (an
//! advisory lock); any number of instances may try.
//!
//! Link `seq` hashes: `SHA-256(prev_hash ‖ seq ‖ SHA-256(entry))`, where the
//! entry is encoded field by field with length prefixes (see
//! [`entry_digest`]). Verification recomputes every link and reports the
//! first position that does not hold.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// The `prev_hash` of the first link.
pub const GENESIS: [u8; 32] = [0; 32];

/// Advisory-lock key of the single sealer ("numbering-audit-sealer").
const SEALER_LOCK: i64 = 0x6e75_6d62_6175_6469;

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub txid: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub tenant_id: Option<String>,
    pub subject: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
}

pub(crate) const ENTRY_COLUMNS: &str = "a.id, a.txid::text AS txid, a.occurred_at, a.actor, a.action, a.tenant_id, \
     a.subject, a.before::text AS before, a.after::text AS after, a.request_id";

/// SHA-256 of the entry's fields, each length-prefixed (u32 big-endian;
/// `u32::MAX` marks an absent field), in column order.
pub fn entry_digest(e: &AuditEntry) -> [u8; 32] {
    EntryFields {
        id: e.id,
        txid: &e.txid,
        occurred_at_us: e.occurred_at.timestamp_micros(),
        actor: &e.actor,
        action: &e.action,
        tenant_id: e.tenant_id.as_deref(),
        subject: e.subject.as_deref(),
        before: e.before.as_deref(),
        after: e.after.as_deref(),
        request_id: e.request_id.as_deref(),
    }
    .digest()
}

/// An entry's hashed fields, borrowed (verification hashes rows in place).
struct EntryFields<'a> {
    id: i64,
    txid: &'a str,
    occurred_at_us: i64,
    actor: &'a str,
    action: &'a str,
    tenant_id: Option<&'a str>,
    subject: Option<&'a str>,
    before: Option<&'a str>,
    after: Option<&'a str>,
    request_id: Option<&'a str>,
}

impl<'a> EntryFields<'a> {
    /// Reads the [`ENTRY_COLUMNS`] of `row`, in order, without copying.
    fn from_row(row: &'a sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            id: row.try_get(0)?,
            txid: row.try_get(1)?,
            occurred_at_us: row.try_get::<DateTime<Utc>, _>(2)?.timestamp_micros(),
            actor: row.try_get(3)?,
            action: row.try_get(4)?,
            tenant_id: row.try_get(5)?,
            subject: row.try_get(6)?,
            before: row.try_get(7)?,
            after: row.try_get(8)?,
            request_id: row.try_get(9)?,
        })
    }

    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut field = |v: Option<&[u8]>| match v {
            Some(b) => {
                h.update((b.len() as u32).to_be_bytes());
                h.update(b);
            }
            None => h.update(u32::MAX.to_be_bytes()),
        };
        field(Some(&self.id.to_be_bytes()));
        field(Some(self.txid.as_bytes()));
        field(Some(&self.occurred_at_us.to_be_bytes()));
        field(Some(self.actor.as_bytes()));
        field(Some(self.action.as_bytes()));
        field(self.tenant_id.map(str::as_bytes));
        field(self.subject.map(str::as_bytes));
        field(self.before.map(str::as_bytes));
        field(self.after.map(str::as_bytes));
        field(self.request_id.map(str::as_bytes));
        h.finalize().into()
    }
}

/// The hash of link `seq` over `prev` and the entry digest.
pub fn link_hash(prev: &[u8; 32], seq: i64, digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(digest);
    h.finalize().into()
}

/// The head of the chain: its last link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: [u8; 32],
}

impl ChainHead {
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// Seals up to `max` finished, unsealed entries; returns how many. Sealers
/// queue on one advisory lock, so any number of instances may call this.
pub async fn seal(pool: &PgPool, max: i64) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEALER_LOCK)
        .execute(&mut *tx)
        .await?;
    let head: Option<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
        "SELECT seq, hash, entry_txid::text, entry_id FROM numbering.audit_chain ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (mut seq, mut prev, after_txid, after_id) = match head {
        Some((seq, hash, txid, id)) => (seq, to_hash(&hash)?, txid, id),
        None => (0, GENESIS, "0".to_owned(), 0),
    };
    let xmin: String = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        .fetch_one(&mut *tx)
        .await?;
    let entries: Vec<AuditEntry> = sqlx::query_as(&format!(
        "SELECT {ENTRY_COLUMNS} FROM numbering.audit_log a \
         WHERE (a.txid, a.id) > ($1::xid8, $2) AND a.txid < $3::xid8 \
         ORDER BY a.txid, a.id LIMIT $4"
    ))
    .bind(&after_txid)
    .bind(after_id)
    .bind(&xmin)
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    if entries.is_empty() {
        return Ok(0);
    }
    let mut seqs = Vec::with_capacity(entries.len());
    let mut ids = Vec::with_capacity(entries.len());
    let mut txids = Vec::with_capacity(entries.len());
    let mut prevs = Vec::with_capacity(entries.len());
    let mut hashes = Vec::with_capacity(entries.len());
    for e in &entries {
        seq += 1;
        let hash = link_hash(&prev, seq, &entry_digest(e));
        seqs.push(seq);
        ids.push(e.id);
        txids.push(e.txid.clone());
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        prev = hash;
    }
    sqlx::query(
        "INSERT INTO numbering.audit_chain (seq, entry_id, entry_txid, prev_hash, hash) \
         SELECT s, i, t::xid8, p, h FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[]) \
              AS u(s, i, t, p, h)",
    )
    .bind(&seqs)
    .bind(&ids)
    .bind(&txids)
    .bind(&prevs)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    metrics::counter!("numbering_audit_sealed_total").increment(entries.len() as u64);
    Ok(entries.len() as u64)
}

/// Seals until nothing finished is left unsealed.
pub async fn seal_all(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = seal(pool, 10_000).await?;
        total += n;
        if n < 10_000 {
            return Ok(total);
        }
    }
}

/// Seals every entry committed before this call. Entries become sealable
/// once every transaction older than them has finished (cluster-wide), so
/// this waits — up to `timeout` — for the transactions running at the call
/// to end. Returns how many entries it sealed.
pub async fn seal_pending(pool: &PgPool, timeout: std::time::Duration) -> Result<u64, sqlx::Error> {
    let horizon: String =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
            .fetch_one(pool)
            .await?;
    let horizon: u64 = horizon.parse().unwrap_or(u64::MAX);
    let deadline = std::time::Instant::now() + timeout;
    let mut total = 0;
    loop {
        let xmin: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(pool)
                .await?;
        let passed = xmin.parse::<u64>().is_ok_and(|x| x >= horizon);
        total += seal_all(pool).await?;
        if passed || std::time::Instant::now() >= deadline {
            return Ok(total);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// What is wrong at the first broken position of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// A link is missing: the chain jumps from `seq - 1` to a later link.
    MissingLink,
    /// The link's entry no longer exists (deleted).
    MissingEntry { entry_id: i64 },
    /// The entry's content no longer hashes to the link (edited).
    EntryAltered { entry_id: i64 },
    /// The link does not continue the previous one (reordered or forged).
    BrokenLink { entry_id: i64 },
    /// Entries are out of their sealed order (swapped).
    OutOfOrder { entry_id: i64 },
    /// An entry sits inside the sealed range without a link (inserted).
    UnsealedEntry { entry_id: i64 },
    /// The chain does not match what an archived partition recorded (its
    /// hash before or at its end, or its count of archived entries).
    ArchiveMismatch { partition: String },
}

impl BreakKind {
    /// A stable, machine-readable name (for events and logs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingLink => "missing_link",
            Self::MissingEntry { .. } => "missing_entry",
            Self::EntryAltered { .. } => "entry_altered",
            Self::BrokenLink { .. } => "broken_link",
            Self::OutOfOrder { .. } => "out_of_order",
            Self::UnsealedEntry { .. } => "unsealed_entry",
            Self::ArchiveMismatch { .. } => "archive_mismatch",
        }
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingLink => write!(f, "link missing"),
            Self::MissingEntry { entry_id } => write!(f, "entry {entry_id} deleted"),
            Self::EntryAltered { entry_id } => write!(f, "entry {entry_id} altered"),
            Self::BrokenLink { entry_id } => {
                write!(f, "link of entry {entry_id} does not continue the chain")
            }
            Self::OutOfOrder { entry_id } => write!(f, "entry {entry_id} out of order"),
            Self::UnsealedEntry { entry_id } => {
                write!(f, "entry {entry_id} inserted inside the sealed range")
            }
            Self::ArchiveMismatch { partition } => {
                write!(f, "the chain does not match the archive of {partition}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The chain position (`seq`, from 1) where verification first failed.
    pub position: i64,
    pub kind: BreakKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Links checked up to the first break (all of them if none), each
    /// recomputed from its entry.
    pub checked: u64,
    /// Links whose entries are in archived (detached) partitions, checked
    /// for continuity only (`audit archive verify` re-checks their entries).
    pub archived: u64,
    /// The last link of the chain as stored.
    pub head: Option<ChainHead>,
    pub first_break: Option<ChainBreak>,
    /// Entries after the sealed head, not yet sealed (still in flight, or
    /// waiting on an older transaction).
    pub pending: i64,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// One archived partition as `audit_verify` needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchivedRange {
    pub partition: String,
    pub entry_count: i64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub prev_hash: Option<Vec<u8>>,
    pub head_hash: Option<Vec<u8>>,
}

/// The archives recorded in `audit_archives`, by first position.
pub async fn archived_ranges(pool: &PgPool) -> Result<Vec<ArchivedRange>, sqlx::Error> {
    sqlx::query_as(
        "SELECT partition, entry_count, first_seq, last_seq, prev_hash, head_hash \
         FROM numbering.audit_archives ORDER BY first_seq NULLS FIRST",
    )
    .fetch_all(pool)
    .await
}

/// Recomputes the whole chain and reports the first position that breaks.
///
/// A link whose entry is gone is a break unless its position lies inside
/// an archived partition's range: then it is counted as archived and
/// checked for continuity (its `prev_hash`, its order, the archive's hash
/// before and at its end); the archived links must add up to the archives'
/// entry counts.
pub async fn verify(pool: &PgPool) -> Result<VerifyReport, sqlx::Error> {
    let archives = archived_ranges(pool).await?;
    let report = match verify_streaming(pool, &archives).await? {
        Some(report) => report,
        None => {
            tracing::debug!("the chain does not zip: walking it exactly to find the break");
            verify_exact(pool, &archives).await?
        }
    };
    metrics::gauge!("numbering_audit_chain_intact").set(if report.is_intact() { 1.0 } else { 0.0 });
    metrics::gauge!("numbering_audit_unsealed_entries").set(report.pending as f64);
    Ok(report)
}

fn in_archive(archives: &[ArchivedRange], seq: i64) -> bool {
    archives.iter().any(|a| {
        a.first_seq
            .zip(a.last_seq)
            .is_some_and(|(f, l)| (f..=l).contains(&seq))
    })
}

/// The archive whose recorded hash before or at its ends `seq` contradicts.
fn archive_mismatch<'a>(
    archives: &'a [ArchivedRange],
    seq: i64,
    prev: &[u8; 32],
    stored: &[u8; 32],
) -> Option<&'a ArchivedRange> {
    archives.iter().find(|a| {
        (a.first_seq == Some(seq) && a.prev_hash.as_deref() != Some(&prev[..]))
            || (a.last_seq == Some(seq) && a.head_hash.as_deref() != Some(&stored[..]))
    })
}

/// How many stretches of the chain the fast path verifies at once.
const STRETCHES: i64 = 4;

/// The fast path of [`verify`] alone: `Some` when it proves the chain
/// intact, `None` when anything does not match (then [`verify`] walks the
/// chain exactly for the position). For tests and benchmarks.
pub async fn verify_fast_path(pool: &PgPool) -> Result<Option<VerifyReport>, sqlx::Error> {
    let archives = archived_ranges(pool).await?;
    verify_streaming(pool, &archives).await
}

/// The fast path: the chain is cut into [`STRETCHES`] stretches by `seq`,
/// verified concurrently. In each, the links (in `seq` order) and the
/// entries of the same sealing-order range (`(txid, id)`) are read as two
/// index-ordered streams and zipped, each row hashed in place: no join, no
/// sort, no per-row allocation. Stretches must then join up: each one's
/// first `prev_hash` is the previous one's last hash, and their orders
/// follow. Checks everything [`verify_exact`] checks, but only proves an
/// intact chain: on the first thing that does not match it returns `None`
/// and the caller walks the chain exactly for the position and the kind.
/// The links are read first, so entries committed since are simply pending
/// after the head.
async fn verify_streaming(
    pool: &PgPool,
    archives: &[ArchivedRange],
) -> Result<Option<VerifyReport>, sqlx::Error> {
    let last: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM numbering.audit_chain")
        .fetch_one(pool)
        .await?;
    let last = last.unwrap_or(0);
    // stretch k covers links [starts[k], starts[k + 1]) and the entries from
    // its first link's order up to the next stretch's first link's order
    let mut starts: Vec<i64> = (0..STRETCHES)
        .map(|k| 1 + k * last / STRETCHES)
        .filter(|s| *s <= last)
        .collect();
    starts.dedup();
    let bounds: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT seq, entry_txid::text, entry_id FROM numbering.audit_chain WHERE seq = ANY($1) ORDER BY seq",
    )
    .bind(&starts)
    .fetch_all(pool)
    .await?;
    if bounds.len() != starts.len() {
        return Ok(None); // a link is missing at a cut
    }
    let stretches = (0..bounds.len()).map(|k| {
        // the first stretch takes every entry before its first link too
        let from = match k {
            0 => Some((1, "0".to_owned(), 0)),
            _ => bounds.get(k).cloned(),
        };
        let to = bounds.get(k + 1).cloned();
        zip_stretch(pool, archives, from, to)
    });
    let mut results = Vec::new();
    for r in futures_util::future::try_join_all(stretches).await? {
        let Some(r) = r else { return Ok(None) };
        results.push(r);
    }
    if results.is_empty() {
        // an empty chain: every entry is pending
        return match zip_stretch(pool, archives, None, None).await? {
            Some(r) => Ok(Some(r.into_report(0, 0))),
            None => Ok(None),
        };
    }
    let mut prev_end: Option<([u8; 32], (u64, i64))> = None;
    for r in &results {
        let joins = match prev_end {
            None => r.first_prev == GENESIS,
            Some((hash, order)) => hash == r.first_prev && r.first_order.is_some_and(|f| f > order),
        };
        if !joins {
            return Ok(None);
        }
        prev_end = r.head.as_ref().map(|h| h.hash).zip(r.last_order);
    }
    let checked = results.iter().map(|r| r.checked).sum();
    let archived: u64 = results.iter().map(|r| r.archived).sum();
    let expected_archived: i64 = archives.iter().map(|a| a.entry_count).sum();
    if archived as i64 != expected_archived {
        return Ok(None);
    }
    let Some(last) = results.pop() else {
        return Ok(None);
    };
    Ok(Some(last.into_report(checked, archived)))
}

/// What one verified stretch found.
struct Stretch {
    first_prev: [u8; 32],
    first_order: Option<(u64, i64)>,
    last_order: Option<(u64, i64)>,
    head: Option<ChainHead>,
    checked: u64,
    archived: u64,
    pending: i64,
}

impl Stretch {
    fn into_report(self, checked: u64, archived: u64) -> VerifyReport {
        VerifyReport {
            checked,
            archived,
            head: self.head,
            first_break: None,
            pending: self.pending,
        }
    }
}

/// Zips the links from `from` (a link's seq, txid and entry id; `None`: the
/// start) up to `to` (excluded; `None`: the end) with the entries of the
/// same order range. `None` when anything does not match. Entries left over
/// in the last stretch are pending; anywhere else they are a break.
async fn zip_stretch(
    pool: &PgPool,
    archives: &[ArchivedRange],
    from: Option<(i64, String, i64)>,
    to: Option<(i64, String, i64)>,
) -> Result<Option<Stretch>, sqlx::Error> {
    use sqlx::Row;
    let (from_seq, from_txid, from_id) = from.unwrap_or((1, "0".into(), 0));
    let (to_seq, to_txid, to_id) = match &to {
        Some((s, t, i)) => (*s, Some(t.clone()), *i),
        None => (i64::MAX, None, i64::MAX),
    };
    let mut links = sqlx::query(
        "SELECT seq, entry_id, entry_txid::text, prev_hash, hash FROM numbering.audit_chain \
         WHERE seq >= $1 AND seq < $2 ORDER BY seq",
    )
    .bind(from_seq)
    .bind(to_seq)
    .fetch(pool);
    let first_link = links.try_next().await?;
    let entries_sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM numbering.audit_log a \
         WHERE (a.txid, a.id) >= ($1::text::xid8, $2) \
           AND ($3::text IS NULL OR (a.txid, a.id) < ($3::text::xid8, $4)) \
         ORDER BY a.txid, a.id"
    );
    let mut entries = sqlx::query(&entries_sql)
        .bind(&from_txid)
        .bind(from_id)
        .bind(&to_txid)
        .bind(to_id)
        .fetch(pool);
    let mut next_entry = entries.try_next().await?;
    let mut link = first_link;
    let mut first_prev = None;
    let mut prev = GENESIS;
    let mut expected_seq = from_seq;
    let mut first_order = None;
    let mut last_order: Option<(u64, i64)> = None;
    let (mut checked, mut archived) = (0u64, 0u64);
    let mut head = None;
    while let Some(l) = link {
        let seq: i64 = l.try_get(0)?;
        let entry_id: i64 = l.try_get(1)?;
        let entry_txid: &str = l.try_get(2)?;
        let Ok(prev_hash) = <[u8; 32]>::try_from(l.try_get::<&[u8], _>(3)?) else {
            return Ok(None);
        };
        let Ok(stored) = <[u8; 32]>::try_from(l.try_get::<&[u8], _>(4)?) else {
            return Ok(None);
        };
        let Ok(txid) = entry_txid.parse::<u64>() else {
            return Ok(None);
        };
        if first_prev.is_none() {
            first_prev = Some(prev_hash);
            prev = prev_hash;
        }
        let order = (txid, entry_id);
        if seq != expected_seq
            || prev_hash != prev
            || last_order.is_some_and(|last| order <= last)
            || archive_mismatch(archives, seq, &prev, &stored).is_some()
        {
            return Ok(None);
        }
        let is_next = match &next_entry {
            Some(row) => row.try_get::<i64, _>(0)? == entry_id,
            None => false,
        };
        if is_next {
            if let Some(row) = &next_entry {
                let e = EntryFields::from_row(row)?;
                if e.txid != entry_txid || link_hash(&prev, seq, &e.digest()) != stored {
                    return Ok(None);
                }
            }
            checked += 1;
            next_entry = entries.try_next().await?;
        } else if in_archive(archives, seq) {
            archived += 1;
        } else {
            return Ok(None);
        }
        first_order.get_or_insert(order);
        last_order = Some(order);
        prev = stored;
        expected_seq += 1;
        head = Some(ChainHead { seq, hash: stored });
        link = links.try_next().await?;
    }
    if to.is_some() && expected_seq != to_seq {
        return Ok(None); // the stretch ended before the next one starts
    }
    // what is left is pending, and must all come after the sealed head
    let mut pending = 0i64;
    if let Some(row) = &next_entry {
        let txid: &str = row.try_get(1)?;
        let first_unsealed = (txid.parse::<u64>().unwrap_or(0), row.try_get::<i64, _>(0)?);
        if to.is_some() || last_order.is_some_and(|last| first_unsealed <= last) {
            return Ok(None);
        }
        pending = 1;
        while entries.try_next().await?.is_some() {
            pending += 1;
        }
    }
    Ok(Some(Stretch {
        first_prev: first_prev.unwrap_or(GENESIS),
        first_order,
        last_order,
        head,
        checked,
        archived,
        pending,
    }))
}

/// The exact walk: links joined to their entries, in `seq` order, stopping
/// the checks at the first position that breaks and saying why.
async fn verify_exact(
    pool: &PgPool,
    archives: &[ArchivedRange],
) -> Result<VerifyReport, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Link {
        seq: i64,
        entry_id: i64,
        entry_txid: String,
        prev_hash: Vec<u8>,
        hash: Vec<u8>,
        #[sqlx(flatten)]
        entry: OptionalEntry,
    }
    #[derive(sqlx::FromRow)]
    struct OptionalEntry {
        id: Option<i64>,
        txid: Option<String>,
        occurred_at: Option<DateTime<Utc>>,
        actor: Option<String>,
        action: Option<String>,
        tenant_id: Option<String>,
        subject: Option<String>,
        before: Option<String>,
        after: Option<String>,
        request_id: Option<String>,
    }
    let sql = format!(
        "SELECT c.seq, c.entry_id, c.entry_txid::text AS entry_txid, c.prev_hash, c.hash, {ENTRY_COLUMNS} \
         FROM numbering.audit_chain c LEFT JOIN numbering.audit_log a ON a.id = c.entry_id ORDER BY c.seq"
    );
    let mut rows = sqlx::query_as::<_, Link>(&sql).fetch(pool);
    let mut prev = GENESIS;
    let mut expected_seq = 1;
    let mut last_order: Option<(u64, i64)> = None;
    let mut checked = 0u64;
    let mut archived = 0u64;
    let mut head = None;
    let mut first_break = None;
    while let Some(link) = rows.try_next().await? {
        let stored: [u8; 32] = to_hash(&link.hash).unwrap_or([0; 32]);
        head = Some(ChainHead {
            seq: link.seq,
            hash: stored,
        });
        if first_break.is_some() {
            continue;
        }
        let fail = |kind| {
            Some(ChainBreak {
                position: expected_seq,
                kind,
            })
        };
        if link.seq != expected_seq {
            first_break = fail(BreakKind::MissingLink);
            continue;
        }
        if to_hash(&link.prev_hash).ok() != Some(prev) {
            first_break = fail(BreakKind::BrokenLink {
                entry_id: link.entry_id,
            });
            continue;
        }
        if let Some(a) = archive_mismatch(archives, link.seq, &prev, &stored) {
            first_break = fail(BreakKind::ArchiveMismatch {
                partition: a.partition.clone(),
            });
            continue;
        }
        let e = link.entry;
        let (Some(id), Some(txid), Some(occurred_at), Some(actor), Some(action)) =
            (e.id, e.txid, e.occurred_at, e.actor, e.action)
        else {
            let order = (link.entry_txid.parse::<u64>().unwrap_or(0), link.entry_id);
            if !in_archive(archives, link.seq) {
                first_break = fail(BreakKind::MissingEntry {
                    entry_id: link.entry_id,
                });
            } else if last_order.is_some_and(|last| order <= last) {
                first_break = fail(BreakKind::OutOfOrder {
                    entry_id: link.entry_id,
                });
            } else {
                last_order = Some(order);
                prev = stored;
                expected_seq += 1;
                archived += 1;
            }
            continue;
        };
        let entry = AuditEntry {
            id,
            txid,
            occurred_at,
            actor,
            action,
            tenant_id: e.tenant_id,
            subject: e.subject,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
        };
        let order = (entry.txid.parse::<u64>().unwrap_or(0), entry.id);
        if entry.txid != link.entry_txid || last_order.is_some_and(|last| order <= last) {
            first_break = fail(BreakKind::OutOfOrder {
                entry_id: link.entry_id,
            });
            continue;
        }
        if link_hash(&prev, link.seq, &entry_digest(&entry)) != stored {
            first_break = fail(BreakKind::EntryAltered {
                entry_id: link.entry_id,
            });
            continue;
        }
        last_order = Some(order);
        prev = stored;
        expected_seq += 1;
        checked += 1;
    }
    drop(rows);
    let expected_archived: i64 = archives.iter().map(|a| a.entry_count).sum();
    if first_break.is_none() && archived as i64 != expected_archived {
        // an entry deleted inside an archived range, or an archive that
        // does not hold what it claims
        if let Some(a) = archives.iter().find(|a| a.first_seq.is_some()) {
            first_break = Some(ChainBreak {
                position: a.first_seq.unwrap_or(1),
                kind: BreakKind::ArchiveMismatch {
                    partition: a.partition.clone(),
                },
            });
        }
    }
    if first_break.is_none() {
        if let Some((txid, id)) = last_order {
            // every finished entry before the sealed head must be sealed
            let inserted: Option<(i64, i64)> = sqlx::query_as(
                "SELECT a.id, (SELECT count(*) FROM numbering.audit_chain c \
                                WHERE (c.entry_txid, c.entry_id) < (a.txid, a.id)) \
                 FROM numbering.audit_log a \
                 WHERE (a.txid, a.id) < ($1::text::xid8, $2) \
                   AND NOT EXISTS (SELECT 1 FROM numbering.audit_chain c WHERE c.entry_id = a.id) \
                 ORDER BY a.txid, a.id LIMIT 1",
            )
            .bind(txid.to_string())
            .bind(id)
            .fetch_optional(pool)
            .await?;
            if let Some((entry_id, before)) = inserted {
                first_break = Some(ChainBreak {
                    position: before + 1,
                    kind: BreakKind::UnsealedEntry { entry_id },
                });
            }
        }
    }
    let (after_txid, after_id) = last_order
        .map(|(t, i)| (t.to_string(), i))
        .unwrap_or(("0".into(), 0));
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM numbering.audit_log a WHERE (a.txid, a.id) > ($1::text::xid8, $2)",
    )
    .bind(after_txid)
    .bind(after_id)
    .fetch_one(pool)
    .await?;
    Ok(VerifyReport {
        checked,
        archived,
        head,
        first_break,
        pending,
    })
}

fn to_hash(bytes: &[u8]) -> Result<[u8; 32], sqlx::Error> {
    bytes
        .try_into()
        .map_err(|_| sqlx::Error::Decode("audit hash is not 32 bytes".into()))
}
