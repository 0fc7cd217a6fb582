//! The imports family of store errors: what can go wrong recording a batch
//! or reading the batches back. A refused file or row is not an error here:
//! it is recorded (see [`super`]); the file-level refusals are the import
//! crate's.

use uuid::Uuid;

/// Why an import operation of the store did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportsError {
    /// A concurrent writer put one of the file's identifiers into inventory
    /// first (or won a serialisation race); nothing of the batch was kept.
    #[error("the identifier is held by someone else or changed concurrently")]
    Conflict,
    /// The good rows inserted are not the rows the batch counted.
    #[error("import {import_id}: {inserted} rows inserted, {expected} expected")]
    RowsMiscounted {
        import_id: Uuid,
        inserted: u64,
        expected: u32,
    },
    /// The batch just recorded could not be read back in its transaction.
    #[error("import {0} vanished")]
    BatchVanished(Uuid),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl ImportsError {
    /// The stable code the edges report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict => "CONFLICT",
            Self::RowsMiscounted { .. } | Self::BatchVanished(_) | Self::Database(_) => "INTERNAL",
        }
    }

    /// True for failures of the service rather than of the request.
    pub fn is_internal(&self) -> bool {
        !matches!(self, Self::Conflict)
    }
}

impl From<sqlx::Error> for ImportsError {
    fn from(e: sqlx::Error) -> Self {
        let db = e.as_database_error();
        // the one uniqueness an import can run into: an identity already in inventory
        let taken = db.and_then(|d| d.constraint()) == Some("numbers_identity_unique");
        // serialization_failure, deadlock_detected: a concurrent writer won
        let lost_race = matches!(
            db.and_then(|d| d.code()).as_deref(),
            Some("40001" | "40P01")
        );
        if taken || lost_race {
            Self::Conflict
        } else {
            Self::Database(e)
        }
    }
}
