//! Signed lease imports over REST: upload (multipart `file` + `signature`,
//! optional `partial`), the list of batches, one batch, its refused rows.
//!
//! The upload route has a body limit of its own — the import size limit
//! (`NUMBERING_IMPORT_MAX_BYTES`) plus room for the signature — instead of
//! the small JSON limit of every other route, so these routes are a router
//! of their own with the same layers (admin auth, Idempotency-Key).

use std::sync::Arc;

use axum::{
    Extension, Router,
    extract::{
        DefaultBodyLimit, Multipart, State,
        multipart::{MultipartError, MultipartRejection},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use numbering_http_edge::{
    ApiError, ApiState, Principal, auth, cursor,
    extract::{ApiPath, ApiQuery, check_text},
    idempotency,
    openapi::{Op, any_object, list_of, path, query},
};
use numbering_import::{FileError, ImportError, Importer, Limits, Quiet, Upload};
use numbering_store::imports::{ImportBatch, ImportQuery, Imported};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Routes, ctx, limit};

const BASE: &str = "/v1/admin/numbering/imports";

/// Room in the upload body beyond the file: the signature and the form's framing.
const FORM_OVERHEAD: usize = 64 * 1024;

pub(crate) fn routes() -> Routes {
    vec![
        ("post", BASE, post(upload)),
        ("get", BASE, get(list)),
        ("get", "/v1/admin/numbering/imports/{id}", get(batch)),
        (
            "get",
            "/v1/admin/numbering/imports/{id}/errors",
            get(errors),
        ),
    ]
}

/// The import routes with their own body limit.
pub(crate) fn router(state: ApiState) -> Router<ApiState> {
    let limits = match Limits::from_env() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "ignoring NUMBERING_IMPORT_MAX_BYTES");
            Limits::default()
        }
    };
    let body_limit = limits.max_bytes.saturating_add(FORM_OVERHEAD);
    let mut state = state;
    state.edge.body_limit = body_limit;
    let importer = Importer::new(state.store.clone(), limits);
    numbering_http_edge::router_of(routes())
        .route_layer(Extension(importer))
        // an import commits its batch, rows and errors in transactions of
        // its own: its key is claimed first (see `idempotency`)
        .route_layer(from_fn_with_state(state.clone(), idempotency::claim_layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin))
        .route_layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

fn upload_schema() -> Value {
    json!({
        "x-media-type": "multipart/form-data",
        "type": "object",
        "required": ["file", "signature"],
        "properties": {
            "file": { "type": "string", "contentMediaType": "text/csv",
                      "description": "the CSV exactly as signed: msisdn,mcc,mnc,contract_ref,vanity or short_code,contract_ref" },
            "signature": { "type": "string", "contentMediaType": "application/json",
                           "description": "the detached .sig: {\"key_id\", \"algorithm\", \"signature\"}" },
            "partial": { "type": "string", "enum": ["true", "false"],
                         "description": "apply the good rows and record the rest (default: all-or-nothing)" }
        }
    })
}

fn batch_schema() -> Value {
    json!({ "type": "object", "required": ["id", "file_sha256", "status", "total_rows", "applied_rows", "rejected_rows"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "file_sha256": { "type": "string" },
            "status": { "enum": ["APPLIED", "PARTIAL", "REJECTED"] },
            "total_rows": { "type": "integer" }, "applied_rows": { "type": "integer" },
            "rejected_rows": { "type": "integer" }
        } })
}

pub(crate) fn operations() -> Vec<Op> {
    const T: &str = "admin";
    vec![
        Op {
            method: "post",
            path: BASE,
            operation_id: "uploadImport",
            summary: "Import a signed MNO / ATRA file (201: applied or partial; 200: this file was imported before; 422 IMPORT_REJECTED: refused rows, listed under /errors)",
            tag: T,
            params: vec![],
            body: Some(upload_schema),
            success: (201, batch_schema),
            problems: &[200, 413, 415, 422],
        },
        Op {
            method: "get",
            path: BASE,
            operation_id: "listImports",
            summary: "Import batches, newest first",
            tag: T,
            params: vec![
                query("limit", "integer", "1 to 500 (default 100)"),
                query("cursor", "string", "next_cursor of the previous page"),
            ],
            body: None,
            success: (200, || list_of(batch_schema())),
            problems: &[],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/imports/{id}",
            operation_id: "getImport",
            summary: "One import batch: status and counts",
            tag: T,
            params: vec![path("id", "import id")],
            body: None,
            success: (200, batch_schema),
            problems: &[404],
        },
        Op {
            method: "get",
            path: "/v1/admin/numbering/imports/{id}/errors",
            operation_id: "listImportErrors",
            summary: "The refused rows of a batch: line, reason and the raw record, in line order",
            tag: T,
            params: vec![
                path("id", "import id"),
                query("limit", "integer", "1 to 500 (default 100)"),
                query("cursor", "string", "next_cursor of the previous page"),
            ],
            body: None,
            success: (200, || list_of(any_object())),
            problems: &[404],
        },
    ]
}

