//! Signed lease imports: the bulk ingest of a verified, parsed file into
//! inventory, and the batch records the admin API lists.
//!
//! One import is one transaction: serialise imports (advisory lock), return
//! the earlier batch if this file (by SHA-256) was seen, `COPY` the rows into
//! a temporary staging table, find the rows the database refuses (unknown
//! or inactive contract, outside its range, already in inventory) in one
//! set-based query, then record the batch, its row errors, the good rows
//! (one `INSERT … SELECT` into `numbers`, unless the batch is all-or-nothing
//! and something was refused), one audit entry and one outbox event
//! (`numbering.import.completed.v1` on `NUMBERING_OPS`).

use std::ops::Range;

use numbering_shared::IdentifierKind;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    Store,
    record::{Ctx, record_admin_action},
    scope::{self, Scope, Tx},
};

mod error;
mod staging;

pub use error::ImportsError;

type Result<T, E = ImportsError> = std::result::Result<T, E>;

/// Serialises imports, so two files naming the same identifier (or the
/// same file uploaded twice at once) cannot race between check and insert.
const IMPORT_LOCK: i64 = 0x6e75_6d5f_696d_7074; // "num_impt"

/// A batch as JSON (of `lease_imports i`), spliced into fixed statements
/// at compile time (`concat!`).
macro_rules! import_json {
    () => {
        "json_build_object('id', i.id, 'file_sha256', i.file_sha256, 'file_name', i.file_name, \
         'key_id', i.key_id, 'operator_id', i.operator_id, 'kind', i.kind, 'partial', i.partial, 'status', i.status, \
         'total_rows', i.total_rows, 'applied_rows', i.applied_rows, 'rejected_rows', i.rejected_rows, \
         'failure', i.failure, 'created_by', i.created_by, 'created_at', i.created_at, 'completed_at', i.completed_at)"
    };
}

/// Batches, newest first, before `$1` (none: from the newest), at most `$2`.
const BATCHES: &str = concat!(
    "SELECT ",
    import_json!(),
    " FROM numbering.lease_imports i \
     WHERE $1::uuid IS NULL OR (i.created_at, i.id) < \
           (SELECT b.created_at, b.id FROM numbering.lease_imports b WHERE b.id = $1) \
     ORDER BY i.created_at DESC, i.id DESC LIMIT $2"
);

/// One batch with its JSON, by a condition on `lease_imports i`.
macro_rules! batch_where {
    ($condition:literal) => {
        concat!(
            "SELECT i.id, i.status::text AS status, i.total_rows, i.applied_rows, i.rejected_rows, ",
            import_json!(),
            " AS json FROM numbering.lease_imports i WHERE ",
            $condition
        )
    };
}
const BATCH_BY_ID: &str = batch_where!("i.id = $1");
const BATCH_BY_SHA256: &str = batch_where!("i.file_sha256 = $1");

/// A signing key as an import needs it, with its standing at the database's
/// `now()`.
#[derive(Debug, Clone)]
pub struct ImportKey {
    pub key_id: String,
    /// `None`: an ATRA key (short-code files).
    pub operator_id: Option<String>,
    pub algorithm: String,
    pub public_key_pem: String,
    pub revoked: bool,
    pub not_yet_valid: bool,
    pub expired: bool,
    /// The signing operator's MCC and MNC codes (empty for ATRA).
    pub mcc: Option<String>,
    pub mnc_codes: Vec<String>,
}

/// One data row that passed the file-level checks (syntax, canonical
/// identifier, MCC/MNC, not a duplicate within the file).
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// 1-based line of the record's start in the file (the header is line 1).
    pub line: u32,
    /// Canonical identifier (also its identity key: MSISDN and short codes).
    pub identifier: String,
    pub mcc: Option<String>,
    pub mnc: Option<String>,
    pub contract_ref: String,
    pub vanity: bool,
    /// Byte range of the record in the file, for error listings.
    pub raw: Range<usize>,
}

/// A row refused before it reached the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    pub line: u32,
    pub reason: String,
    pub raw: String,
}

