//! Expiry and renewal (SPEC §2): scheduled every minute (EventBridge in
//! Lambda, a loop in the host), with reservation lapsing also run every
//! second in the host so that its events follow the TTL within 2 s.
//!
//! One sweep: lapsed reservations → AVAILABLE; quarantines served →
//! AVAILABLE; auto-renewing leases inside the renewal window → billing
//! `PreviewCharge`, renewed on approval, left alone on a decline (asked
//! again a day later, not at every sweep); leases past term → renewed if
//! billing approves a late renewal, otherwise expired
//! (QUARANTINED) — except while billing is unreachable, which never expires
//! a lease inside the grace period after its term end.
//!
//! Each sweep also deletes expired Idempotency-Key records and records of
//! inbound events older than their dedupe window (`housekeeping`).
//!
//! Safe on several instances: a sweep runs only while it holds a Postgres
//! advisory lock (the others skip that round), and every change is a
//! compare-and-swap lifecycle transaction anyway.

pub mod config;
pub mod lambda;

use std::{sync::Arc, time::Duration};

use anyhow::Result;
use chrono::Utc;
use numbering_clients::{Billing, ChargeDecision, ChargeRequest};
use numbering_store::lock::SessionLock;
use numbering_store::{Actor, Ctx, Lease, LifecycleError, Store};
use tokio::sync::watch;

/// Advisory lock key held for the duration of one sweep.
pub const LOCK_KEY: i64 = 0x6e75_6d73_7765_6570;

#[derive(Debug, Clone)]
pub struct SweeperConfig {
    /// Auto-renewing leases are offered to billing this long before term end.
    pub renewal_window: chrono::Duration,
    /// While billing is unreachable, a lease past term is kept this long.
    pub billing_grace: chrono::Duration,
    /// After billing declines a renewal, it is asked again about that lease
    /// (inside the renewal window) only this much later, not at every sweep.
    pub ask_again_after_decline: chrono::Duration,
    /// Rows per step of one sweep.
    pub batch: i64,
    /// How long a processed inbound event is remembered (its dedupe window):
    /// far longer than any redelivery or re-send.
    pub processed_events_retention: chrono::Duration,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            renewal_window: chrono::Duration::days(7),
            billing_grace: chrono::Duration::days(3),
            ask_again_after_decline: chrono::Duration::days(1),
            batch: 500,
            processed_events_retention: chrono::Duration::days(30),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// false: another instance was sweeping.
    pub ran: bool,
    pub reservations_lapsed: usize,
    pub quarantines_ended: usize,
    pub renewed: usize,
    pub declined: usize,
    pub billing_unavailable: usize,
    pub leases_expired: usize,
    pub idempotency_keys_pruned: u64,
    pub processed_events_pruned: u64,
    /// Two-person approvals past their expiry, recorded EXPIRED.
    pub approvals_expired: usize,
}

#[derive(Clone)]
pub struct Sweeper {
    store: Store,
    billing: Arc<dyn Billing>,
    config: SweeperConfig,
}

impl Sweeper {
    pub fn new(store: Store, billing: Arc<dyn Billing>, config: SweeperConfig) -> Self {
        Self {
            store,
            billing,
            config,
        }
    }

    fn ctx() -> Ctx {
        Ctx::new(Actor::system("lifecycle-sweeper"))
    }

