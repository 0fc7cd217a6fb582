//! The REST edge shared by the portal and admin APIs: bearer-JWT
//! authentication, RFC 9457 problem+json errors, extractors that never
//! answer in plain text, Idempotency-Key handling, the per-tenant rate
//! limit, the access log with request ids, the inventory criteria both APIs
//! take, and the OpenAPI document built from the same operation table the
//! routers are built from.

pub mod access_log;
pub mod accounts;
pub mod auth;
pub mod config;
pub mod criteria;
pub mod cursor;
pub mod docs;
pub mod extract;
pub mod idempotency;
pub mod leasing;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod readiness;
pub mod request;
pub mod reserve_metrics;

use std::sync::Arc;

pub use access_log::AccessLog;
pub use auth::{Principal, Verifier};
pub use problem::ApiError;
pub use ratelimit::RateLimiter;
pub use request::{Caller, RequestState};

/// The state of an API router: the system of record and the edge settings.
#[derive(Clone)]
pub struct ApiState {
    pub store: numbering_store::Store,
    pub edge: Edge,
}

/// Edge settings and shared state for one API router.
#[derive(Clone)]
pub struct Edge {
    pub verifier: Arc<Verifier>,
    pub limiter: Option<Arc<RateLimiter>>,
    /// Largest accepted request body, in bytes (larger: 413).
    pub body_limit: usize,
    /// Asked before every ALPHA assign; by default "not configured", which
    /// refuses those assigns as unavailable (never allows them).
    pub registry: Arc<dyn numbering_clients::SenderIdRegistry>,
    /// Evaluates the readiness report; by default none, and the admin
    /// readiness route answers 503 `READINESS_NOT_CONFIGURED`.
    pub readiness: Option<Arc<dyn readiness::Readiness>>,
    /// The regulator export's signer and WORM store; by default none, and
    /// the admin export routes answer 503 "not configured".
    pub exports: Option<numbering_export::ExportTools>,
    /// The access log's sampling of the hot path (see [`access_log`]).
    pub access_log: AccessLog,
    /// `NUMBERING_PORTAL_ENABLED`: false answers every portal route 503
    /// `PORTAL_DISABLED` (a rollback switch; the admin API is unaffected).
    pub portal_enabled: bool,
    /// The admin API's two-person rule (`NUMBERING_TWO_PERSON_*`, parsed
    /// by `numbering_admin_api::config`); `None`: its default, every
    /// dangerous action needs a second admin.
    pub two_person: Option<Arc<TwoPersonRule>>,
}

/// Which admin actions take effect only once a second admin approves
/// them (`numbering_admin_api`'s `approvals` module names the actions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoPersonRule {
    /// The actions that need two admins; empty: the rule is off (a
    /// single-admin deployment), which their audit entries record.
    pub actions: std::collections::BTreeSet<String>,
    /// A pool change that raises a quota above this needs two admins (as
    /// does any change of the pool's tier, its `segment`).
    pub quota_threshold: i32,
    /// How long a request waits for its second admin.
    pub ttl: std::time::Duration,
}

impl Edge {
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            limiter: None,
            body_limit: 64 * 1024,
            registry: Arc::new(numbering_clients::NotConfigured(
                "NUMBERING_SENDER_ID_REGISTRY_URL",
            )),
            readiness: None,
            exports: None,
            access_log: AccessLog::default(),
            portal_enabled: true,
            two_person: None,
        }
    }
}

/// The (method, path, handler) rows an API router is built from; a test
/// of each API checks them against its operation table.
pub type Routes = Vec<(
    &'static str,
    &'static str,
    axum::routing::MethodRouter<ApiState>,
)>;

/// A router that serves `routes`.
pub fn router_of(routes: Routes) -> axum::Router<ApiState> {
    routes
        .into_iter()
        .fold(axum::Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
}

/// The answer to any other path under an API's prefix: a problem+json
/// 404, not an empty one.
pub async fn no_route() -> ApiError {
    ApiError::not_found("route")
}

/// Answers unknown routes (404) and methods (405) with problem+json
/// instead of an empty body; call once on the fully merged router of a
/// Lambda or a test (the host's router keeps tonic's fallback, and its API
/// routers answer their own 404s and 405s: see [`api_router`]).
pub fn with_fallbacks(router: axum::Router) -> axum::Router {
    use axum::http::StatusCode;
    router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
}

/// What every API router ends with, so that however the routers are
/// merged (the host, a Lambda, a test) a known route asked with a method
/// it does not serve answers 405 `METHOD_NOT_ALLOWED` as problem+json,
/// with axum's `Allow` header listing the methods it does serve; and a
/// request line or header section over the edge's limits answers 414 or
/// 431 as problem+json ([`limits`]).
pub fn api_router<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    router
        .route_layer(axum::middleware::from_fn(limits::layer))
        .route_layer(axum::middleware::from_fn(reserve_metrics::layer))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "the route does not accept this method",
    )
}
