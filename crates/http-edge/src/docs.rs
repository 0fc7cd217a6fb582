//! The interactive API docs at `/docs`: Swagger UI over `/openapi.json`,
//! from `swagger-ui-dist` files vendored in `vendor/swagger-ui` (version,
//! source and checksums in its README) and compiled into the binary,
//! so the page works offline (no CDN) and adds no crate to the build.

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};

const PAGE: &str = include_str!("docs.html");
const BUNDLE_JS: &str = include_str!("../vendor/swagger-ui/swagger-ui-bundle.js");
const BUNDLE_LICENSE: &str = include_str!("../vendor/swagger-ui/swagger-ui-bundle.js.LICENSE.txt");
const CSS: &str = include_str!("../vendor/swagger-ui/swagger-ui.css");

/// `/docs` and the assets it loads (`/docs/…`). The page asks for
/// `./openapi.json`, which [`crate::openapi::docs_router`] serves beside it.
pub fn router() -> Router {
    // the page follows the document, so it is revalidated; the assets change
    // only with the vendored version
    Router::new()
        .route(
            "/docs",
            get(|| async { ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE)).into_response() }),
        )
        .route(
            "/docs/swagger-ui-bundle.js",
            get(|| async { asset("text/javascript; charset=utf-8", BUNDLE_JS) }),
        )
        .route(
            "/docs/swagger-ui-bundle.js.LICENSE.txt",
            get(|| async { asset("text/plain; charset=utf-8", BUNDLE_LICENSE) }),
        )
        .route(
            "/docs/swagger-ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
