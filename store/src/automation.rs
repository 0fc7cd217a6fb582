//! The reads and bulk operations of lifecycle automation (the sweeper and
//! the inbound event consumers). Every change still goes through one
//! lifecycle transaction per identifier (see `lifecycle/`), so each is
//! audited and emits its own outbox event.

use chrono::Duration;
use numbering_shared::{Identifier, ReservationId, TenantId};

use crate::{
    Lease, LifecycleError, Store,
    model::{self, LEASE_COLUMNS, LeaseRow},
    record::{Ctx, record_admin_action},
    scope::{self, Scope},
};

type Result<T, E = LifecycleError> = std::result::Result<T, E>;

impl Store {
    /// ACTIVE auto-renewing leases whose term ends within `window` (and has
    /// not ended yet), soonest first; not those billing declined to renew in
    /// the last `ask_again_after`, nor those of an ended contract (flagged
    /// for recall: never renewed).
    pub async fn leases_due_for_renewal(
        &self,
        window: Duration,
        ask_again_after: Duration,
        limit: i64,
    ) -> Result<Vec<Lease>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows: Vec<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM numbering.leases l \
             WHERE l.status = 'ACTIVE' AND l.auto_renew AND l.recall_at IS NULL AND l.term_end > now() \
               AND l.term_end <= now() + make_interval(secs => $1) \
               AND (l.renewal_declined_at IS NULL \
                    OR l.renewal_declined_at <= now() - make_interval(secs => $2)) \
             ORDER BY l.term_end LIMIT $3"
        ))
        .bind(window.num_seconds() as f64)
        .bind(ask_again_after.num_seconds() as f64)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(LeaseRow::into_domain).collect()
    }

    /// Notes that billing declined renewing `lease` now (see
    /// [`Store::leases_due_for_renewal`]); a renewal clears it.
    pub async fn record_renewal_declined(&self, lease: &Lease) -> Result<()> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        sqlx::query("UPDATE numbering.leases SET renewal_declined_at = now() WHERE id = $1")
            .bind(lease.id.as_uuid())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// ACTIVE leases whose term has ended, oldest first; not those of an
    /// ended contract, which are recalled instead (`leases_due_for_recall`).
    pub async fn leases_past_term(&self, limit: i64) -> Result<Vec<Lease>> {
        self.platform_leases(
            "l.status = 'ACTIVE' AND l.recall_at IS NULL AND l.term_end <= now() - make_interval(secs => $1)",
            0.0,
            limit,
        )
        .await
    }

    /// The tenant's current leases (ACTIVE and SUSPENDED).
    pub async fn tenant_leases(&self, tenant: &TenantId) -> Result<Vec<Lease>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows: Vec<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM numbering.leases l \
             WHERE l.tenant_id = $1 AND l.status IN ('ACTIVE', 'SUSPENDED') ORDER BY l.identifier"
        ))
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(LeaseRow::into_domain).collect()
    }

    /// The tenant's live (RESERVED / HELD, not lapsed) reservations.
    pub async fn tenant_reservations(&self, tenant: &TenantId) -> Result<Vec<ReservationId>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM numbering.reservations \
             WHERE tenant_id = $1 AND status IN ('RESERVED', 'HELD') AND expires_at > now()",
        )
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids.into_iter().map(ReservationId::from_uuid).collect())
    }

    /// Quarantined identifiers whose cool-off has been served.
    pub async fn quarantines_due(&self, limit: i64) -> Result<Vec<Identifier>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT q.kind::text, q.identifier FROM numbering.quarantine_records q \
             JOIN numbering.numbers n ON n.id = q.number_id AND n.state = 'QUARANTINED' \
             WHERE q.ended_at IS NULL AND q.ends_at <= now() ORDER BY q.ends_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|(kind, id)| model::identifier(kind, id))
            .collect()
    }

    /// Marks the tenant's pool SUSPENDED (compliance): it can reserve
    /// nothing until an admin reactivates it. Audited; a no-op (false) if
    /// it already was.
    pub async fn suspend_pool(&self, ctx: &Ctx, tenant: &TenantId) -> Result<bool> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let changed = sqlx::query(
            "UPDATE numbering.tenant_pools SET status = 'SUSPENDED' \
             WHERE tenant_id = $1 AND status <> 'SUSPENDED'",
        )
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if changed {
            let before = serde_json::json!({ "status": "ACTIVE" });
            let after = serde_json::json!({ "status": "SUSPENDED" });
            record_admin_action(
                &mut tx,
                ctx,
                "pool.suspend",
                tenant.as_str(),
                Some(tenant.as_str()),
                Some(&before),
                Some(&after),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn platform_leases(&self, filter: &str, secs: f64, limit: i64) -> Result<Vec<Lease>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let rows: Vec<LeaseRow> = sqlx::query_as(&format!(
            "SELECT {LEASE_COLUMNS} FROM numbering.leases l WHERE {filter} ORDER BY l.term_end LIMIT $2"
        ))
        .bind(secs)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(LeaseRow::into_domain).collect()
    }
}
