use chrono::{DateTime, Utc};
use numbering_shared::{
    ActorKind, Transition, admission::Refusal, lifecycle::InvalidTransition, quota::QuotaExceeded,
};

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
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error("the reservation expired at {0}")]
    ReservationExpired(DateTime<Utc>),
    #[error(transparent)]
    NotDue(#[from] NotDue),
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    #[error("stored row is not valid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// What the caller's pool or lease does not allow (`NOT_ALLOWED`, 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    #[error("the tenant has no numbering pool")]
    NoPool,
    /// The pool does not admit the identifier (or anything, when suspended).
    #[error(transparent)]
    Pool(#[from] Refusal),
    #[error("the lease has ended; auto-renew cannot change")]
    LeaseEnded,
    /// A reservation for an account the tenant's pool does not have.
    #[error("the pool has no account {0}")]
    UnknownAccount(numbering_shared::AccountId),
}

/// A time-driven transition asked for before its time (`NOT_DUE`, 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotDue {
    /// A lease expiry before the term end.
    #[error("the lease term ends at {0}")]
    LeaseTerm(DateTime<Utc>),
    /// A reservation expiry before its TTL.
    #[error("the reservation lasts until {}", rfc3339(*.0))]
    Reservation(Option<DateTime<Utc>>),
    /// The end of a quarantine before its cool-off.
    #[error("the cool-off lasts until {}", rfc3339(*.0))]
    CoolOff(Option<DateTime<Utc>>),
}

/// Input the operation cannot take (`VALIDATION_FAILED`, 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A legacy lease term must end after its start and in the future.
    #[error(
        "the lease term ({started_at} to {term_end}) must end after its start and in the future"
    )]
    LegacyTerm {
        started_at: DateTime<Utc>,
        term_end: DateTime<Utc>,
    },
    /// An early end of a quarantine needs a written reason.
    #[error("a quarantine override needs a written justification of at least 20 characters")]
    ShortJustification,
    /// An admin write refers to a row that does not exist (foreign key).
    #[error("refers to something unknown ({constraint})")]
    UnknownReference { constraint: String },
    /// An admin write breaks a check or not-null constraint.
    #[error("violates {constraint}")]
    Violates { constraint: String },
    /// An admin write has a value Postgres cannot take in its column.
    #[error("a value has the wrong format")]
    WrongFormat,
}

fn rfc3339(at: Option<DateTime<Utc>>) -> String {
    at.map(|u| u.to_rfc3339()).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use numbering_shared::IdentifierKind;

    /// The edges answer with `to_string()` and `code()`: the typed payloads
    /// keep the messages and codes the string payloads had.
    #[test]
    fn typed_payloads_keep_their_messages_and_codes() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let cases: Vec<(LifecycleError, String, &str)> = vec![
            (
                NotAllowed::NoPool.into(),
                "the tenant has no numbering pool".into(),
                "NOT_ALLOWED",
            ),
            (
                NotAllowed::Pool(Refusal::PoolSuspended).into(),
                "the tenant's numbering pool is suspended".into(),
                "NOT_ALLOWED",
            ),
            (
                NotAllowed::Pool(Refusal::Kind(IdentifierKind::ShortCode)).into(),
                "the pool does not allow SHORT_CODE identifiers".into(),
                "NOT_ALLOWED",
            ),
            (
                NotAllowed::LeaseEnded.into(),
                "the lease has ended; auto-renew cannot change".into(),
                "NOT_ALLOWED",
            ),
            (
                NotDue::LeaseTerm(at).into(),
                format!("the lease term ends at {at}"),
                "NOT_DUE",
            ),
            (
                NotDue::Reservation(Some(at)).into(),
                format!("the reservation lasts until {}", at.to_rfc3339()),
                "NOT_DUE",
            ),
            (
                NotDue::CoolOff(None).into(),
                "the cool-off lasts until ".into(),
                "NOT_DUE",
            ),
            (
                InvalidInput::LegacyTerm {
                    started_at: at,
                    term_end: at,
                }
                .into(),
                format!("the lease term ({at} to {at}) must end after its start and in the future"),
                "VALIDATION_FAILED",
            ),
            (
                InvalidInput::ShortJustification.into(),
                "a quarantine override needs a written justification of at least 20 characters"
                    .into(),
                "VALIDATION_FAILED",
            ),
            (
                InvalidInput::Violates {
                    constraint: "c".into(),
                }
                .into(),
                "violates c".into(),
                "VALIDATION_FAILED",
            ),
        ];
        for (error, message, code) in cases {
            assert_eq!((error.to_string(), error.code()), (message, code));
        }
    }
}
