//! Signed checkpoints of the audit chain's head, kept where a database
//! superuser cannot rewrite them — the signed tree heads of RFC 6962 / 9162
//! logs, for a hash chain.
//!
//! The chain proves every sealed entry up to its head, but not that the head
//! is the real one: whoever deletes the newest entries together with their
//! links leaves a shorter chain that is intact in itself. So the head is
//! anchored outside the database. A [`Checkpoint`] names it — `seq`, `hash`,
//! the time it was taken — in a short text note signed by the export signer
//! ([`crate::signer`]: the local Ed25519 key, AWS KMS or Vault Transit) and
//! appended to every [`CheckpointLog`]: the write-once store
//! ([`WormCheckpoints`], under `audit-checkpoints/`) and, in the host, the
//! `NUMBERING_AUDIT` JetStream stream. Verification compares the chain with
//! the newest checkpoint that opens with the signer's public key
//! ([`verify_and_checkpoint`]): a head behind it is a truncation, a
//! different link at its seq a cut-and-regrown chain. Checkpoints that do
//! not open (forged, unsigned, another key, a key name that lies about its
//! seq) are refused and reported, never trusted.
//!
//! A checkpoint is only written for a chain that reaches the newest stored
//! one with the same hash there, so a truncated chain is never checkpointed
//! over the evidence. What stays undetectable is the window since the last
//! checkpoint: entries sealed after it can still vanish unnoticed, which is
//! why the host checkpoints every `NUMBERING_AUDIT_CHECKPOINT_INTERVAL`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use numbering_store::audit::{self, Anchor, ChainHead, VerifyReport};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    signer::{self, SignError, SignatureRecord, Signer},
    worm::{BoxFuture, WormError, WormStore},
};

/// The folder of the write-once store that holds the checkpoints; keys are
/// `audit-checkpoints/<origin>/<seq, 20 digits>-<time>-<random>.json`, so
/// they sort by seq.
pub const KEY_PREFIX: &str = "audit-checkpoints";
/// The JetStream subject (stream `NUMBERING_AUDIT`) checkpoints are published on.
pub const SUBJECT: &str = "numbering.audit.checkpoint.v1";
/// The first line of every signed note.
pub const NOTE_HEADER: &str = "numbering-service audit checkpoint v1";
/// Checkpoints are kept as long as exports (write-once, 7 years).
const RETENTION_YEARS: u32 = 7;

/// The head of the chain at a moment: what a checkpoint signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Whose chain: the database's name (`current_database()`), so that
    /// deployments or test databases sharing a store never mix.
    pub origin: String,
    pub seq: i64,
    pub hash: [u8; 32],
    pub time: DateTime<Utc>,
}

/// The origin of the chain in `pool`'s database.
pub async fn origin(pool: &PgPool) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(pool)
        .await
}

