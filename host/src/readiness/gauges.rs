//! Gauges only the database knows, refreshed by the host every
//! `NUMBERING_DB_GAUGES_INTERVAL` (default [`EVERY`]): `numbering_regulator_exports{status}` (exports per status,
//! ATRA's `ACKNOWLEDGED` and `REJECTED` among them) and the reserve →
//! assign conversion within 24 h, `numbering_reserve_conversion_24h_ratio`
//! over `numbering_reserve_conversion_24h_reservations` reservations.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::db;

/// How often the gauges are refreshed.
pub const EVERY: Duration = Duration::from_secs(60);

/// `NUMBERING_DB_GAUGES_INTERVAL` (`30s`, `5m`; default [`EVERY`]).
pub fn interval() -> Duration {
    std::env::var("NUMBERING_DB_GAUGES_INTERVAL")
        .ok()
        .and_then(|v| numbering_shared::policy::parse_duration(&v).ok())
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(EVERY)
}

/// Refreshes the gauges every [`interval`] until `stop`.
pub async fn run(pool: PgPool, mut stop: watch::Receiver<bool>) {
    let every = interval();
    while !*stop.borrow() {
        if let Err(e) = refresh(&pool).await {
            tracing::warn!(error = %format!("{e:#}"), "database gauges not refreshed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Reads the database once and sets the gauges.
pub async fn refresh(pool: &PgPool) -> anyhow::Result<()> {
    for (status, n) in db::export_states(pool).await? {
        metrics::gauge!("numbering_regulator_exports", "status" => status).set(n as f64);
    }
    let (share, reservations, _) = db::conversion(pool).await?;
    metrics::gauge!("numbering_reserve_conversion_24h_reservations").set(reservations as f64);
    if let Some(share) = share {
        metrics::gauge!("numbering_reserve_conversion_24h_ratio").set(share);
    }
    Ok(())
}
