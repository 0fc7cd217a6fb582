//! The `import-s3` Lambda: imports a signed file when it (or its `.sig`)
//! lands in the import bucket (S3 `ObjectCreated` notification).

use aws_lambda_events::event::s3::S3Event;
use numbering_clients::lambda::{self, BoxError};
use serde_json::Value;

use crate::{
    Importer,
    config::Config,
    s3::{Handled, S3Trigger},
};

/// Connects and builds the trigger, then handles bucket notifications,
/// answering what each record became.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let ready = async move {
        let store = config.store.connect().await?;
        let sdk = numbering_clients::aws::sdk_config_from_env().await;
        // a custom endpoint (an S3-compatible store) is addressed path-style
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Ok(S3Trigger::new(
            aws_sdk_s3::Client::from_conf(s3),
            Importer::new(store, config.limits),
        ))
    };
    lambda::serve_events(ready, |trigger: S3Trigger, event: S3Event| async move {
        let handled = trigger.handle(event).await?;
        // a refused file fails the invocation: Lambda's on-failure
        // destination then receives the event with the refusal
        let refused: Vec<Value> = handled
            .iter()
            .filter(|h| matches!(h, Handled::Refused { .. }))
            .map(Handled::json)
            .collect();
        if !refused.is_empty() {
            return Err(format!("import refused: {}", Value::Array(refused)).into());
        }
        Ok(Value::Array(handled.iter().map(|h| h.json()).collect()))
    })
    .await
}
