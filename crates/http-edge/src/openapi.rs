//! The OpenAPI 3.1 document, built from the operation tables the API crates
//! declare next to their routers (a test checks the two agree), and an
//! interactive docs page that works offline ([`crate::docs`]).

use axum::{Json, Router, routing::get};
use serde_json::{Map, Value, json};

/// One HTTP operation of an API.
#[derive(Debug, Clone)]
pub struct Op {
    /// Lower-case HTTP method.
    pub method: &'static str,
    /// The path as both axum and OpenAPI write it (`/x/{id}`).
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub params: Vec<Param>,
    /// JSON Schema of the request body.
    pub body: Option<fn() -> Value>,
    /// JSON Schema of the success response, and its status.
    pub success: (u16, fn() -> Value),
    /// Statuses the operation can answer besides the success and those
    /// that follow from its shape ([`Op::problem_statuses`]): a 4xx / 5xx
    /// is answered as problem+json; a 2xx (e.g. 200 for a replayed create)
    /// with the success schema.
    pub problems: &'static [u16],
}

impl Op {
    pub fn is_mutating(&self) -> bool {
        matches!(self.method, "post" | "put" | "patch" | "delete")
    }

    /// Every problem status the operation can answer: those of the edge
    /// that any route can meet, those its parameters and body can cause,
    /// and its own [`Op::problems`].
    pub fn problem_statuses(&self) -> Vec<u16> {
        // 400: malformed input or a NUL in any text; 414 / 431: over the
        // edge's request limits (see `limits`); 503: the database is
        // unavailable (DATABASE_UNAVAILABLE, retryable: a failover)
        let mut problems: Vec<u16> = vec![400, 401, 403, 414, 429, 431, 500, 503];
        if self.params.iter().any(|p| p.location == "path") {
            // a path parameter that names nothing
            problems.push(404);
        }
        if self.params.iter().any(|p| p.location == "query") {
            // a query parameter out of range or of the wrong type
            problems.push(422);
        }
        if self.body.is_some() {
            problems.extend([413, 415, 422]);
        }
        if self.is_mutating() {
            problems.extend([409, 422]);
        }
        problems.extend(self.problems.iter().filter(|s| **s >= 400));
        problems.sort_unstable();
        problems.dedup();
        problems
    }
}

/// A path or query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub location: &'static str,
    /// JSON Schema type: string, integer or boolean.
    pub ty: &'static str,
    pub required: bool,
    pub description: &'static str,
}

pub const fn path(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "path",
        ty: "string",
        required: true,
        description,
    }
}
pub const fn query(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param {
        name,
        location: "query",
        ty,
        required: false,
        description,
    }
}

pub fn any_object() -> Value {
    json!({ "type": "object" })
}
pub fn list_of(item: Value) -> Value {
    json!({ "type": "object", "required": ["items"], "properties": {
        "items": { "type": "array", "items": item },
        "next_cursor": { "type": ["string", "null"] }
    }})
}

/// The answer of an admin action that waits for a second admin's
/// approval (202), and of the approval routes.
pub fn pending_approval_schema() -> Value {
    json!({
        "type": "object",
        "required": ["approval_id", "status", "action", "justification", "requested_by", "expires_at"],
        "properties": {
            "approval_id": { "type": "string", "format": "uuid" },
            "status": { "enum": ["PENDING", "APPLIED", "REJECTED", "WITHDRAWN", "EXPIRED"] },
            "action": { "type": "string", "examples": ["quarantine.override"] },
            "target_kind": { "type": "string" },
            "target_id": { "type": "string" },
            "tenant_id": { "type": ["string", "null"] },
            "payload": { "type": "object" },
            "justification": { "type": "string" },
            "requested_by": { "type": "string", "description": "the requesting admin's token sub" },
            "requested_at": { "type": "string", "format": "date-time" },
            "expires_at": { "type": "string", "format": "date-time" },
            "decided_by": { "type": ["string", "null"] },
            "decided_at": { "type": ["string", "null"], "format": "date-time" },
            "decision_reason": { "type": ["string", "null"] }
        }
    })
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details with a stable machine-readable code",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "code": { "type": "string", "examples": ["QUOTA_EXCEEDED", "CONFLICT", "INVALID_TRANSITION",
                "QUARANTINE_ACTIVE", "NOT_ALLOWED", "NOT_FOUND", "INVALID_IDENTIFIER", "IDEMPOTENCY_KEY_REUSED",
                "VALIDATION_FAILED", "INVALID_TEXT", "INVALID_CURSOR", "METHOD_NOT_ALLOWED", "URI_TOO_LONG",
                "HEADERS_TOO_LARGE", "DATABASE_UNAVAILABLE", "SAME_APPROVER", "APPROVAL_EXPIRED",
                "APPROVAL_STALE"] },
            "detail": { "type": "string" },
            "field": { "type": "string", "description": "the request field that is wrong" }
        }
    })
}

