//! The monthly regulator export, WORM storage and audit retention.

pub mod worm;