/// A verified, parsed file ready to ingest.
pub struct NewImport<'a> {
    pub file: &'a [u8],
    pub file_sha256: &'a str,
    pub file_name: Option<&'a str>,
    pub key_id: &'a str,
    pub operator_id: Option<&'a str>,
    pub kind: IdentifierKind,
    pub partial: bool,
    /// Data records in the file (good and refused).
    pub total_rows: u32,
    pub rows: &'a [ImportRow],
    pub rejected: Vec<RowRejection>,
}

/// The outcome of a batch, as recorded.
#[derive(Debug, Clone)]
pub struct ImportBatch {
    pub id: Uuid,
    /// APPLIED, PARTIAL or REJECTED.
    pub status: String,
    pub total_rows: i32,
    pub applied_rows: i32,
    pub rejected_rows: i32,
    /// The batch as the admin API serves it.
    pub json: Value,
}

/// Whether this call recorded the batch or found the same file's earlier one.
#[derive(Debug, Clone)]
pub enum Imported {
    Created(ImportBatch),
    Existing(ImportBatch),
}

impl Imported {
    pub fn batch(&self) -> &ImportBatch {
        match self {
            Self::Created(b) | Self::Existing(b) => b,
        }
    }
}

/// Listing of batches: newest first, older than `before` (an id) if given.
#[derive(Debug, Clone, Default)]
pub struct ImportQuery {
    pub before: Option<Uuid>,
    pub limit: i64,
}

