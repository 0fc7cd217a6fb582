//! The fast path of [`super::verify`]: the chain is cut into stretches by
//! `seq`, verified concurrently, each one zipping two index-ordered binary
//! `COPY` streams — links by `seq`, entries by their sealing order
//! `(txid, id)`. No join, no sort, no per-row allocation, no per-column
//! decoding: binary COPY frames every field the way [`super::entry_digest`]
//! does, so an entry's last seven fields are hashed exactly as they arrive.
//!
//! It checks everything the exact walk checks but only ever proves an
//! intact chain: on the first thing that does not match it answers `None`
//! and the caller walks the chain exactly for the position and the kind.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use super::{
    ArchivedRange, ChainHead, GENESIS, VerifyReport, archive_mismatch, digest_head, in_archive,
    link_hash,
};
use crate::copy_binary::{CopyFormatError, CopyRows, Tuple};

/// How many stretches of the chain are verified at once (at most).
const STRETCHES: i64 = 4;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01), which
/// binary COPY counts `timestamptz` from.
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The entry columns in the order [`super::entry_digest`] hashes them.
const ENTRY_COLUMNS: &str = "a.id, a.txid, a.occurred_at, a.actor, a.action, a.tenant_id, a.subject, \
     a.before, a.after, a.request_id";
const ENTRY_FIELDS: usize = 10;
/// The first of the entry columns hashed exactly as COPY sends them.
const FIRST_VERBATIM: usize = 3;

const LINK_COLUMNS: &str = "seq, entry_id, entry_txid, prev_hash, hash";
const LINK_FIELDS: usize = 5;

/// A position in the sealing order: a link's `seq` and its entry's
/// `(txid, id)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    seq: i64,
    txid: u64,
    id: i64,
}

/// See the module documentation. The links are read first, so entries
/// committed since are simply pending after the head.
pub(super) async fn verify_streaming(
    pool: &PgPool,
    archives: Arc<[ArchivedRange]>,
) -> Result<Option<VerifyReport>, sqlx::Error> {
    let Some(cuts) = cuts(pool).await? else {
        return Ok(None);
    };
    if cuts.is_empty() {
        // an empty chain: every entry is pending
        return match zip_stretch(pool, &archives, None, None).await? {
            Some(r) => Ok(Some(r.into_report(0, 0))),
            None => Ok(None),
        };
    }
    let Some(results) = zip_stretches(pool, &archives, &cuts).await? else {
        return Ok(None);
    };
    if !joined(&results) {
        return Ok(None);
    }
    let checked = results.iter().map(|r| r.checked).sum();
    let archived: u64 = results.iter().map(|r| r.archived).sum();
    let expected_archived: i64 = archives.iter().map(|a| a.entry_count).sum();
    if archived as i64 != expected_archived {
        return Ok(None);
    }
    let Some(last) = results.into_iter().last() else {
        return Ok(None);
    };
    if last.pending > 0 && pending_copies_a_sealed_entry(pool, &last).await? {
        return Ok(None);
    }
    Ok(Some(last.into_report(checked, archived)))
}

/// Where the stretches start: stretch k covers links `[cuts[k],
/// cuts[k + 1])` and the entries from its first link's order up to the
/// next stretch's first link's order. `None` when a link is missing at a
/// cut.
async fn cuts(pool: &PgPool) -> Result<Option<Vec<Cut>>, sqlx::Error> {
    let last: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM numbering.audit_chain")
        .fetch_one(pool)
        .await?;
    let last = last.unwrap_or(0);
    // every stretch holds two connections while it runs
    let stretches = i64::from(pool.options().get_max_connections() / 4).clamp(1, STRETCHES);
    let mut starts: Vec<i64> = (0..stretches)
        .map(|k| 1 + k * last / stretches)
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
        return Ok(None);
    }
    let mut cuts = Vec::with_capacity(bounds.len());
    for (seq, txid, id) in bounds {
        let Ok(txid) = txid.parse() else {
            return Ok(None);
        };
        cuts.push(Cut { seq, txid, id });
    }
    Ok(Some(cuts))
}

/// Zips every stretch, each on its own task, so that the verifier's share
/// of the work (decoding and hashing) runs on every core the runtime has.
/// `None` as soon as one does not match (the others are aborted).
async fn zip_stretches(
    pool: &PgPool,
    archives: &Arc<[ArchivedRange]>,
    cuts: &[Cut],
) -> Result<Option<Vec<Stretch>>, sqlx::Error> {
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..cuts.len() {
        // the first stretch takes every entry before its first link too
        let from = match k {
            0 => Cut {
                seq: 1,
                txid: 0,
                id: 0,
            },
            _ => cuts[k],
        };
        let to = cuts.get(k + 1).copied();
        let (pool, archives) = (pool.clone(), archives.clone());
        tasks.spawn(async move { (k, zip_stretch(&pool, &archives, Some(from), to).await) });
    }
    let mut results: Vec<Option<Stretch>> = (0..cuts.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (k, result) = match joined {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(sqlx::Error::WorkerCrashed),
        };
        let Some(stretch) = result? else {
            return Ok(None);
        };
        results[k] = Some(stretch);
    }
    Ok(Some(results.into_iter().flatten().collect()))
}

