//! Alphanumeric sender IDs into inventory: the ALPHA counterpart of a
//! lease import (which carries only MSISDNs and short codes).
//!
//! A registration is one transaction, all or nothing: every sender ID is
//! inserted AVAILABLE (`ON CONFLICT … DO NOTHING` against the one-live-row-
//! per-identity index, so a concurrent registration of the same ID waits
//! for the other and then finds it), and if any was already in inventory
//! nothing is kept. Each registered ID gets one audit entry
//! (`sender_id.registered`) and one `number.registered.v1` event on
//! `NUMBERING_EVENTS`, like every other change of an identifier.

use numbering_shared::{Identifier, IdentifierKind};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    LifecycleError, NumberRecord, Store,
    model::{NUMBER_COLUMNS, NumberRow},
    record::Ctx,
    scope::{self, Scope},
};

/// The audit action of a registration.
pub const REGISTERED_ACTION: &str = "sender_id.registered";
/// The event type of a registration (stream `NUMBERING_EVENTS`).
pub const REGISTERED_EVENT: &str = "number.registered.v1";

/// Why sender IDs were not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Not ALPHA identifiers, or the same identity twice (the edge checks
    /// this first; the store refuses it all the same).
    #[error("{0}")]
    Invalid(String),
    /// These are in inventory already (in any state but RETIRED); nothing
    /// was registered.
    #[error("already in inventory: {}", .0.join(", "))]
    AlreadyInInventory(Vec<String>),
    #[error(transparent)]
    Store(#[from] LifecycleError),
}

impl From<sqlx::Error> for RegisterError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl Store {
    /// Registers `ids` (ALPHA, distinct identities) as AVAILABLE inventory,
    /// all or none; returns their records in the order given.
    ///
    /// MUST refuse with `AlreadyInInventory` (naming them) if any of them
    /// is in inventory and not retired, registering none.
    pub async fn register_sender_ids(
        &self,
        ctx: &Ctx,
        ids: &[Identifier],
    ) -> Result<Vec<NumberRecord>, RegisterError> {
        let keys = checked_keys(ids)?;
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows = insert_numbers(&mut tx, ids, &keys).await?;
        let mut records = record_registered(&mut tx, ctx, rows).await?;
        tx.commit().await?;
        // in the order given
        records.sort_by_key(|r| {
            let key = r.identifier.key();
            keys.iter().position(|k| *k == key)
        });
        Ok(records)
    }
}

/// The identity keys of `ids`, each an alphanumeric sender ID given once.
fn checked_keys(ids: &[Identifier]) -> Result<Vec<String>, RegisterError> {
    if let Some(other) = ids.iter().find(|i| i.kind() != IdentifierKind::Alpha) {
        return Err(RegisterError::Invalid(format!(
            "{} is not an alphanumeric sender ID",
            other.as_str()
        )));
    }
    let keys: Vec<String> = ids.iter().map(Identifier::key).collect();
    if let Some((i, key)) = keys
        .iter()
        .enumerate()
        .find(|(i, k)| keys[..*i].contains(k))
    {
        return Err(RegisterError::Invalid(format!(
            "{} is given twice (as {key})",
            ids[i].as_str()
        )));
    }
    Ok(keys)
}

/// Inserts every one of `ids`, or none: `AlreadyInInventory`
/// names those already there (the caller drops the transaction, which
/// rolls back what was inserted).
async fn insert_numbers(
    conn: &mut PgConnection,
    ids: &[Identifier],
    keys: &[String],
) -> Result<Vec<NumberRow>, RegisterError> {
    let identifiers: Vec<&str> = ids.iter().map(Identifier::as_str).collect();
    // in identity order, so two registrations lock the index in the same order
    let rows: Vec<NumberRow> = sqlx::query_as(&format!(
        "INSERT INTO numbering.numbers AS n (identifier, identity_key, kind) \
         SELECT i.identifier, i.key, 'ALPHA' FROM unnest($1::text[], $2::text[]) AS i(identifier, key) \
         ORDER BY i.key \
         ON CONFLICT (identity_key) WHERE state <> 'RETIRED' DO NOTHING \
         RETURNING {NUMBER_COLUMNS}"
    ))
    .bind(&identifiers)
    .bind(keys)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != ids.len() {
        let inserted: Vec<String> = rows
            .iter()
            .map(|r| r.identifier.to_ascii_uppercase())
            .collect();
        let taken = ids
            .iter()
            .filter(|i| !inserted.contains(&i.key()))
            .map(|i| i.as_str().to_owned())
            .collect();
        return Err(RegisterError::AlreadyInInventory(taken));
    }
    Ok(rows)
}

/// One audit entry and one `number.registered.v1` event per inserted row,
/// in one statement; returns the rows as records.
async fn record_registered(
    conn: &mut PgConnection,
    ctx: &Ctx,
    rows: Vec<NumberRow>,
) -> Result<Vec<NumberRecord>, RegisterError> {
    let mut records = Vec::with_capacity(rows.len());
    let (mut subjects, mut afters, mut payloads, mut event_ids) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let r = row.into_record()?;
        let after = json!({ "state": r.state.as_str(), "kind": "ALPHA", "version": r.version });
        let data = json!({
            "identifier": r.identifier.as_str(),
            "kind": "ALPHA",
            "state": r.state.as_str(),
            "version": r.version,
            "vanity": r.vanity,
            "actor": ctx.actor.label(),
            "request_id": ctx.request_id,
        });
        subjects.push(r.identifier.as_str().to_owned());
        afters.push(after.to_string());
        payloads.push(data.to_string());
        event_ids.push(Uuid::now_v7());
        records.push(r);
    }
    sqlx::query(
        "WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) \
                      WITH ORDINALITY AS r(subject, after, data, event_id, n)), \
         audit AS ( \
             INSERT INTO numbering.audit_log (actor, action, subject, after, request_id) \
             SELECT $5, $6, r.subject, r.after::json, $7 FROM r ORDER BY r.n) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, payload) \
         SELECT r.event_id, 'NUMBERING_EVENTS', $8, 'number', r.subject, r.data::json FROM r ORDER BY r.n",
    )
    .bind(&subjects)
    .bind(&afters)
    .bind(&payloads)
    .bind(&event_ids)
    .bind(ctx.actor.label())
    .bind(REGISTERED_ACTION)
    .bind(ctx.request_id.as_deref())
    .bind(REGISTERED_EVENT)
    .execute(&mut *conn)
    .await?;
    Ok(records)
}
