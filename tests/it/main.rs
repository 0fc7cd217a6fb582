//! Integration tests: one binary (fast to link), one module per capability.
//! Every test gets its own database on a real Postgres (see `numbering_tests`).

mod api_contract;
mod audit_chain;
mod constraints;
mod expiry;
mod host;
mod host_rest;
mod idempotency;
mod jwks;
mod lambda_events;
mod lifecycle;
mod portal_api;
mod reserve_race;
mod row_level_security;
