//! Signed MNO / ATRA lease imports and legacy lease seeding.
//!
//! Not built yet: arrives with its own issue.
