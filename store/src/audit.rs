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

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

mod streaming;

/// The `prev_hash` of the first link.
pub const GENESIS: [u8; 32] = [0; 32];

/// Advisory-lock key of the single sealer ("numbering-audit-sealer").
const SEALER_LOCK: i64 = 0x6e75_6d62_6175_6469;

/// The event each sealed entry becomes, in the sealing transaction
/// (stream `NUMBERING_AUDIT`; schema in `docs/events/`): a copy of the
/// chain that a SIEM can follow and re-hash, and that a checkpoint can be
/// checked against.
pub const SEALED_EVENT: &str = "numbering.audit.sealed.v1";

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
    let mut h = Sha256::new();
    digest_head(
        &mut h,
        e.id,
        e.txid.as_bytes(),
        e.occurred_at.timestamp_micros(),
    );
    for field in e.text_fields() {
        digest_field(&mut h, field.map(String::as_bytes));
    }
    h.finalize().into()
}

impl AuditEntry {
    /// The fields after the head (id, txid, time), in the order the digest
    /// hashes them — the column order.
    pub(crate) fn text_fields(&self) -> [Option<&String>; 7] {
        [
            Some(&self.actor),
            Some(&self.action),
            self.tenant_id.as_ref(),
            self.subject.as_ref(),
            self.before.as_ref(),
            self.after.as_ref(),
            self.request_id.as_ref(),
        ]
    }
}

/// The longest txid the framed head of [`digest_head`] holds at once: an
/// `xid8`'s decimal text (u64::MAX has 20 digits).
const HEAD_TXID_MAX: usize = 20;

/// Hashes the entry's first three fields: id, txid (its decimal text) and
/// `occurred_at` (microseconds since the Unix epoch). Framed into one buffer
/// and hashed with one `update`: verification does this for every entry,
/// and each `update` call has a fixed cost of its own.
fn digest_head(h: &mut Sha256, id: i64, txid: &[u8], occurred_at_us: i64) {
    if txid.len() > HEAD_TXID_MAX {
        // not a txid PostgreSQL can produce; hashed field by field
        digest_field(h, Some(&id.to_be_bytes()));
        digest_field(h, Some(txid));
        digest_field(h, Some(&occurred_at_us.to_be_bytes()));
        return;
    }
    let mut head = [0u8; 3 * 4 + 8 + HEAD_TXID_MAX + 8];
    let mut at = 0;
    for field in [&id.to_be_bytes()[..], txid, &occurred_at_us.to_be_bytes()] {
        head[at..at + 4].copy_from_slice(&(field.len() as u32).to_be_bytes());
        head[at + 4..at + 4 + field.len()].copy_from_slice(field);
        at += 4 + field.len();
    }
    h.update(&head[..at]);
}

/// Hashes one field: its length (u32 big-endian) and bytes, or `u32::MAX`
/// when absent — the framing binary `COPY` uses too (length -1 for NULL),
/// which lets verification hash most of an entry as it arrives.
fn digest_field(h: &mut Sha256, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            h.update((b.len() as u32).to_be_bytes());
            h.update(b);
        }
        None => h.update(u32::MAX.to_be_bytes()),
    }
}

/// The hash of link `seq` over `prev` and the entry digest.
pub fn link_hash(prev: &[u8; 32], seq: i64, digest: &[u8; 32]) -> [u8; 32] {
    // one contiguous input, one `update` (see `digest_head`)
    let mut input = [0u8; 32 + 8 + 32];
    input[..32].copy_from_slice(prev);
    input[32..40].copy_from_slice(&seq.to_be_bytes());
    input[40..].copy_from_slice(digest);
    Sha256::digest(input).into()
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
    let mut tx = crate::scope::begin_unscoped(pool).await?;
    crate::lock::xact_lock(&mut tx, SEALER_LOCK).await?;
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
    let mut event_ids = Vec::with_capacity(entries.len());
    let mut tenants = Vec::with_capacity(entries.len());
    let mut payloads = Vec::with_capacity(entries.len());
    for e in &entries {
        seq += 1;
        let digest = entry_digest(e);
        let hash = link_hash(&prev, seq, &digest);
        seqs.push(seq);
        ids.push(e.id);
        txids.push(e.txid.clone());
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        event_ids.push(uuid::Uuid::now_v7());
        tenants.push(e.tenant_id.clone());
        payloads.push(sealed_event(seq, &prev, &hash, &digest, e).to_string());
        prev = hash;
    }
    sqlx::query(
        "WITH links AS ( \
             INSERT INTO numbering.audit_chain (seq, entry_id, entry_txid, prev_hash, hash) \
             SELECT s, i, t::xid8, p, h FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[]) \
                  AS u(s, i, t, p, h)) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         SELECT e.id, 'NUMBERING_AUDIT', $6, 'audit_chain', 'audit_chain', e.tenant, e.payload::json \
         FROM UNNEST($7::uuid[], $8::text[], $9::text[]) WITH ORDINALITY AS e(id, tenant, payload, ord) \
         ORDER BY e.ord",
    )
    .bind(&seqs)
    .bind(&ids)
    .bind(&txids)
    .bind(&prevs)
    .bind(&hashes)
    .bind(SEALED_EVENT)
    .bind(&event_ids)
    .bind(&tenants)
    .bind(&payloads)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::wake_relays_now(pool).await;
    metrics::counter!("numbering_audit_sealed_total").increment(entries.len() as u64);
    Ok(entries.len() as u64)
}

