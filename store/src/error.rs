use chrono::{DateTime, Utc};
use numbering_shared::{ActorKind, Transition, lifecycle::InvalidTransition, quota::QuotaExceeded};

/// Why a lifecycle operation did not happen. Every variant but `Database`
/// and `Corrupt` is the caller's business outcome and has a stable `code()`.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the identifier is held by someone else or changed concurrently")]
    Conflict,
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    #[error("a {actor} actor may not {transition}", actor = actor_label(*.actor), transition = .transition.as_str())]
    NotPermitted {
        transition: Transition,
        actor: ActorKind,
    },
    /// `until` is known to the tenant that last held the identifier only.
    #[error("the identifier is in quarantine{}", until.map(|u| format!(" until {}", u.to_rfc3339())).unwrap_or_default())]
    QuarantineActive { until: Option<DateTime<Utc>> },
    #[error(transparent)]
    QuotaExceeded(#[from] QuotaExceeded),
    #[error("{0}")]
    NotAllowed(String),
    #[error("the reservation expired at {0}")]
    ReservationExpired(DateTime<Utc>),
    #[error("{0}")]
    NotDue(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("stored row is not valid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

fn actor_label(a: ActorKind) -> &'static str {
    match a {
        ActorKind::Tenant => "tenant",
        ActorKind::System => "system",
        ActorKind::Admin => "admin",
    }
}

impl LifecycleError {
    /// The stable, machine-readable code the edges put in problem+json and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::InvalidTransition(_) => "INVALID_TRANSITION",
            Self::NotPermitted { .. } | Self::NotAllowed(_) => "NOT_ALLOWED",
            Self::QuarantineActive { .. } => "QUARANTINE_ACTIVE",
            Self::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            Self::ReservationExpired(_) => "RESERVATION_EXPIRED",
            Self::NotDue(_) => "NOT_DUE",
            Self::InvalidInput(_) => "VALIDATION_FAILED",
            Self::Corrupt(_) | Self::Database(_) => "INTERNAL",
        }
    }

    /// True for failures of the service rather than of the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Corrupt(_) | Self::Database(_))
    }
}

/// Constraints whose violation means "someone else got there first".
const CONFLICT_CONSTRAINTS: &[&str] = &[
    "reservations_one_live_per_number",
    "leases_one_active_per_number",
    "quarantine_one_open_per_number",
    "numbers_identity_unique",
];

impl From<sqlx::Error> for LifecycleError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            if let Some(c) = db.constraint() {
                if CONFLICT_CONSTRAINTS.contains(&c) {
                    return Self::Conflict;
                }
            }
            // serialization_failure, deadlock_detected: a concurrent writer won
            if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
                return Self::Conflict;
            }
        }
        Self::Database(e)
    }
}

/// True when `e` is a violation of the named constraint (or unique index).
pub fn is_constraint_violation(e: &sqlx::Error, constraint: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == constraint)
}
