//! National number portability: which operator serves a ported MSISDN.
//!
//! A batch of portings (one signed ATRA file, or later one event of a
//! portability feed) is one transaction: serialise batches (advisory lock),
//! return the earlier batch if this source (file SHA-256, event id) was
//! applied, refuse the whole batch if any row names a number not in
//! inventory, an unknown or inactive recipient (by MCC/MNC), or a port date
//! older than the number's current port — with every refused line — and
//! otherwise, for each row: bump the number's version, record the porting
//! (or delete it: a port back to the home operator), and write its audit
//! entry and its `number.ported.v1` event, which the relay turns into a
//! lease-cache update and `num.cache.invalidate.v1`. The number's own row
//! (home operator, MCC/MNC, contract, lifecycle state) never changes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Store,
    imports::RowRejection,
    record::{Ctx, record_admin_action},
    scope::{self, Scope, Tx},
};

/// Serialises porting batches (`num_port`).
const PORTING_LOCK: i64 = 0x6e75_6d5f_706f_7274;

/// One porting, as a file row or an event states it: `msisdn` (canonical)
/// is now served by the operator of `mcc`/`mnc`, since `ported_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortingRow {
    /// 1-based line in the file (the header is line 1); the event's index otherwise.
    pub line: u32,
    pub msisdn: String,
    pub mcc: String,
    pub mnc: String,
    pub ported_at: DateTime<Utc>,
    /// The record as received, for error listings.
    pub raw: String,
}

/// Where a batch of portings comes from.
#[derive(Debug, Clone, Copy)]
pub enum PortingSource<'a> {
    /// A signed file: its SHA-256, name and signing key.
    File {
        sha256: &'a str,
        file_name: Option<&'a str>,
        key_id: &'a str,
    },
    /// One event of a portability feed, by its id.
    Event { event_id: &'a str },
}

impl PortingSource<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::Event { .. } => "event",
        }
    }
    fn reference(&self) -> &str {
        match self {
            Self::File { sha256, .. } => sha256,
            Self::Event { event_id } => event_id,
        }
    }
}

/// A batch to apply: every row or none.
pub struct NewPortings<'a> {
    pub source: PortingSource<'a>,
    pub rows: &'a [PortingRow],
}

/// A recorded batch.
#[derive(Debug, Clone)]
pub struct PortingBatch {
    pub id: Uuid,
    pub total_rows: i32,
    /// The batch as the admin API serves it.
    pub json: Value,
}

/// Whether this call applied the batch or found the same source's earlier one.
#[derive(Debug, Clone)]
pub enum Ported {
    Created(PortingBatch),
    Existing(PortingBatch),
}

impl Ported {
    pub fn batch(&self) -> &PortingBatch {
        match self {
            Self::Created(b) | Self::Existing(b) => b,
        }
    }
}

/// Why a batch of portings was not applied.
#[derive(Debug, thiserror::Error)]
pub enum PortingsError {
    /// Rows the database refuses (in line order); nothing was applied.
    #[error("{} rows were refused; nothing was applied", .0.len())]
    Refused(Vec<RowRejection>),
    /// A concurrent writer won a serialisation race; nothing was applied.
    #[error("a number changed concurrently")]
    Conflict,
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl PortingsError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(_) => "PORTING_REJECTED",
            Self::Conflict => "CONFLICT",
            Self::Database(_) => "INTERNAL",
        }
    }
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_))
    }
}

impl From<sqlx::Error> for PortingsError {
    fn from(e: sqlx::Error) -> Self {
        let code = e.as_database_error().and_then(|d| d.code());
        if matches!(code.as_deref(), Some("40001" | "40P01")) {
            Self::Conflict
        } else {
            Self::Database(e)
        }
    }
}

type Result<T, E = PortingsError> = std::result::Result<T, E>;

/// The file's rows as the arrays of `unnest(...) AS f(line, msisdn, mcc, mnc, ported_at)`.
const ROWS: &str = "unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
                    AS f(line, msisdn, mcc, mnc, ported_at)";

const BATCH_JSON: &str = "json_build_object('id', b.id, 'source', b.source, 'source_ref', b.source_ref, \
     'file_name', b.file_name, 'key_id', b.key_id, 'total_rows', b.total_rows, \
     'created_by', b.created_by, 'created_at', b.created_at)";

impl Store {
    /// Applies a batch of portings (see the module docs). Returns the earlier
    /// batch, changing nothing, if this source was applied before.
    pub async fn apply_portings(&self, ctx: &Ctx, new: NewPortings<'_>) -> Result<Ported> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        crate::lock::xact_lock(&mut tx, PORTING_LOCK).await?;
        if let Some(b) = batch_by_ref(&mut tx, new.source.reference()).await? {
            tx.commit().await?;
            return Ok(Ported::Existing(b));
        }
        let refused = refused_rows(&mut tx, new.rows).await?;
        if !refused.is_empty() {
            // dropped: rolls back (nothing was written)
            return Err(PortingsError::Refused(refused));
        }
        let id = Uuid::now_v7();
        insert_batch(&mut tx, ctx, id, &new).await?;
        apply_rows(&mut tx, ctx, id, new.rows).await?;
        let batch = batch_by_ref(&mut tx, new.source.reference())
            .await?
            .ok_or(PortingsError::Database(sqlx::Error::RowNotFound))?;
        tx.commit().await?;
        Ok(Ported::Created(batch))
    }

