//! The Lambda trigger: EventBridge's monthly scheduled event
//! (`cron(0 1 1 * ? *)`, 01:00 UTC on the 1st) exports the month before the
//! event's time, unless that period already has an export.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::Utc;
use serde_json::{Value, json};

use crate::{ExportError, Exporter};

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