/// The payload of [`SEALED_EVENT`] for the entry sealed at `seq`: the link
/// and the entry exactly as hashed (`before` / `after` as their stored JSON
/// text, `occurred_at` to the microsecond), so that a reader can recompute
/// `entry_digest` and `hash` and follow the chain.
fn sealed_event(
    seq: i64,
    prev: &[u8; 32],
    hash: &[u8; 32],
    digest: &[u8; 32],
    e: &AuditEntry,
) -> serde_json::Value {
    serde_json::json!({
        "seq": seq,
        "hash": hex::encode(hash),
        "prev_hash": hex::encode(prev),
        "entry_digest": hex::encode(digest),
        "entry": {
            "id": e.id,
            "txid": e.txid,
            "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": e.actor,
            "action": e.action,
            "tenant_id": e.tenant_id,
            "subject": e.subject,
            "before": e.before,
            "after": e.after,
            "request_id": e.request_id,
        },
    })
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
    /// The chain ends before a signed checkpoint of its head: its newest
    /// links were deleted with their entries.
    Truncated { head_seq: i64, checkpoint_seq: i64 },
    /// The link at a signed checkpoint's seq is not the one checkpointed:
    /// the chain was cut there and grown again.
    CheckpointMismatch { checkpoint_seq: i64 },
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
            Self::Truncated { .. } => "truncated",
            Self::CheckpointMismatch { .. } => "checkpoint_mismatch",
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
            Self::Truncated {
                head_seq,
                checkpoint_seq,
            } => write!(
                f,
                "head seq {head_seq} is behind checkpoint seq {checkpoint_seq}: \
                 the entries after {head_seq} were deleted"
            ),
            Self::CheckpointMismatch { checkpoint_seq } => write!(
                f,
                "the link at seq {checkpoint_seq} is not the one its signed checkpoint names"
            ),
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

/// A head of the chain anchored outside the database: a signed checkpoint
/// (seq, hash, time) that the caller has already checked against a key it
/// trusts. The chain must reach `seq`, with exactly `hash` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: [u8; 32],
    pub at: DateTime<Utc>,
}

/// The chain's head as stored (its last link), without verifying anything.
pub async fn head(pool: &PgPool) -> Result<Option<ChainHead>, sqlx::Error> {
    let row: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM numbering.audit_chain ORDER BY seq DESC LIMIT 1")
            .fetch_optional(pool)
            .await?;
    row.map(|(seq, hash)| {
        Ok(ChainHead {
            seq,
            hash: to_hash(&hash)?,
        })
    })
    .transpose()
}

/// The stored hash of the link at `seq`, if there is one.
pub async fn link_at(pool: &PgPool, seq: i64) -> Result<Option<[u8; 32]>, sqlx::Error> {
    let hash: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT hash FROM numbering.audit_chain WHERE seq = $1")
            .bind(seq)
            .fetch_optional(pool)
            .await?;
    hash.map(|h| to_hash(&h)).transpose()
}

