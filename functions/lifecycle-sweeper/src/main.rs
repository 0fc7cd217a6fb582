//! AWS Lambda entry point: one sweep per invocation, scheduled every minute
//! by EventBridge (the event's content is not used).

use std::{sync::Arc, time::Duration};

use lambda_runtime::{LambdaEvent, service_fn};
use numbering_clients::{GrpcBilling, channel, lambda};
use numbering_lifecycle_sweeper::{Sweeper, SweeperConfig};
use numbering_store::{PoolConfig, Store, connect, policy_from_env};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_logging();
    let sweeper = lambda::init(async {
        let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
        let billing_url = std::env::var("BILLING_URL").map_err(|_| "BILLING_URL is not set")?;
        let mut config = PoolConfig::new(url);
        config.max_connections = 4;
        config.set_role = std::env::var("NUMBERING_DB_ROLE")
            .ok()
            .filter(|r| !r.is_empty());
        let store = Store::new(connect(&config).await?, policy_from_env()?);
        let billing = Arc::new(GrpcBilling::new(channel(
            &billing_url,
            Duration::from_secs(3),
        )?));
        Ok::<_, lambda_runtime::Error>(Sweeper::new(store, billing, SweeperConfig::default()))
    })
    .await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let sweeper = sweeper.clone();
        async move {
            let r = sweeper.sweep().await?;
            Ok::<_, lambda_runtime::Error>(json!({
                "ran": r.ran, "reservations_lapsed": r.reservations_lapsed,
                "quarantines_ended": r.quarantines_ended, "renewed": r.renewed,
                "declined": r.declined, "billing_unavailable": r.billing_unavailable,
                "leases_expired": r.leases_expired,
            }))
        }
    }))
    .await
}
