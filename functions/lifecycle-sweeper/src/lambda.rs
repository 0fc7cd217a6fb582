//! The `lifecycle-sweeper` Lambda: one sweep per EventBridge scheduled
//! event (every minute; the event's content is not used).

use numbering_clients::lambda::{self, BoxError};
use serde_json::{Value, json};

use crate::{Sweeper, SweeperConfig, config::Config};

/// Connects and builds the sweeper, then sweeps once per event, answering
/// what the sweep did.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let ready = async move {
        let store = config.store.connect().await?;
        let billing = config.billing.client()?;
        Ok(Sweeper::new(store, billing, SweeperConfig::default()))
    };
    lambda::serve_events(ready, |sweeper: Sweeper, _: Value| async move {
        let r = sweeper.sweep().await?;
        Ok(json!({
            "ran": r.ran, "reservations_lapsed": r.reservations_lapsed,
            "quarantines_ended": r.quarantines_ended, "renewed": r.renewed,
            "declined": r.declined, "billing_unavailable": r.billing_unavailable,
            "leases_expired": r.leases_expired,
        }))
    })
    .await
}
