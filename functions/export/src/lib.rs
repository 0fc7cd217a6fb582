//! The monthly regulator export (`atra-v1`), its signature and its
//! write-once storage.
//!
//! - [`export::Exporter`]: generate a period's export (or a dry run) and walk
//!   it through its workflow.
//! - [`signer`]: the `Signer` port (local Ed25519, AWS KMS, Vault Transit).
//! - [`worm`]: the write-once storage port (S3 Object Lock, local directory).
//! - [`verify`]: check a stored export's signature and checksums.
//! - [`config`]: the signer and store chosen by the environment.
//! - [`archive`]: audit retention — partitions past 13 months archived to
//!   WORM storage with their chain hashes, then detached.
//! - [`checkpoint`]: signed checkpoints of the audit chain's head, outside
//!   the database, so that deleting the newest entries is detected.

pub mod archive;
pub mod atra;
pub mod checkpoint;
pub mod config;
pub mod export;
pub mod lambda;
pub mod manifest;
pub mod period;
pub mod signer;
pub mod verify;
pub mod worm;

pub use export::{ExportError, ExportRecord, ExportTools, Exporter, Outcome, Step};
pub use period::Period;
