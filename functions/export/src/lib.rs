//! The monthly regulator export, WORM storage and audit retention.

pub mod archive;
pub mod signer;
pub mod worm;
