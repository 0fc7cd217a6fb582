//! Re-verifying an archived object years later: its SHA-256 as recorded,
//! its header against the archive record, and every entry re-hashed against
//! its chain link.

use numbering_store::audit::{entry_digest, link_hash};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{ArchiveError, FORMAT, Header, Line};
use crate::worm::WormStore;

/// The result of re-verifying an archived object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCheck {
    pub partition: String,
    pub storage_uri: String,
    /// Entries re-hashed and matched to their links.
    pub entries_verified: i64,
    /// The first problem found (None: the object is exactly what was archived).
    pub problem: Option<String>,
}

impl ArchiveCheck {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Re-verifies `partition`'s archived object: its SHA-256 as recorded, its
/// header against the record, and every entry re-hashed against its chain
/// link (which `audit verify` checks for continuity).
pub async fn verify_archive(
    pool: &PgPool,
    worm: &dyn WormStore,
    partition: &str,
) -> Result<ArchiveCheck, ArchiveError> {
    let record = ArchiveRecord::load(pool, partition).await?;
    let mut check = ArchiveCheck {
        partition: partition.to_owned(),
        storage_uri: record.storage_uri.clone(),
        entries_verified: 0,
        problem: None,
    };
    let bytes = worm.get(&record.object_key).await?;
    if Sha256::digest(&bytes)[..] != record.object_sha256[..] {
        check.problem = Some("the object's SHA-256 differs from the one recorded".into());
    }
    let Some(entries) = read_object(&bytes, partition, record, &mut check) else {
        return Ok(check);
    };
    match_links(pool, &entries, &mut check).await?;
    Ok(check)
}

/// A partition's row in `numbering.audit_archives`.
struct ArchiveRecord {
    storage_uri: String,
    object_key: String,
    entry_count: i64,
    first_seq: Option<i64>,
    last_seq: Option<i64>,
    prev_hash: Option<Vec<u8>>,
    head_hash: Option<Vec<u8>>,
    object_sha256: Vec<u8>,
}

impl ArchiveRecord {
    async fn load(pool: &PgPool, partition: &str) -> Result<Self, ArchiveError> {
        type Row = (
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Vec<u8>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT storage_uri, object_key, entry_count, first_seq, last_seq, prev_hash, head_hash, object_sha256 \
             FROM numbering.audit_archives WHERE partition = $1",
        )
        .bind(partition)
        .fetch_optional(pool)
        .await?;
        let Some((uri, key, count, first_seq, last_seq, prev_hash, head_hash, sha)) = row else {
            return Err(ArchiveError::NotArchived(partition.to_owned()));
        };
        Ok(Self {
            storage_uri: uri,
            object_key: key,
            entry_count: count,
            first_seq,
            last_seq,
            prev_hash,
            head_hash,
            object_sha256: sha,
        })
    }
}

/// The object's header checked against the record, and its entry lines;
/// None (the problem noted in `check`) when a line is malformed.
fn read_object(
    bytes: &[u8],
    partition: &str,
    record: ArchiveRecord,
    check: &mut ArchiveCheck,
) -> Option<Vec<Line>> {
    let count = record.entry_count;
    let mut lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let header: Option<Header> = lines.next().and_then(|l| serde_json::from_slice(l).ok());
    let expected = Header {
        format: FORMAT.to_owned(),
        partition: partition.to_owned(),
        month: header.as_ref().map(|h| h.month.clone()).unwrap_or_default(),
        entry_count: count,
        first_seq: record.first_seq,
        last_seq: record.last_seq,
        prev_hash: record.prev_hash.map(hex::encode),
        head_hash: record.head_hash.map(hex::encode),
    };
    if header.as_ref() != Some(&expected) {
        check
            .problem
            .get_or_insert_with(|| "the object's header does not match the archive record".into());
    }
    let mut entries = Vec::new();
    for (i, raw) in lines.enumerate() {
        match serde_json::from_slice::<Line>(raw) {
            Ok(line) => entries.push(line),
            Err(e) => {
                check
                    .problem
                    .get_or_insert_with(|| format!("entry line {} is malformed: {e}", i + 2));
                return None;
            }
        }
    }
    if entries.len() as i64 != count {
        check.problem.get_or_insert_with(|| {
            format!(
                "the object holds {} entries, the record {count}",
                entries.len()
            )
        });
    }
    Some(entries)
}

/// Each entry re-hashed against its chain link, up to the first mismatch;
/// counts the verified ones in `check`.
async fn match_links(
    pool: &PgPool,
    entries: &[Line],
    check: &mut ArchiveCheck,
) -> Result<(), ArchiveError> {
    let seqs: Vec<i64> = entries.iter().map(|l| l.seq).collect();
    let links: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, entry_id, prev_hash, hash FROM numbering.audit_chain WHERE seq = ANY($1) ORDER BY seq",
    )
    .bind(&seqs)
    .fetch_all(pool)
    .await?;
    let links: std::collections::HashMap<i64, (i64, Vec<u8>, Vec<u8>)> = links
        .into_iter()
        .map(|(seq, id, prev, hash)| (seq, (id, prev, hash)))
        .collect();
    for (i, line) in entries.iter().enumerate() {
        let matches = links.get(&line.seq).is_some_and(|(id, prev, hash)| {
            let prev: Option<[u8; 32]> = prev.as_slice().try_into().ok();
            *id == line.id
                && line.entry().zip(prev).is_some_and(|(entry, prev)| {
                    link_hash(&prev, line.seq, &entry_digest(&entry))[..] == hash[..]
                })
        });
        if !matches {
            check.problem.get_or_insert_with(|| {
                format!(
                    "entry {} (line {}) does not match chain link {}",
                    line.id,
                    i + 2,
                    line.seq
                )
            });
            break;
        }
        check.entries_verified += 1;
    }
    Ok(())
}
