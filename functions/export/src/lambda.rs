//! The Lambda trigger: EventBridge's monthly scheduled event
//! (`cron(0 1 1 * ? *)`, 01:00 UTC on the 1st) exports the month before the
//! event's time, unless that period already has an export.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::Utc;
use numbering_clients::lambda::{self, BoxError};
use serde_json::{Value, json};

use crate::{ExportError, Exporter, config::Config};

/// Connects and builds the exporter (Lambda's only writable directory, the
/// temporary one, holds its files), then handles scheduled events.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let ready = async move {
        let store = config.store.connect().await?;
        let tools = config.export.tools(&std::env::temp_dir()).await?;
        Ok(tools.exporter(store.pool().clone()))
    };
    lambda::serve_events(ready, |exporter: Exporter, event| async move {
        Ok(handle_scheduled(&exporter, event).await?)
    })
    .await
}

/// Handles one scheduled event; answers what it did.
pub async fn handle_scheduled(
    exporter: &Exporter,
    event: EventBridgeEvent<Value>,
) -> Result<Value, ExportError> {
    let now = event.time.unwrap_or_else(Utc::now);
    Ok(match exporter.scheduled(now).await? {
        Some(record) => json!({
            "generated": true, "export_id": record.id, "period": record.period,
            "version": record.version, "storage_uri": record.storage_uri,
        }),
        None => json!({ "generated": false, "period": crate::Period::previous(now).to_string() }),
    })
}