/// Whether each stretch continues the one before it (the first from
/// genesis): its first link's `prev_hash` is the previous head, its first
/// entry comes after the previous last.
fn joined(stretches: &[Stretch]) -> bool {
    let mut prev_end: Option<([u8; 32], (u64, i64))> = None;
    for r in stretches {
        let joins = match prev_end {
            None => r.first_prev == GENESIS,
            Some((hash, order)) => hash == r.first_prev && r.first_order.is_some_and(|f| f > order),
        };
        if !joins {
            return false;
        }
        prev_end = r.head.as_ref().map(|h| h.hash).zip(r.last_order);
    }
    true
}

/// Whether an entry after the sealed head carries the id of an entry
/// sealed up to that head: a copy (the id inserted again `OVERRIDING SYSTEM
/// VALUE`, with a later txid) that the zip counts as pending, but that the
/// exact walk's join by id meets at the original's position. Only the
/// entries after the head are looked at, and only links up to the head, so
/// entries sealed by a concurrent sealer since the links were read are not
/// mistaken for copies.
async fn pending_copies_a_sealed_entry(pool: &PgPool, last: &Stretch) -> Result<bool, sqlx::Error> {
    let (Some((txid, id)), Some(head)) = (last.last_order, &last.head) else {
        return Ok(false);
    };
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM numbering.audit_log a \
                        JOIN numbering.audit_chain c ON c.entry_id = a.id AND c.seq <= $3 \
                        WHERE (a.txid, a.id) > ($1::text::xid8, $2))",
    )
    .bind(txid.to_string())
    .bind(id)
    .bind(head.seq)
    .fetch_one(pool)
    .await
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

/// A pooled connection that carries one COPY. A connection left in the
/// middle of a COPY (its reader stopped early, failed or was dropped)
/// still has the rest of the data in flight, so it is closed rather than
/// returned to the pool.
struct CopyConnection {
    conn: PoolConnection<Postgres>,
    read_to_end: bool,
}

impl CopyConnection {
    async fn acquire(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(Self {
            conn: pool.acquire().await?,
            read_to_end: false,
        })
    }
}

impl Drop for CopyConnection {
    fn drop(&mut self) {
        if !self.read_to_end {
            self.conn.close_on_drop();
        }
    }
}

/// Verifies the links from `from` up to `to` (excluded; `None`: the end)
/// against the entries of the same order range (`from` `None`: an empty
/// chain, every entry pending). `None` when anything does not match.
async fn zip_stretch(
    pool: &PgPool,
    archives: &[ArchivedRange],
    from: Option<Cut>,
    to: Option<Cut>,
) -> Result<Option<Stretch>, sqlx::Error> {
    let from = from.unwrap_or(Cut {
        seq: 1,
        txid: 0,
        id: 0,
    });
    // only integers are formatted into the statements (COPY takes no
    // parameters)
    let links_sql = format!(
        "COPY (SELECT {LINK_COLUMNS} FROM numbering.audit_chain WHERE seq >= {} AND seq < {} \
         ORDER BY seq) TO STDOUT (FORMAT binary)",
        from.seq,
        to.map_or(i64::MAX, |t| t.seq),
    );
    let before_to = match to {
        Some(t) => format!("AND (a.txid, a.id) < ('{}'::xid8, {})", t.txid, t.id),
        None => String::new(),
    };
    let entries_sql = format!(
        "COPY (SELECT {ENTRY_COLUMNS} FROM numbering.audit_log a \
         WHERE (a.txid, a.id) >= ('{}'::xid8, {}) {before_to} ORDER BY a.txid, a.id) \
         TO STDOUT (FORMAT binary)",
        from.txid, from.id,
    );
    let mut links_conn = CopyConnection::acquire(pool).await?;
    let mut entries_conn = CopyConnection::acquire(pool).await?;
    let mut links = CopyRows::new(links_conn.conn.copy_out_raw(&links_sql).await?, LINK_FIELDS);
    let mut entries = CopyRows::new(
        entries_conn.conn.copy_out_raw(&entries_sql).await?,
        ENTRY_FIELDS,
    );
    let stretch = zip(
        archives,
        from.seq,
        to.map(|t| t.seq),
        &mut links,
        &mut entries,
    )
    .await;
    links_conn.read_to_end = links.is_finished();
    entries_conn.read_to_end = entries.is_finished();
    stretch
}