impl Store {
    /// The signing key `key_id` with its operator's codes, or `None`.
    pub async fn import_key(&self, key_id: &str) -> Result<Option<ImportKey>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let row: Option<ImportKeyRow> = sqlx::query_as(
            "SELECT k.key_id, k.operator_id, k.algorithm::text AS algorithm, k.public_key_pem, \
                    k.revoked_at IS NOT NULL AS revoked, k.valid_from > now() AS not_yet_valid, \
                    coalesce(k.valid_until <= now(), false) AS expired, o.mcc, coalesce(o.mnc_codes, '{}') AS mnc_codes \
             FROM numbering.mno_signing_keys k LEFT JOIN numbering.mobile_operators o ON o.id = k.operator_id \
             WHERE k.key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|r| ImportKey {
            key_id: r.key_id,
            operator_id: r.operator_id,
            algorithm: r.algorithm,
            public_key_pem: r.public_key_pem,
            revoked: r.revoked,
            not_yet_valid: r.not_yet_valid,
            expired: r.expired,
            mcc: r.mcc,
            mnc_codes: r.mnc_codes,
        }))
    }

    /// The batch of the file with this SHA-256, if it was imported.
    pub async fn import_by_sha256(&self, sha256: &str) -> Result<Option<ImportBatch>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let b = batch_where(&mut tx, BatchKey::Sha256(sha256)).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// One batch by id.
    pub async fn import_batch(&self, id: Uuid) -> Result<Option<ImportBatch>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let b = batch_where(&mut tx, BatchKey::Id(id)).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Batches, newest first.
    pub async fn import_batches(&self, q: &ImportQuery) -> Result<Vec<Value>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let out = sqlx::query_scalar(BATCHES)
            .bind(q.before)
            .bind(q.limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A batch's refused rows in line order, after line `after_line`.
    pub async fn import_errors(&self, id: Uuid, after_line: i32, limit: i64) -> Result<Vec<Value>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let out = sqlx::query_scalar(
            "SELECT json_build_object('line', e.line, 'reason', e.reason, 'raw', e.raw) \
             FROM numbering.lease_import_errors e WHERE e.import_id = $1 AND e.line > $2 \
             ORDER BY e.line LIMIT $3",
        )
        .bind(id)
        .bind(after_line)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records, in the audit trail only, a file refused as a whole (bad
    /// signature, unknown or revoked key, malformed file). No batch is
    /// recorded, so the same bytes with a correct signature can still be
    /// imported later.
    pub async fn record_import_refused(
        &self,
        ctx: &Ctx,
        file_sha256: &str,
        details: &Value,
    ) -> Result<()> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        record_admin_action(
            &mut tx,
            ctx,
            "lease_import.refused",
            file_sha256,
            None,
            None,
            Some(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ingests a verified file as one batch (see the module docs). Returns
    /// the earlier batch, changing nothing, if the file was imported before.
    pub async fn ingest_import(&self, ctx: &Ctx, mut new: NewImport<'_>) -> Result<Imported> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        // a million rows take longer than an ordinary statement may
        sqlx::query("SET LOCAL statement_timeout = '600s'")
            .execute(&mut *tx)
            .await?;
        crate::lock::xact_lock(&mut tx, IMPORT_LOCK).await?;
        if let Some(b) = batch_where(&mut tx, BatchKey::Sha256(new.file_sha256)).await? {
            tx.commit().await?;
            return Ok(Imported::Existing(b));
        }
        staging::stage(&mut tx, &new).await?;
        let by_database = staging::refused_by_database(&mut tx, &new).await?;
        let from_file = std::mem::take(&mut new.rejected);
        let verdict = Verdict::new(&new, from_file, by_database);
        let id = Uuid::now_v7();
        insert_batch(&mut tx, ctx, id, &new, &verdict).await?;
        staging::copy_errors(&mut tx, id, &verdict.rejected).await?;
        if verdict.apply {
            insert_numbers(&mut tx, id, &new, &verdict).await?;
        }
        let batch = batch_where(&mut tx, BatchKey::Id(id))
            .await?
            .ok_or(ImportsError::BatchVanished(id))?;
        record_completed(&mut tx, ctx, id, &new, &verdict).await?;
        tx.commit().await?;
        Ok(Imported::Created(batch))
    }
}

/// What becomes of a staged file: its refused rows (the file's and the
/// database's, in line order) and whether the good rows are applied.
struct Verdict {
    rejected: Vec<RowRejection>,
    /// APPLIED, PARTIAL or REJECTED.
    status: &'static str,
    apply: bool,
    /// Rows applied (0 unless `apply`).
    applied: u32,
}

impl Verdict {
    /// `from_file`: the rows refused before staging; `by_database`: the
    /// staged rows the database refuses.
    fn new(
        new: &NewImport<'_>,
        from_file: Vec<RowRejection>,
        by_database: Vec<RowRejection>,
    ) -> Self {
        // the candidates the database accepts; rows refused earlier are not candidates
        let acceptable = (new.rows.len() - by_database.len()) as u32;
        let mut rejected = from_file;
        rejected.extend(by_database);
        rejected.sort_by_key(|r| r.line);
        let apply = new.partial || rejected.is_empty();
        let (status, applied) = match (rejected.len(), apply) {
            (0, _) => ("APPLIED", acceptable),
            (_, true) => ("PARTIAL", acceptable),
            (_, false) => ("REJECTED", 0),
        };
        Self {
            rejected,
            status,
            apply,
            applied,
        }
    }

    fn refused(&self) -> u32 {
        self.rejected.len() as u32
    }
}

/// Records the batch's `lease_imports` row.
async fn insert_batch(
    tx: &mut Tx,
    ctx: &Ctx,
    id: Uuid,
    new: &NewImport<'_>,
    verdict: &Verdict,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO numbering.lease_imports (id, file_sha256, file_name, key_id, operator_id, kind, partial, \
             status, total_rows, applied_rows, rejected_rows, created_by, completed_at) \
         VALUES ($1, $2, $3, $4, $5, $6::numbering.identifier_kind, $7, $8::numbering.import_status, $9, $10, $11, $12, now())",
    )
    .bind(id)
    .bind(new.file_sha256)
    .bind(new.file_name)
    .bind(new.key_id)
    .bind(new.operator_id)
    .bind(new.kind.as_str())
    .bind(new.partial)
    .bind(verdict.status)
    .bind(new.total_rows as i32)
    .bind(verdict.applied as i32)
    .bind(verdict.refused() as i32)
    .bind(ctx.actor.label())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Puts the staged rows that were not refused into inventory.
async fn insert_numbers(
    tx: &mut Tx,
    id: Uuid,
    new: &NewImport<'_>,
    verdict: &Verdict,
) -> Result<()> {
    // vanity is what the file says: the operator designates its vanity
    // numbers (matching the platform's patterns per row cost 7 s of a
    // million-row import)
    let lines: Vec<i32> = verdict.rejected.iter().map(|r| r.line as i32).collect();
    let inserted = sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc, contract_id, vanity) \
         SELECT s.identifier, s.identifier, $1::numbering.identifier_kind, $2, s.mcc, s.mnc, c.id, s.vanity \
         FROM import_rows s \
         JOIN numbering.lease_contracts c ON c.contract_ref = s.contract_ref \
         LEFT JOIN unnest($3::int[]) AS r(line) ON r.line = s.line \
         WHERE r.line IS NULL",
    )
    .bind(new.kind.as_str())
    .bind(new.operator_id)
    .bind(&lines)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted != u64::from(verdict.applied) {
        return Err(ImportsError::RowsMiscounted {
            import_id: id,
            inserted,
            expected: verdict.applied,
        });
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ImportKeyRow {
    key_id: String,
    operator_id: Option<String>,
    algorithm: String,
    public_key_pem: String,
    revoked: bool,
    not_yet_valid: bool,
    expired: bool,
    mcc: Option<String>,
    mnc_codes: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct BatchRow {
    id: Uuid,
    status: String,
    total_rows: i32,
    applied_rows: i32,
    rejected_rows: i32,
    json: Value,
}

/// Which batch to read.
enum BatchKey<'a> {
    Id(Uuid),
    Sha256(&'a str),
}

async fn batch_where(conn: &mut PgConnection, key: BatchKey<'_>) -> Result<Option<ImportBatch>> {
    let sql = match key {
        BatchKey::Id(_) => BATCH_BY_ID,
        BatchKey::Sha256(_) => BATCH_BY_SHA256,
    };
    let query = sqlx::query_as::<_, BatchRow>(sql);
    let query = match key {
        BatchKey::Id(id) => query.bind(id),
        BatchKey::Sha256(sha) => query.bind(sha),
    };
    let row = query.fetch_optional(conn).await?;
    Ok(row.map(|r| ImportBatch {
        id: r.id,
        status: r.status,
        total_rows: r.total_rows,
        applied_rows: r.applied_rows,
        rejected_rows: r.rejected_rows,
        json: r.json,
    }))
}

/// One audit entry for the batch and its `numbering.import.completed.v1`
/// event, in one statement (like every other change's record).
async fn record_completed(
    conn: &mut PgConnection,
    ctx: &Ctx,
    id: Uuid,
    new: &NewImport<'_>,
    verdict: &Verdict,
) -> Result<(), sqlx::Error> {
    let facts = json!({
        "import_id": id,
        "file_sha256": new.file_sha256,
        "file_name": new.file_name,
        "key_id": new.key_id,
        "operator_id": new.operator_id,
        "kind": new.kind.as_str(),
        "partial": new.partial,
        "status": verdict.status,
        "total_rows": new.total_rows,
        "applied_rows": verdict.applied,
        "rejected_rows": verdict.refused(),
    });
    let mut data = facts.clone();
    data["actor"] = json!(ctx.actor.label());
    data["request_id"] = json!(ctx.request_id);
    sqlx::query(
        "WITH audit AS ( \
             INSERT INTO numbering.audit_log (actor, action, subject, after, request_id) \
             VALUES ($1, 'lease_import.completed', $2, $3::json, $4)) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
         VALUES ($5, 'NUMBERING_OPS', 'numbering.import.completed.v1', 'lease_import', $2, $6::json)",
    )
    .bind(ctx.actor.label())
    .bind(id.to_string())
    .bind(facts.to_string())
    .bind(ctx.request_id.as_deref())
    .bind(Uuid::now_v7())
    .bind(data.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
