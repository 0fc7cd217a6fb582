//! RFC 9457 problem details with a stable machine-readable `code`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use numbering_store::{LifecycleError, admin::AdminError, imports::ImportsError};
use serde_json::{Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The code of a retryable 503: the database is unreachable or in failover.
pub const DATABASE_UNAVAILABLE: &str = "DATABASE_UNAVAILABLE";

/// Seconds a client waits before retrying a [`DATABASE_UNAVAILABLE`] answer.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// An error answered as `application/problem+json`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// The request field that is wrong, for validation errors.
    pub field: Option<String>,
    /// Extra members (e.g. `quarantine_ends_at`).
    pub extra: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            extra: None,
        }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// 422 VALIDATION_FAILED naming `field`.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
            detail,
        )
        .field(field)
    }
    /// 400 INVALID_IDENTIFIER naming `field`.
    pub fn invalid_identifier(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_IDENTIFIER", detail).field(field)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", detail)
    }
    /// 500 with nothing of the cause in it (the cause is logged once, here).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed inside the service");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the service could not complete the request",
        )
    }

    /// 503 `DATABASE_UNAVAILABLE` (with `Retry-After`): the database is
    /// unreachable or not the primary (a failover); nothing of the request
    /// was committed unless its Idempotency-Key's answer was, so a retry
    /// with the same key has exactly one effect. Logged once, here.
    pub fn database_unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        metrics::counter!("numbering_database_unavailable_total").increment(1);
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            DATABASE_UNAVAILABLE,
            "the database is unavailable (a failover may be in progress); retry with the same Idempotency-Key",
        )
    }

    /// [`Self::database_unavailable`] for an outage
    /// ([`numbering_store::is_unavailable`]), else [`Self::internal`].
    pub fn database(unavailable: bool, cause: &dyn std::fmt::Display) -> Self {
        if unavailable {
            Self::database_unavailable(cause)
        } else {
            Self::internal(cause)
        }
    }

    pub fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "type": "about:blank",
            "title": self.title(),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some(f) = &self.field {
            v["field"] = json!(f);
            v["errors"] = json!([{ "field": f, "detail": self.detail }]);
        }
        if let (Some(Value::Object(extra)), Some(obj)) = (&self.extra, v.as_object_mut()) {
            for (k, val) in extra {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.code == DATABASE_UNAVAILABLE {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        r.extensions_mut().insert(ProblemCode(self.code));
        r
    }
}

/// The `code` of a problem+json response, as a response extension: what
/// middleware (the reserve counters) reads without parsing the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        let code = e.code();
        let status = match &e {
            LifecycleError::NotFound(_) => StatusCode::NOT_FOUND,
            LifecycleError::Conflict
            | LifecycleError::InvalidTransition(_)
            | LifecycleError::QuarantineActive { .. }
            | LifecycleError::QuotaExceeded(_)
            | LifecycleError::ReservationExpired(_)
            | LifecycleError::NotDue(_) => StatusCode::CONFLICT,
            LifecycleError::NotPermitted { .. } | LifecycleError::NotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            LifecycleError::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            LifecycleError::Database(db) => {
                return Self::database(numbering_store::is_unavailable(db), &e);
            }
            LifecycleError::Corrupt(_) => return Self::internal(&e),
        };
        match code {
            "CONFLICT" => metrics::counter!("numbering_conflicts_total").increment(1),
            "QUOTA_EXCEEDED" => metrics::counter!("numbering_quota_exceeded_total").increment(1),
            _ => {}
        }
        let mut err = Self::new(status, code, e.to_string());
        if let LifecycleError::QuarantineActive { until: Some(u) } = &e {
            err = err.with(json!({ "quarantine_ends_at": u }));
        }
        if let LifecycleError::QuotaExceeded(q) = &e {
            err = err.with(json!({
                "scope": q.scope.as_str(),
                "kind": q.kind.as_str(),
                "limit": q.limit,
                "used": q.used,
            }));
        }
        err
    }
}

impl From<ImportsError> for ApiError {
    fn from(e: ImportsError) -> Self {
        match e {
            ImportsError::Conflict => {
                metrics::counter!("numbering_conflicts_total").increment(1);
                Self::new(StatusCode::CONFLICT, e.code(), e.to_string())
            }
            ImportsError::Database(ref db) => {
                Self::database(numbering_store::is_unavailable(db), &e)
            }
            ImportsError::RowsMiscounted { .. } | ImportsError::BatchVanished(_) => {
                Self::internal(&e)
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match &e {
            AdminError::Conflict => {
                metrics::counter!("numbering_conflicts_total").increment(1);
                StatusCode::CONFLICT
            }
            AdminError::UnknownReference { .. }
            | AdminError::ConstraintViolated { .. }
            | AdminError::MalformedValue => StatusCode::UNPROCESSABLE_ENTITY,
            AdminError::SigningKeyNotFound => StatusCode::NOT_FOUND,
            AdminError::Database(db) => {
                return Self::database(numbering_store::is_unavailable(db), &e);
            }
        };
        Self::new(status, e.code(), e.to_string())
    }
}

/// The JSON body of a problem response, for tests and clients.
pub fn is_problem(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| c.starts_with(PROBLEM_JSON))
}
