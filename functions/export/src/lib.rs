//! The monthly regulator (ATRA) export, signed and written once to WORM storage.
//!
//! Not built yet: arrives with its own issue.