    /// Lapses reservations past their TTL (cheap; `FOR UPDATE SKIP LOCKED`,
    /// so concurrent instances split the work).
    pub async fn lapse_reservations(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self
                .store
                .expire_lapsed_reservations(&Self::ctx(), self.config.batch)
                .await?;
            total += n;
            if (n as i64) < self.config.batch {
                return Ok(total);
            }
        }
    }

    /// One full sweep, if no other instance is sweeping.
    pub async fn sweep(&self) -> Result<SweepReport> {
        let Some(lock) = SessionLock::try_acquire(self.store.pool(), LOCK_KEY).await? else {
            return Ok(SweepReport::default());
        };
        let report = self.sweep_locked().await;
        lock.release().await;
        let report = report?;
        metrics::counter!("numbering_sweeper_renewed_total").increment(report.renewed as u64);
        metrics::counter!("numbering_sweeper_expired_total")
            .increment(report.leases_expired as u64);
        metrics::counter!("numbering_sweeper_billing_unavailable_total")
            .increment(report.billing_unavailable as u64);
        Ok(report)
    }

    async fn sweep_locked(&self) -> Result<SweepReport> {
        let ctx = Self::ctx();
        let mut report = SweepReport {
            ran: true,
            reservations_lapsed: self.lapse_reservations().await?,
            ..Default::default()
        };
        for identifier in self.store.quarantines_due(self.config.batch).await? {
            match self.store.end_quarantine(&ctx, &identifier).await {
                Ok(_) => report.quarantines_ended += 1,
                Err(e) => tracing::warn!(%identifier, error = %e, "ending quarantine failed"),
            }
        }
        let due = self
            .store
            .leases_due_for_renewal(
                self.config.renewal_window,
                self.config.ask_again_after_decline,
                self.config.batch,
            )
            .await?;
        for lease in due {
            self.renew_or_not(&ctx, &lease, &mut report, false).await;
        }
        for lease in self.store.leases_past_term(self.config.batch).await? {
            if lease.auto_renew {
                self.renew_or_not(&ctx, &lease, &mut report, true).await;
            } else {
                self.expire(&ctx, &lease, &mut report).await;
            }
        }
        // they read as EXPIRED already; this records it (audit + event)
        report.approvals_expired = self
            .store
            .expire_approvals(&ctx)
            .await
            .map_err(|e| anyhow::anyhow!("expiring approvals: {e}"))?;
        self.housekeeping(&mut report).await?;
        Ok(report)
    }

    /// Deletes what has outlived its window, a batch at a time.
    async fn housekeeping(&self, report: &mut SweepReport) -> Result<()> {
        let batch = self.config.batch;
        report.idempotency_keys_pruned =
            drain(batch, || self.store.prune_idempotency_keys(batch)).await?;
        let keep = self.config.processed_events_retention;
        report.processed_events_pruned =
            drain(batch, || self.store.prune_processed_events(keep, batch)).await?;
        metrics::counter!("numbering_housekeeping_pruned_total", "table" => "idempotency_keys")
            .increment(report.idempotency_keys_pruned);
        metrics::counter!("numbering_housekeeping_pruned_total", "table" => "processed_events")
            .increment(report.processed_events_pruned);
        Ok(())
    }

    async fn renew_or_not(
        &self,
        ctx: &Ctx,
        lease: &Lease,
        report: &mut SweepReport,
        past_term: bool,
    ) {
        let request = ChargeRequest {
            tenant_id: lease.tenant_id.as_str().to_owned(),
            identifier: lease.identifier.as_str().to_owned(),
            kind: lease.identifier.kind().as_str().to_owned(),
            lease_id: lease.id.to_string(),
            term_days: self.store.policy().lease_term.num_days().max(1) as u32,
        };
        match self.billing.preview_charge(&request).await {
            Ok(ChargeDecision::Approved) => match self.store.renew(ctx, lease.id).await {
                Ok(_) => report.renewed += 1,
                Err(e) => tracing::warn!(lease = %lease.id, error = %e, "renewal failed"),
            },
            Ok(ChargeDecision::Declined { reason }) => {
                report.declined += 1;
                tracing::info!(lease = %lease.id, reason, "billing declined the renewal");
                if past_term {
                    self.expire(ctx, lease, report).await;
                } else if let Err(e) = self.store.record_renewal_declined(lease).await {
                    tracing::warn!(lease = %lease.id, error = %e, "could not note the declined renewal");
                }
            }
            Err(e) => {
                report.billing_unavailable += 1;
                tracing::warn!(lease = %lease.id, error = %e, "billing unavailable; renewal retried on the next sweep");
                if past_term && Utc::now() >= lease.term_end + self.config.billing_grace {
                    self.expire(ctx, lease, report).await;
                }
            }
        }
    }

    async fn expire(&self, ctx: &Ctx, lease: &Lease, report: &mut SweepReport) {
        match self.store.expire_lease(ctx, lease.id).await {
            Ok(_) => report.leases_expired += 1,
            Err(LifecycleError::NotDue(_)) => {}
            Err(e) => tracing::warn!(lease = %lease.id, error = %e, "lease expiry failed"),
        }
    }
}

/// Repeats `step` (which deletes up to `batch` rows) until one deletes
/// fewer; returns the total.
async fn drain<F, Fut>(batch: i64, mut step: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, LifecycleError>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
    }
}

/// The host's loop: a full sweep every `every`, reservation lapsing every
/// `lapse_every`, until `stop`.
pub async fn run(
    sweeper: Sweeper,
    every: Duration,
    lapse_every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_sweep: Option<tokio::time::Instant> = None;
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= every) {
            last_sweep = Some(tokio::time::Instant::now());
            match sweeper.sweep().await {
                Ok(r) if r.ran => tracing::debug!(?r, "lifecycle sweep"),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "lifecycle sweep failed; will retry")
                }
            }
        } else if let Err(e) = sweeper.lapse_reservations().await {
            tracing::warn!(error = %format!("{e:#}"), "lapsing reservations failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(lapse_every) => {}
            _ = stop.changed() => return,
        }
    }
}
