//! The Commerce Ops console at `/console/`: one page for the monthly review
//! (pool utilisation, stock and the scarcity forecast, contracts, the
//! quarantine timeline, chain verification and exports). Its files live in
//! `console/` and are compiled into the binary, so the host and the admin
//! Lambda serve the same page, offline (no CDN, no build chain; the charts
//! are SVG drawn by `console.js`).
//!
//! The page itself is public: it holds no data. It calls the admin JSON API
//! with the platform-admin token the user pastes, kept in the tab's
//! `sessionStorage` only, so every call is authorised like any other.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const CHART: &str = include_str!("../console/chart.js");
const STYLE: &str = include_str!("../console/console.css");

/// Nothing from another origin, no inline script or style, API calls to
/// this origin only, and the page may not be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/console` (a redirect), `/console/` and its assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        // the page is revalidated (it changes with the deployment); the
        // assets too, since their names carry no version
        .route(
            "/console/",
            get(|| async { file("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/console/console.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/chart.js",
            get(|| async { file("text/javascript; charset=utf-8", CHART) }),
        )
        .route(
            "/console/console.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}
