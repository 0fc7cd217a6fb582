//! Integration tests: one binary (fast to link), one module per capability.
//! Every test gets its own database on a real Postgres (see `numbering_tests`).

mod audit_chain;
mod constraints;
mod expiry;
mod host;
mod lifecycle;
mod reserve_race;
mod row_level_security;
mod portal_api;
mod idempotency;
mod api_contract;
mod lambda_events;