/// The zip itself over the two COPY streams of [`zip_stretch`].
async fn zip<L, E, B>(
    archives: &[ArchivedRange],
    from_seq: i64,
    to_seq: Option<i64>,
    links: &mut CopyRows<L, B>,
    entries: &mut CopyRows<E, B>,
) -> Result<Option<Stretch>, sqlx::Error>
where
    L: futures_util::Stream<Item = Result<B, sqlx::Error>> + Unpin,
    E: futures_util::Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut next_entry = next_entry(entries).await?;
    let mut first_prev = None;
    let mut prev = GENESIS;
    let mut expected_seq = from_seq;
    let mut first_order = None;
    let mut last_order: Option<(u64, i64)> = None;
    let (mut checked, mut archived) = (0u64, 0u64);
    let mut head = None;
    while let Some(tuple) = links.next().await? {
        let Some(l) = Link::read(&tuple)? else {
            return Ok(None);
        };
        if first_prev.is_none() {
            first_prev = Some(l.prev_hash);
            prev = l.prev_hash;
        }
        let order = (l.entry_txid, l.entry_id);
        if l.seq != expected_seq
            || l.prev_hash != prev
            || last_order.is_some_and(|last| order <= last)
            || archive_mismatch(archives, l.seq, &prev, &l.hash).is_some()
        {
            return Ok(None);
        }
        match next_entry {
            Some(e) if e.id == l.entry_id => {
                let Some(digest) = e.digest else {
                    return Ok(None);
                };
                if e.txid != l.entry_txid || link_hash(&prev, l.seq, &digest) != l.hash {
                    return Ok(None);
                }
                checked += 1;
                next_entry = self::next_entry(entries).await?;
            }
            _ if in_archive(archives, l.seq) => archived += 1,
            _ => return Ok(None),
        }
        first_order.get_or_insert(order);
        last_order = Some(order);
        prev = l.hash;
        expected_seq += 1;
        head = Some(ChainHead {
            seq: l.seq,
            hash: l.hash,
        });
    }
    if to_seq.is_some_and(|to| expected_seq != to) {
        return Ok(None); // the stretch ended before the next one starts
    }
    let Some(pending) = pending(next_entry, entries, to_seq, last_order).await? else {
        return Ok(None);
    };
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

/// The entries left after a stretch's last link (`next` and the rest of
/// `entries`): pending, so they must all come after the sealed head, and
/// only the last stretch (`to_seq` `None`) may have any. `None` when they
/// do not.
async fn pending<E, B>(
    next: Option<CopiedEntry>,
    entries: &mut CopyRows<E, B>,
    to_seq: Option<i64>,
    last_order: Option<(u64, i64)>,
) -> Result<Option<i64>, sqlx::Error>
where
    E: futures_util::Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    let Some(e) = next else {
        return Ok(Some(0));
    };
    if to_seq.is_some() || last_order.is_some_and(|last| (e.txid, e.id) <= last) {
        return Ok(None);
    }
    let mut pending = 1;
    while entries.next().await?.is_some() {
        pending += 1;
    }
    Ok(Some(pending))
}

/// One link as the COPY sends it ([`LINK_COLUMNS`]).
struct Link {
    seq: i64,
    entry_id: i64,
    entry_txid: u64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

impl Link {
    /// `None` when a hash is not 32 bytes (the table's CHECK forbids it).
    fn read(t: &Tuple<'_>) -> Result<Option<Self>, CopyFormatError> {
        let (Some(prev_hash), Some(hash)) = (hash32(t, 3), hash32(t, 4)) else {
            return Ok(None);
        };
        Ok(Some(Self {
            seq: t.int8(0)?,
            entry_id: t.int8(1)?,
            entry_txid: t.uint8(2)?,
            prev_hash,
            hash,
        }))
    }
}

fn hash32(t: &Tuple<'_>, column: usize) -> Option<[u8; 32]> {
    t.get(column)?.try_into().ok()
}

/// An entry as the zip needs it: its order and its digest.
#[derive(Clone, Copy)]
struct CopiedEntry {
    id: i64,
    txid: u64,
    /// `None` when `occurred_at` lies outside what the sealer can represent.
    digest: Option<[u8; 32]>,
}

async fn next_entry<S, B>(entries: &mut CopyRows<S, B>) -> Result<Option<CopiedEntry>, sqlx::Error>
where
    S: futures_util::Stream<Item = Result<B, sqlx::Error>> + Unpin,
    B: AsRef<[u8]>,
{
    match entries.next().await? {
        Some(t) => Ok(Some(copied_entry(&t)?)),
        None => Ok(None),
    }
}

/// Reads one entry of the entries COPY ([`ENTRY_COLUMNS`]) and computes
/// [`super::entry_digest`] over it: the id is sent as the digest frames it
/// (8 bytes, big-endian); the txid (8 bytes on the wire) is hashed as its
/// decimal text and `occurred_at` from the Unix epoch; the other seven
/// fields are hashed exactly as received, length words included.
fn copied_entry(t: &Tuple<'_>) -> Result<CopiedEntry, CopyFormatError> {
    let id = t.int8(0)?;
    let txid = t.uint8(1)?;
    let digest = t.int8(2)?.checked_add(PG_EPOCH_US).map(|occurred_at_us| {
        let mut h = Sha256::new();
        let mut digits = [0u8; 20];
        digest_head(&mut h, id, decimal(txid, &mut digits), occurred_at_us);
        h.update(t.encoded_from(FIRST_VERBATIM));
        h.finalize().into()
    });
    Ok(CopiedEntry { id, txid, digest })
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditEntry, entry_digest};
    use crate::copy_binary::CopyDecoder;
    use chrono::{DateTime, Utc};

