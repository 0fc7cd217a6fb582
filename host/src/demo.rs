//! Demo data for the embedded default: the seed's three internal test
//! tenants with pools, and a few hundred identifiers from the initial
//! contracts. Seeded once, into an empty inventory.

use anyhow::Result;
use sqlx::Connection;

/// The seed's Phase 1 internal test tenants.
pub const DEMO_TENANTS: [&str; 3] = ["enterprise-sim", "smb-sim", "government-sim"];

/// Seeds demo data unless the inventory already has identifiers. Returns
/// whether it seeded.
pub async fn seed(owner_url: &str) -> Result<bool> {
    let mut conn =
        numbering_store::primary::connect_read_write(owner_url, std::time::Duration::from_secs(5))
            .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('numbering.scope', 'platform', true)")
        .execute(&mut *tx)
        .await?;
    let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM numbering.numbers)")
        .fetch_one(&mut *tx)
        .await?;
    if !empty {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO numbering.tenant_pools \
             (tenant_id, display_name, segment, quota_msisdn, quota_short_code, quota_alpha, vanity_allowed) VALUES \
         ('enterprise-sim', 'Enterprise (simulated)', 'enterprise', 50, 5, 10, true), \
         ('smb-sim', 'SMB (simulated)', 'smb', 10, 1, 2, false), \
         ('government-sim', 'Government (simulated)', 'government', 20, 3, 5, false) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .execute(&mut *tx)
    .await?;
    // 60 MSISDNs per operator inside its initial contract, 50 ATRA short codes.
    let msisdns = sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc, contract_id, vanity) \
         SELECT g.msisdn, g.msisdn, 'MSISDN', c.operator_id, o.mcc, o.mnc_codes[1], c.id, \
                EXISTS (SELECT 1 FROM numbering.vanity_patterns v WHERE v.kind = 'MSISDN' AND g.msisdn ~ v.pattern) \
         FROM numbering.lease_contracts c \
         JOIN numbering.mobile_operators o ON o.id = c.operator_id \
         CROSS JOIN generate_series(0, 59) AS i \
         CROSS JOIN LATERAL (SELECT left(c.range_start, 5) || lpad((1234 + i * 37)::text, 7, '0') AS msisdn) AS g \
         WHERE c.kind = 'MSISDN'",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let short_codes = sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, contract_id, vanity) \
         SELECT sc, sc, 'SHORT_CODE', c.id, \
                EXISTS (SELECT 1 FROM numbering.vanity_patterns v WHERE v.kind = 'SHORT_CODE' AND sc ~ v.pattern) \
         FROM numbering.lease_contracts c \
         CROSS JOIN generate_series(4400, 4449) AS i \
         CROSS JOIN LATERAL (SELECT i::text AS sc) AS g \
         WHERE c.contract_ref = 'ATRA-SC-2026-001'",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO numbering.audit_log (actor, action, subject, after) \
         VALUES ('system:demo-seed', 'inventory.demo_seeded', 'inventory', $1::json)",
    )
    .bind(serde_json::json!({ "msisdns": msisdns, "short_codes": short_codes, "tenants": DEMO_TENANTS }).to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}
