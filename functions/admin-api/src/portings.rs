//! ATRA's signed portability files over REST: `POST
//! /v1/admin/numbering/porting-imports` (multipart `file` + `signature`,
//! docs/formats/atra-port-v1.md). All or nothing: a refused file or row
//! applies nothing and answers 422 with the line(s) and reason(s).
//!
//! Like the lease imports, a router of its own: the import size limit as
//! body limit, admin auth, the Idempotency-Key claimed first (the batch
//! commits in a transaction of its own).

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, Multipart, multipart::MultipartRejection},
    http::{HeaderMap, StatusCode},
    middleware::from_fn_with_state,
    response::{IntoResponse, Response},
    routing::post,
};
use numbering_http_edge::{ApiError, ApiState, Principal, auth, idempotency, openapi::Op};
use numbering_import::{
    FileError, ImportError, Limits, PortImportError, PortImporter, PortUpload,
    portability::refused_line,
};
use numbering_store::portings::{Ported, PortingsError};
use serde_json::{Value, json};

use crate::{
    Routes, ctx,
    imports::{form_error, not_multipart},
};

const BASE: &str = "/v1/admin/numbering/porting-imports";

/// Room in the upload body beyond the file: the signature and the form's framing.
const FORM_OVERHEAD: usize = 64 * 1024;

pub(crate) fn routes() -> Routes {
    vec![("post", BASE, post(upload))]
}

/// The portability upload route with its own body limit.
pub(crate) fn router(state: ApiState) -> Router<ApiState> {
    let limits = Limits::from_env().unwrap_or_default();
    let body_limit = limits.max_bytes.saturating_add(FORM_OVERHEAD);
    let mut state = state;
    state.edge.body_limit = body_limit;
    let importer = PortImporter::new(state.store.clone(), limits);
    numbering_http_edge::router_of(routes())
        .route_layer(Extension(importer))
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
                      "description": "the atra-port-v1 CSV exactly as signed: msisdn,mcc,mnc,ported_at" },
            "signature": { "type": "string", "contentMediaType": "application/json",
                           "description": "the detached .sig by an ATRA key: {\"key_id\", \"algorithm\", \"signature\"}" }
        }
    })
}

fn batch_schema() -> Value {
    json!({ "type": "object", "required": ["id", "source", "source_ref", "total_rows", "already_imported"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "source": { "const": "file" },
            "source_ref": { "type": "string", "description": "the file's SHA-256" },
            "file_name": { "type": ["string", "null"] },
            "key_id": { "type": "string" },
            "total_rows": { "type": "integer", "description": "rows applied: every row of the file" },
            "already_imported": { "type": "boolean" }
        } })
}

pub(crate) fn operations() -> Vec<Op> {
    vec![Op {
        method: "post",
        path: BASE,
        operation_id: "uploadPortingImport",
        summary: "Apply a signed ATRA portability file (atra-port-v1): Lookup then names each listed MSISDN's recipient as its serving operator (201; 200: this file was applied before; 422: refused — code, and `line` or `errors` [{line, reason, raw}] — nothing applied)",
        tag: "admin",
        params: vec![],
        body: Some(upload_schema),
        success: (201, batch_schema),
        problems: &[200, 413, 415, 422],
    }]
}

/// A refusal as problem+json: the line of a file-level problem, every
/// refused row of a rejected batch.
fn problem(e: PortImportError) -> ApiError {
    let status = match &e {
        PortImportError::Check(ImportError::File(FileError::TooLarge { .. })) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        PortImportError::Store(PortingsError::Conflict) => StatusCode::CONFLICT,
        PortImportError::Store(PortingsError::Database(db)) => {
            return ApiError::database(numbering_store::is_unavailable(db), &e);
        }
        _ if e.is_internal() => return ApiError::internal(&e),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut err = ApiError::new(status, e.code(), e.to_string());
    if let Some(line) = refused_line(&e) {
        err = err.with(json!({ "line": line }));
    }
    if let PortImportError::Rejected { rows, .. } = &e {
        let errors: Vec<Value> = rows
            .iter()
            .take(1000)
            .map(|r| json!({ "line": r.line, "reason": r.reason, "raw": r.raw }))
            .collect();
        err = err.with(json!({ "errors": errors }));
    }
    err
}

async fn upload(
    Extension(importer): Extension<PortImporter>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = form.map_err(not_multipart)?;
    let (mut file, mut signature, mut file_name) = (None, None, None);
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("file") => {
                file_name = field.file_name().map(str::to_owned);
                file = Some(field.bytes().await.map_err(form_error)?);
            }
            Some("signature") => signature = Some(field.bytes().await.map_err(form_error)?),
            other => {
                return Err(ApiError::invalid(
                    other.unwrap_or("(unnamed)"),
                    "the form has only the parts file and signature",
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::invalid("file", "the part file is missing"))?;
    let signature =
        signature.ok_or_else(|| ApiError::invalid("signature", "the part signature is missing"))?;
    let upload = PortUpload {
        file: file.to_vec(),
        signature: signature.to_vec(),
        file_name,
    };
    let ported = importer
        .import(&ctx(&p, &headers), upload)
        .await
        .map_err(problem)?;
    let created = matches!(ported, Ported::Created(_));
    let mut body = ported.batch().json.clone();
    body["already_imported"] = json!(!created);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(body)).into_response())
}