    /// `e` as `COPY (SELECT ENTRY_COLUMNS …) TO STDOUT (FORMAT binary)`
    /// sends it: one tuple, without the stream's header.
    fn copy_tuple(e: &AuditEntry) -> Vec<u8> {
        let pg_us = e.occurred_at.timestamp_micros() - PG_EPOCH_US;
        let txid: u64 = e.txid.parse().unwrap();
        let mut out = (ENTRY_FIELDS as i16).to_be_bytes().to_vec();
        let mut field = |v: Option<&[u8]>| match v {
            Some(b) => {
                out.extend((b.len() as i32).to_be_bytes());
                out.extend(b);
            }
            None => out.extend((-1i32).to_be_bytes()),
        };
        field(Some(&e.id.to_be_bytes()));
        field(Some(&txid.to_be_bytes()));
        field(Some(&pg_us.to_be_bytes()));
        for f in e.text_fields() {
            field(f.map(String::as_bytes));
        }
        out
    }

    fn digest_of_copy(bytes: &[u8]) -> Option<[u8; 32]> {
        let mut decoder = CopyDecoder::new(ENTRY_FIELDS);
        let mut header = b"PGCOPY\n\xff\r\n\0".to_vec();
        header.extend([0; 8]);
        decoder.decode(&header).unwrap();
        let consumed = match decoder.decode(bytes).unwrap() {
            crate::copy_binary::Step::Tuple { consumed } => consumed,
            other => panic!("{other:?}"),
        };
        assert_eq!(consumed, bytes.len());
        copied_entry(&decoder.tuple(bytes)).unwrap().digest
    }

    fn entry(occurred_at: DateTime<Utc>, txid: &str) -> AuditEntry {
        crate::audit::test_entry(4_200_000_017, occurred_at, txid)
    }

    #[test]
    fn the_digest_of_a_copied_entry_is_the_sealers_digest() {
        for (at, txid) in [
            ("2026-11-26T10:11:12.345678Z", "772"),
            ("1999-12-31T23:59:59.999999Z", "0"),
            ("2000-01-01T00:00:00Z", "18446744073709551615"),
            ("1970-01-01T00:00:00.000001Z", "10"),
        ] {
            let e = entry(at.parse().unwrap(), txid);
            assert_eq!(
                digest_of_copy(&copy_tuple(&e)),
                Some(entry_digest(&e)),
                "{at} {txid}"
            );
        }
    }

    #[test]
    fn a_changed_byte_anywhere_changes_the_digest() {
        let e = entry("2026-11-26T10:11:12Z".parse().unwrap(), "772");
        let good = copy_tuple(&e);
        let sealed = entry_digest(&e);
        // every byte of the field values (not the framing, which would make
        // the tuple unreadable rather than different)
        let mut at = 2;
        while at < good.len() {
            let len = i32::from_be_bytes(good[at..at + 4].try_into().unwrap());
            for i in 0..usize::try_from(len).unwrap_or(0) {
                let mut bytes = good.clone();
                bytes[at + 4 + i] ^= 0x01;
                assert_ne!(digest_of_copy(&bytes), Some(sealed), "byte {}", at + 4 + i);
            }
            at += 4 + usize::try_from(len).unwrap_or(0);
        }
    }

    #[test]
    fn a_timestamp_past_what_the_sealer_represents_has_no_digest() {
        let e = entry(Utc::now(), "1");
        let mut bytes = copy_tuple(&e);
        // occurred_at is the third field: 2 + (4 + 8) + (4 + 8) + 4
        bytes[30..38].copy_from_slice(&i64::MAX.to_be_bytes());
        assert_eq!(digest_of_copy(&bytes), None);
    }

    #[test]
    fn decimal_writes_every_width() {
        let mut buf = [0u8; 20];
        for n in [0, 7, 10, 99, 100, 4_294_967_296, u64::MAX] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }
}