    /// The rows the database would refuse, without applying anything (to
    /// list them with the rows a file refused by itself).
    pub async fn porting_refusals(&self, rows: &[PortingRow]) -> Result<Vec<RowRejection>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let refused = refused_rows(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(refused)
    }

    /// The batch of this source (file SHA-256, event id), if it was applied.
    pub async fn porting_batch_by_ref(&self, source_ref: &str) -> Result<Option<PortingBatch>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let b = batch_by_ref(&mut tx, source_ref).await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Records, in the audit trail only, a portability file refused as a
    /// whole or by its rows: nothing else is written, so a corrected file
    /// (other bytes) or the same bytes correctly signed can still be applied.
    pub async fn record_porting_refused(
        &self,
        ctx: &Ctx,
        source_ref: &str,
        details: &Value,
    ) -> Result<()> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        record_admin_action(
            &mut tx,
            ctx,
            "porting_import.refused",
            source_ref,
            None,
            None,
            Some(details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Binds the rows' columns as the arrays [`ROWS`] reads.
macro_rules! bind_rows {
    ($query:expr, $rows:expr) => {{
        let rows: &[PortingRow] = $rows;
        $query
            .bind(rows.iter().map(|r| r.line as i32).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.msisdn.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.mcc.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.mnc.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.ported_at).collect::<Vec<_>>())
    }};
}

/// The rows the database refuses, with their reasons, in line order.
async fn refused_rows(tx: &mut Tx, rows: &[PortingRow]) -> Result<Vec<RowRejection>> {
    let sql = format!(
        "SELECT f.line, CASE \
             WHEN n.id IS NULL THEN 'not in inventory: ' || f.msisdn || ' is not a current MSISDN' \
             WHEN r.id IS NULL THEN 'unknown operator: no operator has MCC ' || f.mcc || ' and MNC ' || f.mnc \
             WHEN NOT r.active THEN 'inactive operator: ' || r.id || ' is not active' \
             ELSE 'stale: ' || f.msisdn || ' was already ported on ' || \
                  to_char(p.ported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ', after this row''s date' \
           END \
         FROM {ROWS} \
         LEFT JOIN numbering.numbers n ON n.identity_key = f.msisdn AND n.kind = 'MSISDN' AND n.state <> 'RETIRED' \
         LEFT JOIN numbering.mobile_operators r ON r.mcc = f.mcc AND f.mnc = ANY (r.mnc_codes) \
         LEFT JOIN numbering.portings p ON p.number_id = n.id \
         WHERE n.id IS NULL OR r.id IS NULL OR NOT r.active OR p.ported_at > f.ported_at \
         ORDER BY f.line"
    );
    let found: Vec<(i32, String)> = bind_rows!(sqlx::query_as::<_, (i32, String)>(&sql), rows)
        .fetch_all(&mut **tx)
        .await?;
    Ok(found
        .into_iter()
        .map(|(line, reason)| RowRejection {
            line: line as u32,
            raw: rows
                .iter()
                .find(|r| r.line as i32 == line)
                .map(|r| r.raw.clone())
                .unwrap_or_default(),
            reason,
        })
        .collect())
}

async fn insert_batch(tx: &mut Tx, ctx: &Ctx, id: Uuid, new: &NewPortings<'_>) -> Result<()> {
    let (file_name, key_id) = match new.source {
        PortingSource::File {
            file_name, key_id, ..
        } => (file_name, Some(key_id)),
        PortingSource::Event { .. } => (None, None),
    };
    sqlx::query(
        "INSERT INTO numbering.porting_batches (id, source, source_ref, file_name, key_id, total_rows, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(new.source.kind())
    .bind(new.source.reference())
    .bind(file_name)
    .bind(key_id)
    .bind(new.rows.len() as i32)
    .bind(ctx.actor.label())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Each row: lock the number (in id order), bump its version, record or
/// clear its porting, then its audit entry and `number.ported.v1`.
async fn apply_rows(tx: &mut Tx, ctx: &Ctx, batch: Uuid, rows: &[PortingRow]) -> Result<()> {
    let sql = format!(
        "WITH f AS (SELECT * FROM {ROWS}), \
         target AS ( \
             SELECT n.id, n.identifier, n.kind::text AS kind, n.tenant_id, n.operator_id AS home, \
                    coalesce(n.mcc, h.mcc) AS home_mcc, n.mnc AS home_mnc, \
                    r.id AS recipient, f.mcc, f.mnc, f.ported_at, r.id = n.operator_id AS home_again \
             FROM f \
             JOIN numbering.numbers n ON n.identity_key = f.msisdn AND n.kind = 'MSISDN' AND n.state <> 'RETIRED' \
             LEFT JOIN numbering.mobile_operators h ON h.id = n.operator_id \
             JOIN numbering.mobile_operators r ON r.mcc = f.mcc AND f.mnc = ANY (r.mnc_codes) \
             ORDER BY n.id FOR UPDATE OF n) \
         SELECT t.id, t.identifier, t.kind, t.tenant_id, t.home, t.home_mcc, t.home_mnc, \
                t.recipient, t.mcc, t.mnc, t.ported_at, t.home_again FROM target t ORDER BY t.id"
    );
    let targets: Vec<Target> = bind_rows!(sqlx::query_as::<_, Target>(&sql), rows)
        .fetch_all(&mut **tx)
        .await?;
    for t in &targets {
        apply_one(tx, ctx, batch, t).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Target {
    id: i64,
    identifier: String,
    kind: String,
    tenant_id: Option<String>,
    home: Option<String>,
    home_mcc: Option<String>,
    home_mnc: Option<String>,
    recipient: String,
    mcc: String,
    mnc: String,
    ported_at: DateTime<Utc>,
    home_again: bool,
}

/// One number: the porting row (or its removal), the version bump, the
/// audit entry and the event, in one statement.
async fn apply_one(tx: &mut Tx, ctx: &Ctx, batch: Uuid, t: &Target) -> Result<()> {
    let before: Option<Value> = sqlx::query_scalar(
        "SELECT json_build_object('operator_id', p.recipient_operator_id, 'mcc', p.recipient_mcc, \
                'mnc', p.recipient_mnc, 'ported_at', p.ported_at)::jsonb \
         FROM numbering.portings p WHERE p.number_id = $1",
    )
    .bind(t.id)
    .fetch_optional(&mut **tx)
    .await?;
    if t.home_again {
        sqlx::query("DELETE FROM numbering.portings WHERE number_id = $1")
            .bind(t.id)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO numbering.portings (number_id, recipient_operator_id, recipient_mcc, recipient_mnc, ported_at, batch_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (number_id) DO UPDATE SET recipient_operator_id = EXCLUDED.recipient_operator_id, \
                 recipient_mcc = EXCLUDED.recipient_mcc, recipient_mnc = EXCLUDED.recipient_mnc, \
                 ported_at = EXCLUDED.ported_at, batch_id = EXCLUDED.batch_id, recorded_at = now()",
        )
        .bind(t.id)
        .bind(&t.recipient)
        .bind(&t.mcc)
        .bind(&t.mnc)
        .bind(t.ported_at)
        .bind(batch)
        .execute(&mut **tx)
        .await?;
    }
    let ported = !t.home_again;
    let after = json!({
        "ported": ported,
        "operator_id": t.recipient, "mcc": t.mcc, "mnc": t.mnc,
        "home_operator_id": t.home, "home_mcc": t.home_mcc, "home_mnc": t.home_mnc,
        "ported_at": t.ported_at, "batch_id": batch,
    });
    let action = if ported {
        "number.ported"
    } else {
        "number.ported_home"
    };
    sqlx::query(
        "WITH bumped AS ( \
             UPDATE numbering.numbers SET version = version + 1 WHERE id = $1 RETURNING version), \
         audit AS ( \
             INSERT INTO numbering.audit_log (actor, action, tenant_id, subject, before, after, request_id) \
             VALUES ($2, $3, $4, $5, $6::json, $7::json, $8)) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         SELECT $9, 'NUMBERING_EVENTS', 'number.ported.v1', 'number', $5, $4, \
                ($10::jsonb || jsonb_build_object('version', b.version))::json \
         FROM bumped b",
    )
    .bind(t.id)
    .bind(ctx.actor.label())
    .bind(action)
    .bind(t.tenant_id.as_deref())
    .bind(&t.identifier)
    .bind(before.as_ref().map(Value::to_string))
    .bind(after.to_string())
    .bind(ctx.request_id.as_deref())
    .bind(Uuid::now_v7())
    .bind(event_data(ctx, t, &after).to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `number.ported.v1`'s data but its `version` (docs/events).
fn event_data(ctx: &Ctx, t: &Target, after: &Value) -> Value {
    let mut data = after.clone();
    data["identifier"] = json!(t.identifier);
    data["kind"] = json!(t.kind);
    data["transition"] = json!("port");
    data["tenant_id"] = json!(t.tenant_id);
    data["actor"] = json!(ctx.actor.label());
    data["request_id"] = json!(ctx.request_id);
    data
}

async fn batch_by_ref(tx: &mut Tx, source_ref: &str) -> Result<Option<PortingBatch>> {
    let sql = format!(
        "SELECT b.id, b.total_rows, {BATCH_JSON} FROM numbering.porting_batches b WHERE b.source_ref = $1"
    );
    let row: Option<(Uuid, i32, Value)> = sqlx::query_as(&sql)
        .bind(source_ref)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(id, total_rows, json)| PortingBatch {
        id,
        total_rows,
        json,
    }))
}
