//! Signed MNO and ATRA lease imports, and legacy lease seeding.
pub mod legacy;
