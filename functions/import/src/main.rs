//! AWS Lambda entry point: imports a signed file when it (or its `.sig`)
//! lands in the import bucket (S3 `ObjectCreated` notification).

use lambda_runtime::{LambdaEvent, service_fn};
use numbering_clients::lambda;
use numbering_import::{Importer, Limits, s3::S3Trigger};
use numbering_store::{PoolConfig, Store, connect, policy_from_env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_logging();
    let trigger = lambda::init(async {
        let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
        let mut config = PoolConfig::new(url);
        config.max_connections = 2;
        config.set_role = std::env::var("NUMBERING_DB_ROLE")
            .ok()
            .filter(|r| !r.is_empty());
        let store = Store::new(connect(&config).await?, policy_from_env()?);
        let sdk = numbering_clients::aws::sdk_config_from_env().await;
        Ok::<_, lambda_runtime::Error>(S3Trigger::new(
            aws_sdk_s3::Client::new(&sdk),
            Importer::new(store, Limits::from_env()?),
        ))
    })
    .await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::s3::S3Event>| {
            let trigger = trigger.clone();
            async move {
                let handled = trigger.handle(event.payload).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::Value::Array(
                    handled.iter().map(|h| h.json()).collect(),
                ))
            }
        },
    ))
    .await
}
