//! AWS Lambda entry point: validate-lease and lookup as JSON behind `lambda_http`.

use std::time::Duration;

use numbering_clients::lambda;
use numbering_http_edge::AccessLog;
use numbering_store::{PoolConfig, SnapshotReader, Store, connect, policy_from_env};
use numbering_validate_lease::{DynamoTier, LeaseReader, TierConfig, Validator, dynamo, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    let app = lambda::init(async {
        let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
        let mut config = PoolConfig::new(url);
        config.max_connections = 2;
        config.set_role = std::env::var("NUMBERING_DB_ROLE")
            .ok()
            .filter(|r| !r.is_empty());
        let access_log = AccessLog::from_env()?;
        let store = Store::new(connect(&config).await?, policy_from_env()?);
        let snapshots = SnapshotReader::connect_like(store.pool(), 2).await?;
        let tiers = TierConfig::default();
        let dynamo = match std::env::var("NUMBERING_LEASE_CACHE_TABLE") {
            Ok(table) => {
                let client = dynamo::client_from_env(tiers.dynamo_deadline).await;
                Some(DynamoTier::new(client, table, Duration::from_secs(30)))
            }
            Err(_) => None,
        };
        let validator = Validator::new(LeaseReader::new(store, snapshots, dynamo, tiers));
        Ok::<_, lambda_http::Error>(access_log.wrap(router(validator)))
    })
    .await?;
    lambda_http::run(app).await
}
