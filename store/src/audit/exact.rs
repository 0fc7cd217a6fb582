//! The exact walk of [`super::verify`]: links joined to their entries, in
//! `seq` order, stopping the checks at the first position that breaks and
//! saying why.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::PgPool;

use super::{
    ArchivedRange, AuditEntry, BreakKind, ChainBreak, ChainHead, GENESIS, VerifyReport,
    archive_mismatch, entry_digest, in_archive, link_hash, to_hash,
};

/// Every link with its entry, if the entry is still there.
const LINKS: &str = concat!(
    "SELECT c.seq, c.entry_id, c.entry_txid::text AS entry_txid, c.prev_hash, c.hash, ",
    entry_columns!(),
    " FROM numbering.audit_chain c LEFT JOIN numbering.audit_log a ON a.id = c.entry_id ORDER BY c.seq"
);

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

/// An entry's columns, all NULL when the entry is gone.
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

impl OptionalEntry {
    /// The entry, if it is still there.
    fn present(self) -> Option<AuditEntry> {
        Some(AuditEntry {
            id: self.id?,
            txid: self.txid?,
            occurred_at: self.occurred_at?,
            actor: self.actor?,
            action: self.action?,
            tenant_id: self.tenant_id,
            subject: self.subject,
            before: self.before,
            after: self.after,
            request_id: self.request_id,
        })
    }
}

/// Where the walk stands: the chain so far is intact up to `expected_seq - 1`.
struct Walk<'a> {
    archives: &'a [ArchivedRange],
    prev: [u8; 32],
    expected_seq: i64,
    /// `(txid, id)` of the last entry walked: the sealed order.
    last_order: Option<(u64, i64)>,
    checked: u64,
    archived: u64,
}

impl<'a> Walk<'a> {
    fn new(archives: &'a [ArchivedRange]) -> Self {
        Self {
            archives,
            prev: GENESIS,
            expected_seq: 1,
            last_order: None,
            checked: 0,
            archived: 0,
        }
    }

    /// Checks the next link (whose stored hash is `stored`); `Err` says why
    /// it breaks the chain at `expected_seq`.
    fn step(&mut self, link: Link, stored: [u8; 32]) -> Result<(), BreakKind> {
        let entry_id = link.entry_id;
        if link.seq != self.expected_seq {
            return Err(BreakKind::MissingLink);
        }
        if to_hash(&link.prev_hash).ok() != Some(self.prev) {
            return Err(BreakKind::BrokenLink { entry_id });
        }
        if let Some(a) = archive_mismatch(self.archives, link.seq, &self.prev, &stored) {
            return Err(BreakKind::ArchiveMismatch {
                partition: a.partition.clone(),
            });
        }
        let Some(entry) = link.entry.present() else {
            // gone: fine only inside an archived partition, in order
            let order = (link.entry_txid.parse::<u64>().unwrap_or(0), entry_id);
            if !in_archive(self.archives, link.seq) {
                return Err(BreakKind::MissingEntry { entry_id });
            }
            self.in_order(order, entry_id)?;
            self.archived += 1;
            self.advance(order, stored);
            return Ok(());
        };
        let order = (entry.txid.parse::<u64>().unwrap_or(0), entry.id);
        if entry.txid != link.entry_txid {
            return Err(BreakKind::OutOfOrder { entry_id });
        }
        self.in_order(order, entry_id)?;
        if link_hash(&self.prev, link.seq, &entry_digest(&entry)) != stored {
            return Err(BreakKind::EntryAltered { entry_id });
        }
        self.checked += 1;
        self.advance(order, stored);
        Ok(())
    }

    fn in_order(&self, order: (u64, i64), entry_id: i64) -> Result<(), BreakKind> {
        match self.last_order {
            Some(last) if order <= last => Err(BreakKind::OutOfOrder { entry_id }),
            _ => Ok(()),
        }
    }

    fn advance(&mut self, order: (u64, i64), stored: [u8; 32]) {
        self.last_order = Some(order);
        self.prev = stored;
        self.expected_seq += 1;
    }

    /// The archived links must add up to the archives' entry counts: else
    /// an entry was deleted inside an archived range, or an archive does not
    /// hold what it claims.
    fn archive_count_break(&self) -> Option<ChainBreak> {
        let expected: i64 = self.archives.iter().map(|a| a.entry_count).sum();
        if self.archived as i64 == expected {
            return None;
        }
        let a = self.archives.iter().find(|a| a.first_seq.is_some())?;
        Some(ChainBreak {
            position: a.first_seq.unwrap_or(1),
            kind: BreakKind::ArchiveMismatch {
                partition: a.partition.clone(),
            },
        })
    }
}

/// Walks the whole chain exactly (see the module docs).
pub(super) async fn verify_exact(
    pool: &PgPool,
    archives: &[ArchivedRange],
) -> Result<VerifyReport, sqlx::Error> {
    let mut rows = sqlx::query_as::<_, Link>(LINKS).fetch(pool);
    let mut walk = Walk::new(archives);
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
        if let Err(kind) = walk.step(link, stored) {
            first_break = Some(ChainBreak {
                position: walk.expected_seq,
                kind,
            });
        }
    }
    drop(rows);
    if first_break.is_none() {
        first_break = walk.archive_count_break();
    }
    if first_break.is_none() {
        first_break = unsealed_inside(pool, walk.last_order).await?;
    }
    Ok(VerifyReport {
        checked: walk.checked,
        archived: walk.archived,
        head,
        first_break,
        pending: pending_after(pool, walk.last_order).await?,
    })
}

/// Every finished entry before the sealed head must be sealed: the first
/// one that is not was inserted inside the sealed range.
async fn unsealed_inside(
    pool: &PgPool,
    last_order: Option<(u64, i64)>,
) -> Result<Option<ChainBreak>, sqlx::Error> {
    let Some((txid, id)) = last_order else {
        return Ok(None);
    };
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
    Ok(inserted.map(|(entry_id, before)| ChainBreak {
        position: before + 1,
        kind: BreakKind::UnsealedEntry { entry_id },
    }))
}

/// Entries after the last one walked: not sealed yet.
async fn pending_after(pool: &PgPool, last_order: Option<(u64, i64)>) -> Result<i64, sqlx::Error> {
    let (after_txid, after_id) = last_order
        .map(|(t, i)| (t.to_string(), i))
        .unwrap_or(("0".into(), 0));
    sqlx::query_scalar(
        "SELECT count(*) FROM numbering.audit_log a WHERE (a.txid, a.id) > ($1::text::xid8, $2)",
    )
    .bind(after_txid)
    .bind(after_id)
    .fetch_one(pool)
    .await
}
