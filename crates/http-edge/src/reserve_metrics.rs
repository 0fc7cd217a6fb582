//! Reserve attempts and their outcomes per route, so that the CAS conflict
//! rate and the quota refusal rate are each a ratio of two counters:
//! `numbering_reserve_attempts_total{route}`, `…_successes_total`,
//! `…_conflicts_total` (409 `CONFLICT`) and `…_quota_refusals_total`
//! (`QUOTA_EXCEEDED`). A reserve is a `POST` to a route ending in
//! `/reservations` (the portal's, and the admin's on a tenant's behalf).

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};

use crate::problem::ProblemCode;

/// What a reserve answered, as the counters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveOutcome {
    Success,
    Conflict,
    QuotaRefused,
    Other,
}

impl ReserveOutcome {
    /// The outcome of a reserve response: its status and problem code.
    pub fn of(response: &Response) -> Self {
        let code = response.extensions().get::<ProblemCode>().map(|c| c.0);
        match code {
            _ if response.status().is_success() => Self::Success,
            Some("CONFLICT") => Self::Conflict,
            Some("QUOTA_EXCEEDED") => Self::QuotaRefused,
            _ => Self::Other,
        }
    }

    fn counter(self) -> Option<&'static str> {
        match self {
            Self::Success => Some("numbering_reserve_successes_total"),
            Self::Conflict => Some("numbering_reserve_conflicts_total"),
            Self::QuotaRefused => Some("numbering_reserve_quota_refusals_total"),
            Self::Other => None,
        }
    }
}

/// Counts reserves (a route layer: the matched path is known).
pub async fn layer(req: Request, next: Next) -> Response {
    let route = reserve_route(&req);
    let response = next.run(req).await;
    if let Some(route) = route {
        record(route, ReserveOutcome::of(&response));
    }
    response
}

fn reserve_route(req: &Request) -> Option<String> {
    let path = req.extensions().get::<MatchedPath>()?.as_str();
    (req.method() == Method::POST && path.ends_with("/reservations")).then(|| path.to_owned())
}

/// Counts the attempt and its outcome; the other outcomes' counters are
/// touched too, so that every ratio exists (at 0) from the first attempt.
fn record(route: String, outcome: ReserveOutcome) {
    metrics::counter!("numbering_reserve_attempts_total", "route" => route.clone()).increment(1);
    for o in [
        ReserveOutcome::Success,
        ReserveOutcome::Conflict,
        ReserveOutcome::QuotaRefused,
    ] {
        if let Some(name) = o.counter() {
            metrics::counter!(name, "route" => route.clone()).increment(u64::from(o == outcome));
        }
    }
}
