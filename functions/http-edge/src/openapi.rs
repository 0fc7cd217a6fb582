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
    /// Problem statuses the operation can answer with besides 401/403/429/500.
    pub problems: &'static [u16],
}

impl Op {
    pub fn is_mutating(&self) -> bool {
        matches!(self.method, "post" | "put" | "patch" | "delete")
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
                "QUARANTINE_ACTIVE", "NOT_ALLOWED", "NOT_FOUND", "INVALID_IDENTIFIER", "IDEMPOTENCY_KEY_REUSED"] },
            "detail": { "type": "string" },
            "field": { "type": "string", "description": "the request field that is wrong" }
        }
    })
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
        if op.is_mutating() {
            params.push(json!({ "name": "Idempotency-Key", "in": "header", "required": true,
                "description": "unique per intended change; a retry with the same key replays the first response",
                "schema": { "type": "string", "minLength": 1, "maxLength": 255 } }));
        }
        let mut responses = Map::new();
        responses.insert(
            op.success.0.to_string(),
            json!({ "description": "success", "content": { "application/json": { "schema": (op.success.1)() } } }),
        );
        let mut problems: Vec<u16> = vec![400, 401, 403, 429, 500];
        if op.body.is_some() {
            problems.extend([413, 415, 422]);
        }
        if op.is_mutating() {
            problems.extend([409, 422]);
        }
        problems.extend(op.problems);
        problems.sort_unstable();
        problems.dedup();
        for s in problems {
            responses.insert(
                s.to_string(),
                json!({ "description": axum::http::StatusCode::from_u16(s).ok().and_then(|s| s.canonical_reason()).unwrap_or("error"),
                        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }),
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
            "schemas": { "Problem": problem_schema() }
        }
    })
}

/// `/openapi.json` and the offline docs page at `/docs`.
pub fn docs_router(title: &'static str, ops: Vec<Op>) -> Router {
    let doc = document(title, &ops);
    Router::new()
        .route("/openapi.json", get(move || async move { Json(doc) }))
        .merge(crate::docs::router())
}
