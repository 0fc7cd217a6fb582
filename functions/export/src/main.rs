//! AWS Lambda entry point: the monthly regulator export, invoked by an
//! EventBridge schedule (`cron(0 1 1 * ? *)`). Signer and store come from
//! `NUMBERING_EXPORT_SIGNER` / `NUMBERING_EXPORT_STORE` (in Lambda: a KMS
//! key and an S3 bucket with Object Lock).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use numbering_clients::lambda;
use numbering_store::{PoolConfig, connect};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_logging();
    let exporter = lambda::init(async {
        let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
        let mut config = PoolConfig::new(url);
        config.max_connections = 4;
        config.set_role = std::env::var("NUMBERING_DB_ROLE")
            .ok()
            .filter(|r| !r.is_empty());
        let pool = connect(&config).await?;
        // Lambda's only writable directory holds the temporary files
        let tools = numbering_export::config::tools_from_env(&std::env::temp_dir()).await?;
        Ok::<_, lambda_runtime::Error>(tools.exporter(pool))
    })
    .await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<EventBridgeEvent<Value>>| {
        let exporter = exporter.clone();
        async move {
            numbering_export::lambda::handle_scheduled(&exporter, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
