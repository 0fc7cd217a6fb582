//! Limits on the request line and the header section, answered as
//! problem+json: 414 `URI_TOO_LONG` and 431 `HEADERS_TOO_LARGE`.
//!
//! The HTTP server refuses requests beyond its parser's own limits (a
//! 64 KiB request target, 100 header fields, a head of about 400 KiB)
//! before a request exists, with an empty body; these limits sit well
//! below those, so a client that goes over them meets the edge's answer,
//! with a `code`, and not the parser's.

use axum::{extract::Request, http::StatusCode, middleware::Next, response::Response};

use crate::ApiError;

/// Longest accepted request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest accepted header section (names, values and their separators).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields accepted.
pub const MAX_HEADER_FIELDS: usize = 96;

/// Refuses a request over the limits before anything else looks at it.
pub async fn layer(req: Request, next: Next) -> Result<Response, ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("the request target is {target} bytes; at most {MAX_URI_BYTES} are accepted"),
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADER_FIELDS || bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEADERS_TOO_LARGE",
            format!(
                "{} header fields, {bytes} bytes; at most {MAX_HEADER_FIELDS} fields and \
                 {MAX_HEADER_BYTES} bytes are accepted",
                headers.len()
            ),
        ));
    }
    Ok(next.run(req).await)
}
