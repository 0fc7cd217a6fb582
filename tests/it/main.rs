//! Integration tests: one binary (fast to link), one module per capability.
//! Every test gets its own database on a real Postgres (see `numbering_tests`).

mod audit_chain;
mod bench;
mod clients;
mod constraints;
mod consumers;
mod expiry;
mod host;
mod lifecycle;
mod relay;
mod reserve_race;
mod row_level_security;
mod sweeper;
