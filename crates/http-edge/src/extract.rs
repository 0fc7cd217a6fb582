//! Extractors whose rejections are problem+json (never axum's plain text).
//!
//! They are also where text is admitted at all: no string that reaches a
//! handler through them (a JSON string or object key, a query or path
//! parameter) holds the NUL character, which Postgres text cannot store
//! (refused here with 400 `INVALID_TEXT`, once for every route, instead of
//! failing inside a query as a 500).

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body: 415 without a JSON content type, 413 over the body
/// limit, 400 for malformed JSON or a NUL anywhere in its text, 422 (naming
/// the field) for wrong types, missing or unknown fields.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.split(';').next().unwrap_or("").trim();
                v == "application/json" || v.ends_with("+json")
            });
        if !json_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the request body must be application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e.body_text(), e.status()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub(crate) fn body_error(text: &str, status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the request body is over the size limit",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            text.to_owned(),
        )
    }
}

/// Parses a JSON body into `T` with problem+json errors (a NUL in any
/// string or key: 400 `INVALID_TEXT` naming where).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // NUL can only be written `\u0000` in JSON text: look for the value
    // only when an escape could be one
    if memchr_u0000(bytes) {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(json_error)?;
        if let Some(at) = nul_in_json(&value, "") {
            return Err(nul_refused(if at.is_empty() { "body" } else { &at }));
        }
        return serde_json::from_value(value).map_err(json_error);
    }
    serde_json::from_slice(bytes).map_err(json_error)
}

fn memchr_u0000(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

/// Where in `v` a string or key holds NUL (`field.sub[2]`), if anywhere.
fn nul_in_json(v: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(at.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_in_json(x, &format!("{at}[{i}]"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_in_json(x, &here)
            }
        }),
        _ => None,
    }
}

/// 400 `INVALID_TEXT`: `field` holds the NUL character.
pub fn nul_refused(field: &str) -> ApiError {
    let field = field.replace('\0', "\\u0000");
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_TEXT",
        format!("{field} contains the NUL character (U+0000), which no text field may hold"),
    )
    .field(field)
}

/// Refuses `text` (the value of `field`) if it holds NUL.
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        Err(nul_refused(field))
    } else {
        Ok(())
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let msg = e.to_string();
                let field = backticked(&msg).unwrap_or_else(|| "body".into());
                ApiError::invalid(&field, msg)
            }
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                format!("the request body is not valid JSON: {e}"),
            ),
        }
    }
}

/// The first `name` in a serde message such as "missing field `name`".
fn backticked(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_owned())
}

/// Query parameters with problem+json rejections (422 naming the field;
/// 400 for a NUL in a name or value).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_like(q).map(ApiQuery)
    }
}

fn serde_urlencoded_like<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{q}").parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            "malformed query string",
        )
    })?;
    // `%00` decodes to NUL: look at the decoded pairs first
    if q.contains("%00") {
        if let Ok(axum::extract::Query(pairs)) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        {
            for (k, v) in &pairs {
                check_text(k, k)?;
                check_text(k, v)?;
            }
        }
    }
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|axum::extract::Query(v)| v)
        .map_err(|e| {
            let msg = e.body_text();
            let field = backticked(&msg).unwrap_or_else(|| "query".into());
            ApiError::invalid(&field, msg)
        })
}

/// Path parameters with problem+json rejections (400 for a NUL in one).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(axum::extract::Path(params)) =
            axum::extract::Path::<Vec<(String, String)>>::from_request_parts(parts, state).await
        {
            for (name, value) in &params {
                check_text(name, value)?;
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", e.body_text()))
    }
}
