//! Platform-admin reference data and cross-tenant reads: operators, lease
//! contracts, MNO signing keys ([`reference`]), tenant pools ([`pools`]),
//! inventory search, quarantine and the audit trail ([`reads`]), a
//! contract's utilisation ([`utilisation`]).
//!
//! These are administrative listings, not lifecycle transitions. Each
//! returns typed rows (domain types where the rest of the store has them:
//! [`Identifier`](numbering_shared::Identifier),
//! [`TenantId`](numbering_shared::TenantId), …); the admin API turns them
//! into its JSON. Every write runs in the platform scope and appends an
//! audit entry in the same transaction, whose `before` / `after` are the
//! rows' [`snapshot`] JSON. Failures are an [`AdminError`].

pub mod pools;
pub mod reads;
pub mod reference;
pub mod snapshot;
pub mod utilisation;

use std::str::FromStr;

use numbering_shared::{Identifier, IdentifierKind};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, Row, postgres::PgRow};

pub use pools::{PoolInput, TenantPool};
pub use reads::{AuditEntry, AuditQuery, InventoryEntry, NumberSearch, QuarantineEntry};
pub use reference::{
    Contract, ContractInput, Operator, OperatorInput, SigningKey, SigningKeyInput, Term,
};
pub use snapshot::{date_text, timestamp_text};
pub use utilisation::{BlockUsage, StateCounts, Utilisation};

use crate::{
    Store,
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

type Result<T, E = AdminError> = std::result::Result<T, E>;

/// Why an admin operation did not happen. Every variant but `Database` is
/// the caller's business and has a stable `code()`.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A unique key (operator id, contract reference, key id) is taken, or
    /// a concurrent writer won (serialization failure, deadlock). The
    /// wording is the lifecycle's `Conflict`, which these answered with
    /// before admin errors had their own type.
    #[error("the identifier is held by someone else or changed concurrently")]
    Conflict,
    /// A reference (e.g. `operator_id`) names nothing: the foreign key.
    #[error("refers to something unknown ({constraint})")]
    UnknownReference { constraint: String },
    /// A check (or not-null) constraint refused a value.
    #[error("violates {constraint}")]
    ConstraintViolated { constraint: String },
    /// Postgres could not take a value as its column's type.
    #[error("a value has the wrong format")]
    MalformedValue,
    #[error("signing key not found")]
    SigningKeyNotFound,
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl AdminError {
    /// The stable, machine-readable code the edges put in problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict => "CONFLICT",
            Self::UnknownReference { .. }
            | Self::ConstraintViolated { .. }
            | Self::MalformedValue => "VALIDATION_FAILED",
            Self::SigningKeyNotFound => "NOT_FOUND",
            Self::Database(_) => "INTERNAL",
        }
    }

    /// True for failures of the service rather than of the request.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_))
    }

    /// A write refused by the database for the caller's input, or else
    /// the failure `From<sqlx::Error>` says.
    fn refused(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            let constraint = || db.constraint().unwrap_or("a constraint").to_owned();
            match db.code().as_deref() {
                Some("23505") => return Self::Conflict,
                Some("23503") => {
                    return Self::UnknownReference {
                        constraint: constraint(),
                    };
                }
                Some("23514" | "23502") => {
                    return Self::ConstraintViolated {
                        constraint: constraint(),
                    };
                }
                Some("22P02" | "22007" | "22008" | "22001" | "22003") => {
                    return Self::MalformedValue;
                }
                _ => {}
            }
        }
        e.into()
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        // serialization_failure, deadlock_detected: a concurrent writer won
        let concurrent = e
            .as_database_error()
            .is_some_and(|db| matches!(db.code().as_deref(), Some("40001" | "40P01")));
        if concurrent {
            Self::Conflict
        } else {
            Self::Database(e)
        }
    }
}

/// One audited admin write: what it is called in the trail and what it
/// changed.
struct Audited<'a, T> {
    action: &'static str,
    subject: &'a str,
    tenant_id: Option<&'a str>,
    before: Option<&'a T>,
    after: &'a T,
}

impl Store {
    /// Every row `sql` selects, read in the platform scope.
    async fn read_all<T>(&self, sql: &'static str) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows = sqlx::query_as(sql).fetch_all(&mut *tx).await?;
        // committed either way: inside a request's transaction, a read
        // dropped uncommitted would mark the request's work as failed
        tx.commit().await?;
        Ok(rows)
    }

    /// The row `sql` selects by its one key, if any, in the platform scope.
    async fn read_one<T>(&self, sql: &'static str, key: &str) -> Result<Option<T>>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let row = sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// The row `sql` selects (and locks, if it says so) by its one key.
async fn locked<T>(conn: &mut PgConnection, sql: &'static str, key: &str) -> Result<Option<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    Ok(sqlx::query_as(sql).bind(key).fetch_optional(conn).await?)
}

/// Appends the audit entry of `w` and commits the write.
async fn commit_audited<T: snapshot::Snapshot>(
    mut tx: scope::Tx,
    ctx: &Ctx,
    w: Audited<'_, T>,
) -> Result<()> {
    let before: Option<Value> = w.before.map(T::snapshot);
    record_admin_action(
        &mut tx,
        ctx,
        w.action,
        w.subject,
        w.tenant_id,
        before.as_ref(),
        Some(&w.after.snapshot()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `text`, the value of `column`, parsed as `T`, or a decode error naming
/// the column.
fn decode<T: FromStr>(column: &str, text: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: e.to_string().into(),
    })
}

/// A text column parsed as `T` (a domain type).
fn parsed<T: FromStr>(row: &PgRow, column: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::fmt::Display,
{
    decode(column, &row.try_get::<String, _>(column)?)
}

/// The identifier of a row's `identifier` and `kind` columns.
fn identifier(row: &PgRow) -> Result<Identifier, sqlx::Error> {
    let kind: IdentifierKind = parsed(row, "kind")?;
    Identifier::parse_as(kind, &row.try_get::<String, _>("identifier")?).map_err(|e| {
        sqlx::Error::ColumnDecode {
            index: "identifier".into(),
            source: e.to_string().into(),
        }
    })
}

/// The platform-scope transaction every admin write runs in.
async fn platform(store: &Store) -> Result<scope::Tx> {
    Ok(scope::begin(store, Scope::Platform).await?)
}