impl Checkpoint {
    /// A checkpoint of `head` at `time`, to the microsecond (as its note
    /// says it).
    pub fn of(origin: &str, head: &ChainHead, time: DateTime<Utc>) -> Self {
        Self {
            origin: origin.to_owned(),
            seq: head.seq,
            hash: head.hash,
            time: DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time),
        }
    }

    /// The exact text that is signed: five lines, `\n`-terminated.
    pub fn note(&self) -> String {
        format!(
            "{NOTE_HEADER}\norigin {}\nseq {}\nhash {}\ntime {}\n",
            self.origin,
            self.seq,
            hex::encode(self.hash),
            self.time.to_rfc3339_opts(SecondsFormat::Micros, true)
        )
    }

    /// Parses a note written by [`Checkpoint::note`], strictly.
    pub fn parse_note(note: &str) -> Result<Self, CheckpointError> {
        let malformed = |what: &str| CheckpointError::Malformed(what.to_owned());
        let body = note
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the note does not end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [header, origin, seq, hash, time] = lines[..] else {
            return Err(malformed("the note is not five lines"));
        };
        if header != NOTE_HEADER {
            return Err(malformed("unknown note header"));
        }
        let origin = origin
            .strip_prefix("origin ")
            .filter(|o| !o.is_empty())
            .ok_or_else(|| malformed("bad origin line"))?
            .to_owned();
        let seq: i64 = seq
            .strip_prefix("seq ")
            .and_then(|s| s.parse().ok())
            .filter(|s| *s >= 1)
            .ok_or_else(|| malformed("bad seq line"))?;
        let hash: [u8; 32] = hash
            .strip_prefix("hash ")
            .filter(|h| h.len() == 64 && !h.bytes().any(|b| b.is_ascii_uppercase()))
            .and_then(|h| hex::decode(h).ok())
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| malformed("bad hash line"))?;
        let time = time
            .strip_prefix("time ")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(|| malformed("bad time line"))?
            .with_timezone(&Utc);
        let checkpoint = Self {
            origin,
            seq,
            hash,
            time,
        };
        if checkpoint.note() != note {
            return Err(malformed("the note is not in its canonical form"));
        }
        Ok(checkpoint)
    }

    /// The checkpoint as the store's verification takes it (once opened).
    pub fn anchor(&self) -> Anchor {
        Anchor {
            seq: self.seq,
            hash: self.hash,
            at: self.time,
        }
    }

    /// A fresh write-once key for it, sorting by seq.
    fn key(&self) -> String {
        format!(
            "{}/{}-{}-{}.json",
            folder(&self.origin),
            seq_key(self.seq),
            self.time.format("%Y%m%dT%H%M%S%6fZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }
}

fn seq_key(seq: i64) -> String {
    format!("{:020}", seq.max(0))
}

/// `audit-checkpoints/<origin>`, the origin percent-encoded into one key
/// segment.
fn folder(origin: &str) -> String {
    let mut segment = String::with_capacity(origin.len());
    for b in origin.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            segment.push(char::from(b));
        } else {
            segment.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{KEY_PREFIX}/{segment}")
}

/// A checkpoint as stored: the note and its detached signature, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub note: String,
    pub signature: SignatureRecord,
}

impl SignedCheckpoint {
    pub async fn sign(signer: &dyn Signer, checkpoint: &Checkpoint) -> Result<Self, SignError> {
        let note = checkpoint.note();
        let signature = signer.sign(note.as_bytes()).await?;
        Ok(Self { note, signature })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        serde_json::from_slice(bytes).map_err(|e| CheckpointError::Malformed(e.to_string()))
    }

    /// The checkpoint, if its signature verifies with the trusted
    /// `public_key_pem` (the key named in the record is never trusted).
    pub fn open(&self, public_key_pem: &str) -> Result<Checkpoint, CheckpointError> {
        signer::verify(&self.signature, public_key_pem, self.note.as_bytes())?;
        Checkpoint::parse_note(&self.note)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    #[error(transparent)]
    Signature(#[from] SignError),
    #[error(transparent)]
    Storage(#[from] WormError),
    #[error("{0}")]
    Log(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The chain does not reach the newest checkpoint: writing a new one
    /// would bury the evidence.
    #[error("refusing to checkpoint: {0}")]
    Inconsistent(String),
}

/// A stored checkpoint that did not open, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub location: String,
    pub reason: String,
}

/// What a log holds at its top: the newest checkpoint that opens, and the
/// ones refused on the way to it.
#[derive(Debug, Default)]
pub struct Found {
    pub checkpoint: Option<Checkpoint>,
    pub refused: Vec<Refused>,
}

/// Somewhere checkpoints are appended once and read back.
pub trait CheckpointLog: Send + Sync {
    fn describe(&self) -> String;
    fn append<'a>(
        &'a self,
        checkpoint: &'a Checkpoint,
        signed: &'a SignedCheckpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;
    /// The newest checkpoint of `origin` that opens with `public_key_pem`;
    /// `head_hint` (the chain's head seq as the database says, untrusted)
    /// only tells where to start looking.
    fn newest<'a>(
        &'a self,
        public_key_pem: &'a str,
        origin: &'a str,
        head_hint: i64,
    ) -> BoxFuture<'a, Result<Found, CheckpointError>>;
}

/// Checkpoints in the write-once store, one object each.
#[derive(Clone)]
pub struct WormCheckpoints {
    store: Arc<dyn WormStore>,
}

impl WormCheckpoints {
    pub fn new(store: Arc<dyn WormStore>) -> Self {
        Self { store }
    }

    /// The keys of `folder` in `(start_after, below)`, ascending.
    async fn keys_between(
        &self,
        folder: &str,
        start_after: &str,
        below: Option<&str>,
    ) -> Result<Vec<String>, WormError> {
        const PAGE: usize = 1000;
        let mut keys: Vec<String> = Vec::new();
        let mut after = start_after.to_owned();
        loop {
            let page = self.store.list(folder, &after, PAGE).await?;
            let full = page.len() == PAGE;
            let mut past = false;
            for key in page {
                if below.is_some_and(|b| key.as_str() >= b) {
                    past = true;
                    break;
                }
                after.clone_from(&key);
                keys.push(key);
            }
            if past || !full {
                return Ok(keys);
            }
        }
    }
}

/// The seq a checkpoint key names (`…/<seq>-…`).
fn seq_of_key(key: &str) -> Option<i64> {
    key.rsplit('/').next()?.split('-').next()?.parse().ok()
}

impl CheckpointLog for WormCheckpoints {
    fn describe(&self) -> String {
        format!("{}/{KEY_PREFIX}", self.store.describe())
    }

    fn append<'a>(
        &'a self,
        checkpoint: &'a Checkpoint,
        signed: &'a SignedCheckpoint,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        Box::pin(async move {
            self.store
                .put(
                    &checkpoint.key(),
                    signed.to_bytes().into(),
                    crate::worm::retention_years(RETENTION_YEARS),
                )
                .await?;
            Ok(())
        })
    }

    /// From the top down: first every key at or above the head's seq (a
    /// truncation leaves its evidence there), then windows below it,
    /// doubling, until a checkpoint opens. Cost: the checkpoints near the
    /// head, not all of them.
    fn newest<'a>(
        &'a self,
        public_key_pem: &'a str,
        origin: &'a str,
        head_hint: i64,
    ) -> BoxFuture<'a, Result<Found, CheckpointError>> {
        Box::pin(async move {
            let folder = folder(origin);
            let mut found = Found::default();
            let mut low = head_hint.max(0);
            let mut below: Option<String> = None;
            let mut window = 256i64;
            loop {
                let start_after = format!("{folder}/{}", seq_key(low));
                let keys = self
                    .keys_between(&folder, &start_after, below.as_deref())
                    .await?;
                for key in keys.iter().rev() {
                    let opened = match self.store.get(key).await {
                        Ok(bytes) => SignedCheckpoint::from_bytes(&bytes)
                            .and_then(|s| s.open(public_key_pem))
                            .and_then(|c| {
                                if seq_of_key(key) != Some(c.seq) {
                                    Err(CheckpointError::Malformed(
                                        "its key names another seq".into(),
                                    ))
                                } else if c.origin != origin {
                                    Err(CheckpointError::Malformed("it is another chain's".into()))
                                } else {
                                    Ok(c)
                                }
                            }),
                        Err(e) => Err(e.into()),
                    };
                    match opened {
                        Ok(checkpoint) => {
                            found.checkpoint = Some(checkpoint);
                            return Ok(found);
                        }
                        Err(e) => found.refused.push(Refused {
                            location: format!("{}/{key}", self.store.describe()),
                            reason: e.to_string(),
                        }),
                    }
                }
                if low == 0 {
                    return Ok(found);
                }
                below = Some(start_after);
                low = (low - window).max(0);
                window = window.saturating_mul(2);
            }
        })
    }
}

