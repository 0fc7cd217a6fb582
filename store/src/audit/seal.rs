//! Sealing: appending `audit_chain` links for finished entries, one sealer
//! at a time, each link's [`super::SEALED_EVENT`] on the outbox in the
//! same transaction.

use sqlx::PgPool;

use super::{AuditEntry, GENESIS, SEALED_EVENT, SEALER_LOCK, entry_digest, link_hash, to_hash};

/// Seals up to `max` finished, unsealed entries; returns how many. Sealers
/// queue on one advisory lock, so any number of instances may call this.
pub async fn seal(pool: &PgPool, max: i64) -> Result<u64, sqlx::Error> {
    let mut tx = crate::scope::begin_unscoped(pool).await?;
    crate::lock::xact_lock(&mut tx, SEALER_LOCK).await?;
    let head: Option<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
        "SELECT seq, hash, entry_txid::text, entry_id FROM numbering.audit_chain ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (mut seq, mut prev, after_txid, after_id) = match head {
        Some((seq, hash, txid, id)) => (seq, to_hash(&hash)?, txid, id),
        None => (0, GENESIS, "0".to_owned(), 0),
    };
    let xmin: String = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        .fetch_one(&mut *tx)
        .await?;
    let entries: Vec<AuditEntry> = sqlx::query_as(concat!(
        "SELECT ",
        entry_columns!(),
        " FROM numbering.audit_log a \
         WHERE (a.txid, a.id) > ($1::xid8, $2) AND a.txid < $3::xid8 \
         ORDER BY a.txid, a.id LIMIT $4"
    ))
    .bind(&after_txid)
    .bind(after_id)
    .bind(&xmin)
    .bind(max)
    .fetch_all(&mut *tx)
    .await?;
    if entries.is_empty() {
        return Ok(0);
    }
    let mut seqs = Vec::with_capacity(entries.len());
    let mut ids = Vec::with_capacity(entries.len());
    let mut txids = Vec::with_capacity(entries.len());
    let mut prevs = Vec::with_capacity(entries.len());
    let mut hashes = Vec::with_capacity(entries.len());
    let mut event_ids = Vec::with_capacity(entries.len());
    let mut tenants = Vec::with_capacity(entries.len());
    let mut payloads = Vec::with_capacity(entries.len());
    for e in &entries {
        seq += 1;
        let digest = entry_digest(e);
        let hash = link_hash(&prev, seq, &digest);
        seqs.push(seq);
        ids.push(e.id);
        txids.push(e.txid.clone());
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        event_ids.push(uuid::Uuid::now_v7());
        tenants.push(e.tenant_id.clone());
        payloads.push(sealed_event(seq, &prev, &hash, &digest, e).to_string());
        prev = hash;
    }
    sqlx::query(
        "WITH links AS ( \
             INSERT INTO numbering.audit_chain (seq, entry_id, entry_txid, prev_hash, hash) \
             SELECT s, i, t::xid8, p, h FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bytea[]) \
                  AS u(s, i, t, p, h)) \
         INSERT INTO numbering.outbox (event_id, stream, event_type, aggregate_type, aggregate_id, tenant_id, payload) \
         SELECT e.id, 'NUMBERING_AUDIT', $6, 'audit_chain', 'audit_chain', e.tenant, e.payload::json \
         FROM UNNEST($7::uuid[], $8::text[], $9::text[]) WITH ORDINALITY AS e(id, tenant, payload, ord) \
         ORDER BY e.ord",
    )
    .bind(&seqs)
    .bind(&ids)
    .bind(&txids)
    .bind(&prevs)
    .bind(&hashes)
    .bind(SEALED_EVENT)
    .bind(&event_ids)
    .bind(&tenants)
    .bind(&payloads)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::wake_relays_now(pool).await;
    metrics::counter!("numbering_audit_sealed_total").increment(entries.len() as u64);
    Ok(entries.len() as u64)
}

/// The payload of [`SEALED_EVENT`] for the entry sealed at `seq`: the link
/// and the entry exactly as hashed (`before` / `after` as their stored JSON
/// text, `occurred_at` to the microsecond), so that a reader can recompute
/// `entry_digest` and `hash` and follow the chain.
fn sealed_event(
    seq: i64,
    prev: &[u8; 32],
    hash: &[u8; 32],
    digest: &[u8; 32],
    e: &AuditEntry,
) -> serde_json::Value {
    serde_json::json!({
        "seq": seq,
        "hash": hex::encode(hash),
        "prev_hash": hex::encode(prev),
        "entry_digest": hex::encode(digest),
        "entry": {
            "id": e.id,
            "txid": e.txid,
            "occurred_at": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": e.actor,
            "action": e.action,
            "tenant_id": e.tenant_id,
            "subject": e.subject,
            "before": e.before,
            "after": e.after,
            "request_id": e.request_id,
        },
    })
}

/// Seals until nothing finished is left unsealed.
pub async fn seal_all(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = seal(pool, 10_000).await?;
        total += n;
        if n < 10_000 {
            return Ok(total);
        }
    }
}

/// Seals every entry committed before this call. Entries become sealable
/// once every transaction older than them has finished (cluster-wide), so
/// this waits — up to `timeout` — for the transactions running at the call
/// to end. Returns how many entries it sealed.
pub async fn seal_pending(pool: &PgPool, timeout: std::time::Duration) -> Result<u64, sqlx::Error> {
    let horizon: String =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
            .fetch_one(pool)
            .await?;
    let horizon: u64 = horizon.parse().unwrap_or(u64::MAX);
    let deadline = std::time::Instant::now() + timeout;
    let mut total = 0;
    loop {
        let xmin: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(pool)
                .await?;
        let passed = xmin.parse::<u64>().is_ok_and(|x| x >= horizon);
        total += seal_all(pool).await?;
        if passed || std::time::Instant::now() >= deadline {
            return Ok(total);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