/// Whether the chain as stored reaches `anchor` with its hash: `None` when
/// it does, else the break (truncated before it, or a different link at its
/// seq). Only stored hashes are compared; [`verify`] proves they are the
/// entries' own.
pub async fn anchor_break(
    pool: &PgPool,
    head: Option<&ChainHead>,
    anchor: &Anchor,
) -> Result<Option<ChainBreak>, sqlx::Error> {
    let head_seq = head.map_or(0, |h| h.seq);
    if head_seq < anchor.seq {
        return Ok(Some(ChainBreak {
            position: head_seq + 1,
            kind: BreakKind::Truncated {
                head_seq,
                checkpoint_seq: anchor.seq,
            },
        }));
    }
    let at = match head {
        Some(h) if h.seq == anchor.seq => Some(h.hash),
        _ => link_at(pool, anchor.seq).await?,
    };
    Ok((at != Some(anchor.hash)).then_some(ChainBreak {
        position: anchor.seq,
        kind: BreakKind::CheckpointMismatch {
            checkpoint_seq: anchor.seq,
        },
    }))
}

/// [`verify`], then the comparison with the newest trusted checkpoint: a
/// chain intact in itself but shorter than the checkpoint, or different at
/// its seq, is broken there (SPEC §8: a deletion is detected, with its
/// position, even of the newest entries).
pub async fn verify_anchored(
    pool: &PgPool,
    anchor: Option<&Anchor>,
) -> Result<VerifyReport, sqlx::Error> {
    let mut report = verify(pool).await?;
    if let (None, Some(anchor)) = (&report.first_break, anchor) {
        report.first_break = anchor_break(pool, report.head.as_ref(), anchor).await?;
        if !report.is_intact() {
            metrics::gauge!("numbering_audit_chain_intact").set(0.0);
        }
    }
    Ok(report)
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
    let archives: Arc<[ArchivedRange]> = archived_ranges(pool).await?.into();
    let report = match streaming::verify_streaming(pool, archives.clone()).await? {
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

/// The fast path of [`verify`] alone: `Some` when it proves the chain
/// intact, `None` when anything does not match (then [`verify`] walks the
/// chain exactly for the position). For tests and benchmarks.
pub async fn verify_fast_path(pool: &PgPool) -> Result<Option<VerifyReport>, sqlx::Error> {
    streaming::verify_streaming(pool, archived_ranges(pool).await?.into()).await
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

/// An entry with every kind of field (non-ASCII text, JSON, an empty and
/// a missing value), for the digest tests here and in `streaming`.
#[cfg(test)]
pub(crate) fn test_entry(id: i64, occurred_at: DateTime<Utc>, txid: &str) -> AuditEntry {
    AuditEntry {
        id,
        txid: txid.into(),
        occurred_at,
        actor: "admin:Zoë".into(),
        action: "reserve".into(),
        tenant_id: None,
        subject: Some("+93790000001".into()),
        before: Some(r#"{"x" : "ñ ✓"}"#.into()),
        after: None,
        request_id: Some(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vectors computed outside this code (Python's `hashlib`) from
    /// the documented encoding, so that a faster implementation cannot
    /// silently change what existing chains were sealed with.
    fn sample(txid: &str) -> AuditEntry {
        test_entry(42, "2026-11-26T10:11:12.345678Z".parse().unwrap(), txid)
    }

    #[test]
    fn the_entry_digest_is_the_documented_encoding() {
        assert_eq!(
            hex::encode(entry_digest(&sample("772"))),
            "b599a1275ec20fde274a9b2b55f5ec07f8773c54feba7fdbdc9f34ed91228c70"
        );
        // longer than any xid8: hashed field by field, same encoding
        assert_eq!(
            hex::encode(entry_digest(&sample(&"1".repeat(25)))),
            "207f11ceb776511a6451900fadbf4dfdcb0e8d08683fab6f2b58c7f0a999842d"
        );
    }

    #[test]
    fn the_link_hash_is_the_documented_encoding() {
        assert_eq!(
            hex::encode(link_hash(&[1; 32], 7, &[2; 32])),
            "431649dcb10d28ed45a7336ba77a1081957d5828ba55b88d8e7f1af14dda0d3d"
        );
    }

    #[test]
    fn the_framed_head_hashes_like_three_fields_at_every_txid_width() {
        for txid in ["0", "772", "18446744073709551615", "123456789012345678901"] {
            let mut framed = Sha256::new();
            digest_head(&mut framed, -5, txid.as_bytes(), i64::MIN);
            let mut fields = Sha256::new();
            digest_field(&mut fields, Some(&(-5i64).to_be_bytes()));
            digest_field(&mut fields, Some(txid.as_bytes()));
            digest_field(&mut fields, Some(&i64::MIN.to_be_bytes()));
            assert_eq!(framed.finalize(), fields.finalize(), "{txid}");
        }
    }
}