/// The newest checkpoint over every log, and what could not be used.
#[derive(Debug, Default)]
pub struct Newest {
    pub checkpoint: Option<Checkpoint>,
    /// Stored checkpoints that did not open (forged, unsigned, another key).
    pub refused: Vec<Refused>,
    /// Logs that could not be read (the others still count).
    pub unreadable: Vec<Refused>,
}

/// Signs checkpoints with the export signer, writes them to every log and
/// finds the newest again.
#[derive(Clone)]
pub struct Checkpointer {
    signer: Arc<dyn Signer>,
    logs: Vec<Arc<dyn CheckpointLog>>,
}

impl Checkpointer {
    pub fn new(signer: Arc<dyn Signer>, logs: Vec<Arc<dyn CheckpointLog>>) -> Self {
        Self { signer, logs }
    }

    /// The export's signer, with its write-once store as the log.
    pub fn for_exports(tools: &crate::ExportTools) -> Self {
        Self::new(
            tools.signer.clone(),
            vec![Arc::new(WormCheckpoints::new(tools.store.clone()))],
        )
    }

    pub fn with_log(mut self, log: Arc<dyn CheckpointLog>) -> Self {
        self.logs.push(log);
        self
    }

    /// Where checkpoints go, for logs and messages.
    pub fn describe(&self) -> String {
        self.logs
            .iter()
            .map(|l| l.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The newest checkpoint of `pool`'s chain that opens with the
    /// signer's public key, over every log (the highest seq wins).
    pub async fn newest(&self, pool: &PgPool, head_hint: i64) -> Result<Newest, CheckpointError> {
        let key = self.signer.identity().await?.public_key_pem;
        let origin = origin(pool).await?;
        let mut newest = Newest::default();
        for log in &self.logs {
            match log.newest(&key, &origin, head_hint).await {
                Ok(found) => {
                    newest.refused.extend(found.refused);
                    if let Some(c) = found.checkpoint {
                        if newest.checkpoint.as_ref().is_none_or(|n| c.seq > n.seq) {
                            newest.checkpoint = Some(c);
                        }
                    }
                }
                Err(e) => newest.unreadable.push(Refused {
                    location: log.describe(),
                    reason: e.to_string(),
                }),
            }
        }
        for r in &newest.refused {
            tracing::warn!(location = %r.location, reason = %r.reason, "audit checkpoint refused");
        }
        Ok(newest)
    }

    /// Signs a checkpoint of `head` and appends it to every log. Refused
    /// when the chain does not reach `newest` with its hash. Succeeds when
    /// at least one log took it.
    pub async fn write(
        &self,
        pool: &PgPool,
        head: &ChainHead,
        newest: Option<&Checkpoint>,
    ) -> Result<Checkpoint, CheckpointError> {
        if let Some(n) = newest {
            if let Some(b) = audit::anchor_break(pool, Some(head), &n.anchor()).await? {
                return Err(CheckpointError::Inconsistent(b.kind.to_string()));
            }
        }
        let checkpoint = Checkpoint::of(&origin(pool).await?, head, Utc::now());
        let signed = SignedCheckpoint::sign(self.signer.as_ref(), &checkpoint).await?;
        let mut failures = Vec::new();
        for log in &self.logs {
            if let Err(e) = log.append(&checkpoint, &signed).await {
                tracing::warn!(log = %log.describe(), error = %e, "audit checkpoint not written there");
                failures.push(format!("{}: {e}", log.describe()));
            }
        }
        if failures.len() == self.logs.len() {
            return Err(CheckpointError::Log(format!(
                "the checkpoint was written nowhere: {}",
                failures.join("; ")
            )));
        }
        Ok(checkpoint)
    }

    /// The periodic job's step: checkpoints the chain's stored head unless
    /// the newest checkpoint already names it.
    pub async fn checkpoint_head(
        &self,
        pool: &PgPool,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some(head) = audit::head(pool).await? else {
            return Ok(None);
        };
        let newest = self.newest(pool, head.seq).await?;
        if newest
            .checkpoint
            .as_ref()
            .is_some_and(|n| n.seq == head.seq && n.hash == head.hash)
        {
            return Ok(None);
        }
        self.write(pool, &head, newest.checkpoint.as_ref())
            .await
            .map(Some)
    }
}

/// A verification against the newest checkpoint.
#[derive(Debug)]
pub struct AnchoredReport {
    pub report: VerifyReport,
    /// The checkpoint the chain was compared with.
    pub checkpoint: Option<Checkpoint>,
    pub refused: Vec<Refused>,
    pub unreadable: Vec<Refused>,
    /// The checkpoint this run wrote (an intact chain's head), or why not.
    pub written: Result<Option<Checkpoint>, String>,
}

/// Verifies the chain (`audit_jobs::verify_and_publish`: ops event and
/// gauges) against the newest checkpoint `checkpointer` can read, then —
/// when the chain is intact — checkpoints its head. Without a checkpointer,
/// the chain is checked in itself only. The caller seals first.
pub async fn verify_and_checkpoint(
    pool: &PgPool,
    checkpointer: Option<&Checkpointer>,
) -> Result<AnchoredReport, CheckpointError> {
    let Some(checkpointer) = checkpointer else {
        let report = numbering_store::audit_jobs::verify_and_publish(pool, None).await?;
        return Ok(AnchoredReport {
            report,
            checkpoint: None,
            refused: Vec::new(),
            unreadable: Vec::new(),
            written: Ok(None),
        });
    };
    let hint = audit::head(pool).await?.map_or(0, |h| h.seq);
    let newest = checkpointer.newest(pool, hint).await?;
    let anchor = newest.checkpoint.as_ref().map(Checkpoint::anchor);
    let report = numbering_store::audit_jobs::verify_and_publish(pool, anchor.as_ref()).await?;
    let written = match (&report.head, report.is_intact()) {
        (Some(head), true) => checkpointer
            .write(pool, head, newest.checkpoint.as_ref())
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    };
    Ok(AnchoredReport {
        report,
        checkpoint: newest.checkpoint,
        refused: newest.refused,
        unreadable: newest.unreadable,
        written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            origin: "numbering".into(),
            seq: 42,
            hash: [7; 32],
            time: "2026-11-26T10:11:12.345678Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_note_reads_back_as_written_and_nothing_else_does() {
        let c = sample();
        assert_eq!(
            c.note(),
            format!(
                "{NOTE_HEADER}\norigin numbering\nseq 42\nhash {}\ntime 2026-11-26T10:11:12.345678Z\n",
                "07".repeat(32)
            )
        );
        assert_eq!(Checkpoint::parse_note(&c.note()).unwrap(), c);
        for bad in [
            c.note().replace("seq 42", "seq 042"),
            c.note().replace("seq 42", "seq 0"),
            c.note().trim_end().to_owned(),
            c.note().replace(NOTE_HEADER, "something else"),
            c.note().replace("origin numbering\n", ""),
            c.note().replace(&"07".repeat(32), &"0A".repeat(32)),
            c.note() + "extra\n",
        ] {
            assert!(Checkpoint::parse_note(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_sort_by_seq_and_name_it() {
        let mut c = sample();
        let small = c.key();
        c.seq = 1000;
        let large = c.key();
        assert!(small < large, "{small} {large}");
        assert_eq!(seq_of_key(&large), Some(1000));
        assert!(large.starts_with("audit-checkpoints/numbering/00000000000000001000-"));
        assert_eq!(folder("t-1/x"), "audit-checkpoints/t%2D1%2Fx");
    }
}
