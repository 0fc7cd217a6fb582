//! The access log and request ids, for every edition: one log line per
//! request (target `access`: method, matched route, status, duration and
//! request id; JSON with `NUMBERING_LOG_FORMAT=json` in the host, always
//! JSON in a Lambda), and an `X-Request-Id` on every response — the
//! caller's, when it sends a usable one, or a new UUIDv7. The id is put on
//! the request too, so that the handlers record the same id in audit
//! entries and events.
//!
//! The hot path (ValidateLease and Lookup, JSON and gRPC) answers once per
//! message, so its lines are sampled: one in
//! `NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE` (default 100; 1: every request,
//! 0: none). Its request ids are set and echoed all the same.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    middleware::{self, Next},
    response::Response,
};

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, as the access log put it on the request (for audit
/// entries and events); a new UUIDv7 where none is usable.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The environment variable of the hot path's sampling rate.
pub const VALIDATE_SAMPLE_VAR: &str = "NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE";

/// The routes logged one in `validate_sample` times.
const HOT_ROUTES: [&str; 4] = [
    "/v1/validate-lease",
    "/v1/lookup",
    "/numbering.v1.NumberingService/ValidateLease",
    "/numbering.v1.NumberingService/Lookup",
];

/// The access-log middleware and its sampling state (shared by clones).
#[derive(Debug, Clone)]
pub struct AccessLog {
    validate_sample: u64,
    hot_requests: Arc<AtomicU64>,
}

impl Default for AccessLog {
    fn default() -> Self {
        Self::new(100)
    }
}

impl AccessLog {
    /// Logs one in `validate_sample` hot-path requests (0: none) and every
    /// other request.
    pub fn new(validate_sample: u64) -> Self {
        Self {
            validate_sample,
            hot_requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// From `NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE` (absent or empty: 100).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        match get(VALIDATE_SAMPLE_VAR).filter(|v| !v.trim().is_empty()) {
            None => Ok(Self::default()),
            Some(v) => v.trim().parse().map(Self::new).map_err(|_| {
                format!("{VALIDATE_SAMPLE_VAR}={v:?} is not a whole number (1 in N requests)")
            }),
        }
    }

    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `router` with the middleware on every route and on its fallback;
    /// call it on the finished router.
    pub fn wrap(self, router: Router) -> Router {
        router.layer(middleware::from_fn_with_state(self, log_request))
    }

    fn logs(&self, route: Option<&str>) -> bool {
        if !route.is_some_and(|r| HOT_ROUTES.contains(&r)) {
            return true;
        }
        self.validate_sample != 0
            && self.hot_requests.fetch_add(1, Ordering::Relaxed) % self.validate_sample == 0
    }
}

/// A caller's request id is used when it is 1 to 128 visible ASCII
/// characters; anything else is replaced.
fn usable(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic)
}

async fn log_request(State(log): State<AccessLog>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = match req.headers().get(&REQUEST_ID).filter(|v| usable(v)) {
        Some(id) => id.clone(),
        None => {
            let id = HeaderValue::try_from(uuid::Uuid::now_v7().to_string())
                .expect("a UUID is a valid header value");
            req.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"application/grpc"));
    // gRPC services are mounted as one route per service: name the method
    let route = if grpc {
        Some(req.uri().path().to_owned())
    } else {
        req.extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_owned())
    };
    let method = req.method().clone();
    let logs = log.logs(route.as_deref());
    let mut response = next.run(req).await;
    response.headers_mut().insert(REQUEST_ID, id.clone());
    if logs {
        let grpc_status = response
            .headers()
            .get("grpc-status")
            .and_then(|s| s.to_str().ok());
        tracing::info!(
            target: "access",
            method = %method,
            route = route.as_deref().unwrap_or("unmatched"),
            status = response.status().as_u16(),
            grpc_status,
            duration_ms = start.elapsed().as_secs_f64() * 1000.0,
            request_id = id.to_str().unwrap_or_default(),
            "request"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_path_is_logged_one_in_n_times_and_everything_else_always() {
        let log = AccessLog::new(3);
        let hot: Vec<bool> = (0..6)
            .map(|_| log.logs(Some("/v1/validate-lease")))
            .collect();
        assert_eq!(hot, [true, false, false, true, false, false]);
        assert!((0..5).all(|_| log.logs(Some("/v1/portal/numbering/pool"))));
        assert!(log.logs(None));
        let off = AccessLog::new(0);
        assert!(!off.logs(Some("/numbering.v1.NumberingService/ValidateLease")));
    }

    #[test]
    fn the_sampling_rate_comes_from_the_environment() {
        let env = |v: &'static str| move |_: &str| Some(v.to_owned());
        assert_eq!(AccessLog::from_lookup(env("1")).unwrap().validate_sample, 1);
        assert_eq!(
            AccessLog::from_lookup(|_| None).unwrap().validate_sample,
            100
        );
        assert!(AccessLog::from_lookup(env("often")).is_err());
    }

    #[test]
    fn a_request_id_is_kept_only_when_short_and_printable() {
        assert!(usable(&HeaderValue::from_static("req-42")));
        assert!(!usable(&HeaderValue::from_static("")));
        assert!(!usable(&HeaderValue::from_static("two words")));
        assert!(!usable(&HeaderValue::try_from("x".repeat(129)).unwrap()));
    }
}
