//! The all-in-one numbering-service host: wires the function libraries into
//! one axum + tonic server, and the `numbering` CLI.

pub mod audit_cmd;
pub mod audit_jobs;
pub mod cli;
pub mod config;
pub mod demo;
pub mod drain;
pub mod embedded;
pub mod events;
pub mod export;
pub mod forecast_job;
pub mod grpc;
pub mod import_cmd;
pub mod nats;
pub mod primary_gate;
pub mod readiness;
pub mod runtime;
pub mod seed_cmd;
pub mod serve;
pub mod telemetry;
pub mod tls_reload;
pub mod token;
