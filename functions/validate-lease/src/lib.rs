//! The per-message hot path: "may tenant T send from identifier X right now?"
//! (`ValidateLease`) and "which operator is X on?" (`Lookup`).
//!
//! Reads go in-process cache → DynamoDB lease cache → Postgres (which fills
//! both back), each under its own deadline ([`TierConfig`]). Fail-closed:
//! when no tier can answer, the caller gets [`Unavailable`] (gRPC
//! `UNAVAILABLE`), never `allowed = true`. Caches only move forward (by row
//! version); `num.cache.invalidate.v1` drops in-process entries everywhere.
//!
//! Staleness bounds after a release, recall or suspension commits:
//! - bus up: the relay projects the new version into DynamoDB, then
//!   publishes the invalidation; every instance drops its entry on receipt
//!   (milliseconds), so the next read sees the new state;
//! - bus down: an in-process entry lives at most `local_ttl` (2 s by
//!   default) after it was fetched (a key in steady use is refetched in the
//!   background after half of that, so it rarely expires under its callers)
//!   and a DynamoDB item at most its validity (30 s by default) unless the
//!   relay has already projected the newer version;
//! - bus up and current (the relay's heartbeats, [`bus`]): in-process
//!   entries are kept up to `bus_ttl` (30 s), still within the same bound
//!   of max(1 s window, `local_ttl`), which they fall back to the moment
//!   the bus is not current.
//!
//! With a hot standby configured ([`replica`]), the Postgres tier and
//! Lookup read it first, and answer from it only within
//! `NUMBERING_REPLICA_MAX_LAG` and never from before a version an
//! invalidation named; otherwise they read the primary.

pub mod bus;
pub mod config;
pub mod grpc;
pub mod http;
pub mod invalidation;
pub mod lambda;
pub mod latency;
pub mod local;
pub mod mtls;
pub mod replica;
pub mod tiers;

pub use grpc::HotPath;
pub use http::router;
pub use tiers::{LeaseReader, TierConfig, Unavailable, Validator};
