//! The export's manifest (`manifest.json`): what the signature covers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::signer::SignerIdentity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `atra-v1`.
    pub format: String,
    /// `YYYY-MM`.
    pub period: String,
    pub period_start: DateTime<Utc>,
    /// Exclusive.
    pub period_end: DateTime<Utc>,
    /// The instant the inventory state describes: the period's end, or the
    /// generation time for a period still running.
    pub as_of: DateTime<Utc>,
    /// The `regulator_exports` version (absent in a dry run).
    pub version: Option<i32>,
    pub generated_at: DateTime<Utc>,
    pub files: Vec<ManifestFile>,
    /// The audit hash chain's head when the export was generated, after
    /// sealing every entry committed before it — so it covers every entry
    /// of the period. Absent when the chain is empty.
    pub audit_chain_head: Option<ChainHeadRef>,
    /// The chain's head at the period's end (`as_of`): the last link sealed
    /// before it — what `numbering audit verify` printed at that moment.
    /// Absent when nothing was sealed by then.
    #[serde(default)]
    pub audit_chain_head_at_period_end: Option<ChainHeadRef>,
    pub signer: SignerIdentity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    /// Data rows, without the header.
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file's exact bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHeadRef {
    pub seq: i64,
    /// Lower-case hex.
    pub hash: String,
}

impl Manifest {
    /// The exact bytes stored and signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn rows(&self, name: &str) -> Option<u64> {
        self.files.iter().find(|f| f.name == name).map(|f| f.rows)
    }
}
