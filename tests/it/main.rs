//! Integration tests: one binary (fast to link), one module per capability.
//! Every test gets its own database on a real Postgres (see `numbering_tests`).

mod api_contract;
mod audit_archive;
mod audit_chain;
mod audit_ops;
mod bench;
mod clients;
mod constraints;
mod consumers;
mod expiry;
mod exports;
mod host;
mod host_rest;
mod hot_path;
mod idempotency;
mod imports;
mod infra;
mod jwks;
mod lambda_events;
mod legacy_seed;
mod lifecycle;
mod mtls;
mod portal_api;
mod postgres_tls;
mod production_roles;
mod relay;
mod reserve_race;
mod row_level_security;
mod sweeper;
