//! The audit hash chain: sealing and verification.
//!
//! Writers only INSERT into `audit_log`; nothing serialises them. The sealer
//! appends `audit_chain` links in `(txid, id)` order, taking only entries
//! whose transaction is older than the oldest one still running
//! (`pg_snapshot_xmin`): once that holds, no entry can ever appear before
//! the sealed head, so the order is final. One sealer runs at a time (an
//! advisory lock); any number of instances may try.
//!
//! The trade-offs of sealing after the fact rather than chaining at insert:
//! an entry is tamper-evident from its sealing, not from its insert (until
//! then it is protected only as the `audit_log` table is); and since
//! `pg_snapshot_xmin` is the oldest transaction running anywhere in the
//! cluster, one long write transaction, in any database, holds back the
//! sealing of every entry after it. [`verify`] reports the entries not
//! sealed yet as [`VerifyReport::pending`] (also the
//! `numbering_audit_unsealed_entries` gauge).
//!
//! Link `seq` hashes: `SHA-256(prev_hash ‖ seq ‖ SHA-256(entry))`, where the
//! entry is encoded field by field with length prefixes (see
//! [`entry_digest`]). Verification recomputes every link and reports the
//! first position that does not hold.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An entry's columns (of `audit_log a`), spliced into fixed statements
/// at compile time (`concat!`).
macro_rules! entry_columns {
    () => {
        "a.id, a.txid::text AS txid, a.occurred_at, a.actor, a.action, a.tenant_id, \
         a.subject, a.before::text AS before, a.after::text AS after, a.request_id"
    };
}

mod exact;
mod seal;
mod streaming;
mod verify;

pub use seal::{seal, seal_all, seal_pending};
pub use verify::{
    Anchor, ArchivedRange, BreakKind, ChainBreak, VerifyReport, anchor_break, archived_ranges,
    head, link_at, verify, verify_anchored, verify_fast_path,
};
use verify::{archive_mismatch, in_archive};

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
pub(crate) fn digest_head(h: &mut Sha256, id: i64, txid: &[u8], occurred_at_us: i64) {
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

pub(crate) fn to_hash(bytes: &[u8]) -> Result<[u8; 32], sqlx::Error> {
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
