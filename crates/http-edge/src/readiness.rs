//! The port behind `GET /v1/admin/numbering/readiness?phase=N`: whoever
//! serves the admin API and can read the live system (the host: its own
//! metrics, Prometheus, the database) evaluates a phase's exit criteria.

use numbering_clients::BoxFuture;
use serde_json::Value;

/// Evaluates the seed's exit criteria and success metrics of a phase.
///
/// Contract: `report(phase)` is called with 1, 2 or 3 only, and MUST answer
/// `{"phase", "pass", "criteria": [{"name", "target", "measured",
/// "status", "window"}, …]}` where `pass` is true only if every status is
/// `PASS`; `Err` only when the report could not be made at all (the
/// database unreachable), never for a failing criterion.
pub trait Readiness: Send + Sync {
    fn report(&self, phase: u8) -> BoxFuture<'_, Result<Value, String>>;
}