/// `X-Request-Id`: the caller's id for the request, recorded with what the
/// request changes.
fn request_id_parameter() -> Value {
    json!({
        "name": "X-Request-Id", "in": "header", "required": false,
        "description": "the caller's id for this request (1 to 128 visible ASCII characters), \
            recorded in the audit entry and the events of what the request changes and \
            answered back in the X-Request-Id response header; without one (or with one \
            that is not of that form) the service makes one (a UUIDv7)",
        "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7E]+$" }
    })
}

fn request_id_header_object() -> Value {
    json!({
        "description": "the request's id: the caller's X-Request-Id, or the one the service made",
        "schema": { "type": "string" }
    })
}

fn request_id_header() -> Value {
    json!({ "X-Request-Id": { "$ref": "#/components/headers/RequestId" } })
}

fn problem_response_name(status: u16) -> String {
    format!("Problem{status}")
}

/// One shared problem response per status the operations answer.
fn problem_responses(ops: &[Op]) -> Value {
    let mut statuses: Vec<u16> = ops.iter().flat_map(Op::problem_statuses).collect();
    statuses.sort_unstable();
    statuses.dedup();
    let mut out = Map::new();
    for s in statuses {
        let reason = axum::http::StatusCode::from_u16(s)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        let description = match s {
            400 => format!(
                "{reason}: malformed input, or the NUL character in any text (code INVALID_TEXT)"
            ),
            414 => format!(
                "{reason}: the request target is over {} bytes (code URI_TOO_LONG)",
                crate::limits::MAX_URI_BYTES
            ),
            431 => format!(
                "{reason}: over {} header fields or {} bytes of headers (code HEADERS_TOO_LARGE)",
                crate::limits::MAX_HEADER_FIELDS,
                crate::limits::MAX_HEADER_BYTES
            ),
            503 => format!(
                "{reason}: code DATABASE_UNAVAILABLE when the database is unreachable or not \
                 the primary (a failover): retryable after Retry-After seconds, with the same \
                 Idempotency-Key for a change (it then has exactly one effect); other codes \
                 name a dependency that is down"
            ),
            _ => reason.to_owned(),
        };
        let mut headers = request_id_header();
        if s == 503 {
            headers["Retry-After"] = json!({
                "description": "seconds to wait before retrying (with DATABASE_UNAVAILABLE)",
                "schema": { "type": "integer", "minimum": 0 }
            });
        }
        out.insert(
            problem_response_name(s),
            json!({ "description": description, "headers": headers,
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }),
        );
    }
    Value::Object(out)
}

/// The response of `op`'s other 2xx `status`: its success schema, but for
/// 202, a dangerous admin action waiting for a second admin.
fn other_success(op: &Op, status: u16) -> Value {
    let (description, schema) = match status {
        202 => (
            "accepted: a pending two-person approval",
            pending_approval_schema(),
        ),
        _ => ("success", (op.success.1)()),
    };
    json!({ "description": description, "headers": request_id_header(),
            "content": { "application/json": { "schema": schema } } })
}

/// The OpenAPI 3.1 document of `ops`.
pub fn document(title: &str, ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let mut params: Vec<Value> = op
            .params
            .iter()
            .map(|p| {
                json!({ "name": p.name, "in": p.location, "required": p.required,
                        "description": p.description, "schema": { "type": p.ty } })
            })
            .collect();
        params.push(json!({ "$ref": "#/components/parameters/RequestId" }));
        if op.is_mutating() {
            params.push(json!({ "name": "Idempotency-Key", "in": "header", "required": true,
                "description": "unique per intended change; a retry with the same key replays the first response",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255 } }));
        }
        let mut responses = Map::new();
        responses.insert(
            op.success.0.to_string(),
            json!({ "description": "success", "headers": request_id_header(),
                    "content": { "application/json": { "schema": (op.success.1)() } } }),
        );
        for s in op.problems.iter().filter(|s| **s < 400) {
            responses.insert(s.to_string(), other_success(op, *s));
        }
        for s in op.problem_statuses() {
            responses.insert(
                s.to_string(),
                json!({ "$ref": format!("#/components/responses/{}", problem_response_name(s)) }),
            );
        }
        let mut operation = json!({
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = op.body {
            // a body schema may name another media type (multipart uploads)
            let mut schema = body();
            let media = schema
                .as_object_mut()
                .and_then(|o| o.remove("x-media-type"))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "application/json".to_owned());
            let mut content = Map::new();
            content.insert(media, json!({ "schema": schema }));
            operation["requestBody"] = json!({ "required": true, "content": content });
        }
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": title, "version": env!("CARGO_PKG_VERSION"),
                  "description": "numbering-service REST APIs: tenant portal and platform admin" },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": { "Problem": problem_schema() },
            "parameters": { "RequestId": request_id_parameter() },
            "headers": { "RequestId": request_id_header_object() },
            "responses": problem_responses(ops)
        }
    })
}

/// `/openapi.json` and the offline docs page at `/docs`.
pub fn docs_router(title: &'static str, ops: Vec<Op>) -> Router {
    let doc = document(title, &ops);
    let router = Router::new()
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .merge(crate::docs::router());
    crate::api_router(router)
}
