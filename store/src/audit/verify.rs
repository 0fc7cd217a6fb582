//! Verification: the report and its breaks, the comparison with a signed
//! checkpoint, and [`verify`], which tries the streaming fast path first
//! and walks the chain exactly ([`super::exact`]) only when that fails.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{ChainHead, exact, streaming, to_hash};

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
            exact::verify_exact(pool, &archives).await?
        }
    };
    metrics::gauge!("numbering_audit_chain_intact").set(if report.is_intact() { 1.0 } else { 0.0 });
    metrics::gauge!("numbering_audit_unsealed_entries").set(report.pending as f64);
    Ok(report)
}

pub(super) fn in_archive(archives: &[ArchivedRange], seq: i64) -> bool {
    archives.iter().any(|a| {
        a.first_seq
            .zip(a.last_seq)
            .is_some_and(|(f, l)| (f..=l).contains(&seq))
    })
}

/// The archive whose recorded hash before or at its ends `seq` contradicts.
pub(super) fn archive_mismatch<'a>(
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