/// An import refusal as problem+json.
fn problem(e: ImportError) -> ApiError {
    let status = match &e {
        ImportError::File(FileError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        ImportError::Store(_) | ImportError::BadInstalledKey(..) | ImportError::Worker(_) => {
            return match e {
                ImportError::Store(s) => s.into(),
                other => ApiError::internal(&other),
            };
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut err = ApiError::new(status, e.code(), e.to_string());
    if let ImportError::File(f) = &e {
        if let Some(line) = f.line() {
            err = err.with(json!({ "line": line }));
        }
    }
    err
}

/// A body that is not a multipart form (the portability upload's too).
pub(crate) fn not_multipart(_: MultipartRejection) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "the request body must be multipart/form-data with the parts file and signature",
    )
}

/// A malformed or oversized multipart form (the portability upload's too).
pub(crate) fn form_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FILE_TOO_LARGE",
            "the upload is over the import size limit",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_REQUEST",
            format!("the multipart form: {}", e.body_text()),
        )
    }
}

async fn upload(
    Extension(importer): Extension<Importer>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = form.map_err(not_multipart)?;
    let (mut file, mut signature, mut file_name, mut partial) = (None, None, None, false);
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("file") => {
                file_name = field.file_name().map(str::to_owned);
                file = Some(field.bytes().await.map_err(form_error)?);
            }
            Some("signature") => signature = Some(field.bytes().await.map_err(form_error)?),
            Some("partial") => {
                let text = field.text().await.map_err(form_error)?;
                check_text("partial", &text)?;
                partial = match text.trim() {
                    "true" => true,
                    "false" | "" => false,
                    _ => {
                        return Err(ApiError::invalid(
                            "partial",
                            "partial must be true or false",
                        ));
                    }
                }
            }
            other => {
                return Err(ApiError::invalid(
                    other.unwrap_or("(unnamed)"),
                    "the form has only the parts file, signature and partial",
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid("file", "the part file is missing"))?;
    let signature =
        signature.ok_or_else(|| ApiError::invalid("signature", "the part signature is missing"))?;
    let upload = Upload {
        file: file.to_vec(),
        signature: signature.to_vec(),
        file_name,
        partial,
    };
    let imported = importer
        .import(&ctx(&p, &headers), upload, Arc::new(Quiet))
        .await
        .map_err(problem)?;
    let created = matches!(imported, Imported::Created(_));
    let b = imported.batch();
    if b.status == "REJECTED" {
        return Err(rejected(b));
    }
    let mut body = b.json.clone();
    body["already_imported"] = json!(!created);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{BASE}/{}", b.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// A recorded batch whose rows were refused (all-or-nothing): nothing applied.
fn rejected(b: &ImportBatch) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IMPORT_REJECTED",
        format!(
            "{} of {} rows were refused, so nothing was applied; the refused lines are at {BASE}/{}/errors",
            b.rejected_rows, b.total_rows, b.id
        ),
    )
    .with(json!({ "import": b.json, "errors_url": format!("{BASE}/{}/errors", b.id) }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(
    State(s): State<ApiState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let n = limit(q.limit, 100)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| uuid::Uuid::parse_str(c).map_err(|_| cursor::refused()))
        .transpose()?;
    let v = s
        .store
        .import_batches(&ImportQuery { before, limit: n })
        .await?;
    let next = (v.len() as i64 == n)
        .then(|| v.last().and_then(|b| b.get("id")).cloned())
        .flatten();
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "items": v, "next_cursor": next })),
    )
        .into_response())
}

fn import_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::not_found("import"))
}

async fn batch(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let b = s
        .store
        .import_batch(import_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("import"))?;
    Ok((StatusCode::OK, axum::Json(b.json)).into_response())
}

async fn errors(
    State(s): State<ApiState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let id = import_id(&id)?;
    let n = limit(q.limit, 100)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i32>()
                .ok()
                .filter(|l| *l >= 0)
                .ok_or_else(cursor::refused)
        })
        .transpose()?
        .unwrap_or(0);
    if s.store.import_batch(id).await?.is_none() {
        return Err(ApiError::not_found("import"));
    }
    let v = s.store.import_errors(id, after, n).await?;
    let next = (v.len() as i64 == n)
        .then(|| {
            v.last()
                .and_then(|e| e.get("line"))
                .map(|l| json!(l.to_string()))
        })
        .flatten();
    Ok((
        StatusCode::OK,
        axum::Json(json!({ "items": v, "next_cursor": next })),
    )
        .into_response())
}
