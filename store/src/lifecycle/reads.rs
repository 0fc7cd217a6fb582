//! Single-row reads: an identifier's inventory row, its ValidateLease
//! snapshot and routing lookup, and one of a tenant's reservations or
//! leases.

use numbering_shared::{Identifier, LeaseId, NumberSnapshot, ReservationId, TenantId};
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{Result, Store};
use crate::{
    Lease, NumberRecord, Reservation, ReservationStatus,
    model::{
        LeaseRow, NumberRow, ReservationRow, lease_columns, number_columns, reservation_columns,
    },
    scope::{self, Scope},
};

impl Store {
    /// The inventory row of `identifier` (platform view), if it is in inventory.
    pub async fn number(&self, identifier: &Identifier) -> Result<Option<NumberRecord>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let n: Option<NumberRow> = sqlx::query_as(concat!(
            "SELECT ",
            number_columns!(),
            " FROM numbering.numbers n WHERE n.identity_key = $1 \
             ORDER BY (n.state = 'RETIRED'), n.id DESC LIMIT 1"
        ))
        .bind(identifier.key())
        .fetch_optional(&mut *tx)
        .await?;
        // committed either way: inside a request's transaction, a read
        // dropped uncommitted would mark the request's work as failed
        tx.commit().await?;
        n.map(NumberRow::into_record).transpose()
    }

    /// What ValidateLease needs to know about `identifier`, read from
    /// Postgres in one round trip (`numbering.lease_snapshot`): state,
    /// holder, current lease and row version (for an identifier renumbered
    /// less than its window ago, its new number's). The hot path itself reads
    /// through [`SnapshotReader`](crate::SnapshotReader).
    pub async fn snapshot(&self, identifier: &Identifier) -> Result<Option<NumberSnapshot>> {
        let row: Option<crate::snapshots::SnapshotRow> = sqlx::query_as(
            "SELECT state, tenant_id, reserved_until, version, lease_id, lease_term_end, read_at, link_until \
             FROM numbering.lease_snapshot($1)",
        )
        .bind(identifier.key())
        .fetch_optional(&self.pool)
        .await?;
        row.map(crate::snapshots::into_snapshot).transpose()
    }

    /// Routing's view of `identifier` (`numbering.lookup_identifier`, one
    /// round trip): kind, state, serving operator, MCC and MNC, and the porting.
    pub async fn lookup(&self, identifier: &Identifier) -> Result<Option<crate::Lookup>> {
        Ok(sqlx::query_as(
            "SELECT kind, state, operator_id, operator_name, mcc, mnc, ported, home_operator_id, home_mcc, home_mnc, ported_at \
             FROM numbering.lookup_identifier($1)",
        )
        .bind(identifier.key())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// One of the tenant's reservations (a lapsed one reads as EXPIRED).
    pub async fn reservation(
        &self,
        tenant: &TenantId,
        id: ReservationId,
    ) -> Result<Option<Reservation>> {
        const SQL: &str = concat!(
            "SELECT ",
            reservation_columns!(),
            " FROM numbering.reservations r WHERE r.id = $1"
        );
        let r: Option<ReservationRow> = self.tenant_row(tenant, SQL, id.as_uuid()).await?;
        r.map(|r| {
            let lapsed = r.status()?.is_live() && r.expires_at <= r.now;
            let mut r = r.into_domain()?;
            if lapsed {
                r.status = ReservationStatus::Expired;
            }
            Ok(r)
        })
        .transpose()
    }

    /// One of the tenant's leases.
    pub async fn lease(&self, tenant: &TenantId, id: LeaseId) -> Result<Option<Lease>> {
        const SQL: &str = concat!(
            "SELECT ",
            lease_columns!(),
            " FROM numbering.leases l WHERE l.id = $1"
        );
        let l: Option<LeaseRow> = self.tenant_row(tenant, SQL, id.as_uuid()).await?;
        l.map(LeaseRow::into_domain).transpose()
    }

    /// The row `sql` reads by `id` in the tenant's scope (row-level
    /// security shows only the tenant's own), committed either way.
    async fn tenant_row<T>(
        &self,
        tenant: &TenantId,
        sql: &'static str,
        id: Uuid,
    ) -> Result<Option<T>>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut tx = scope::begin(self, Scope::Tenant(tenant)).await?;
        let row = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}
