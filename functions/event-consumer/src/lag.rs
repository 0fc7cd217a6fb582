//! Consumer lag of the inbound JetStream consumers, read from each durable
//! consumer's info every [`LAG_EVERY`]:
//! `numbering_consumer_pending_messages{consumer}` (in the stream, not yet
//! delivered) and `numbering_consumer_ack_pending_messages{consumer}`
//! (delivered, not yet acknowledged).

use std::time::Duration;

use tokio::sync::watch;

use crate::{EventConsumer, SUBJECTS};

/// How often the lag is read.
pub const LAG_EVERY: Duration = Duration::from_secs(15);

impl EventConsumer {
    /// Records the lag every [`LAG_EVERY`] until `stop`.
    pub async fn report_lag(self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            self.record_lag().await;
            tokio::select! {
                _ = tokio::time::sleep(LAG_EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Reads every inbound consumer's info once and sets its gauges; a
    /// consumer that cannot be read keeps its last values (and is logged).
    pub async fn record_lag(&self) {
        for subject in SUBJECTS {
            let info = match self.consumer(subject).await {
                Ok(mut c) => c.info().await.cloned().map_err(anyhow::Error::new),
                Err(e) => Err(e),
            };
            match info {
                Ok(i) => {
                    let name = i.name.clone();
                    metrics::gauge!("numbering_consumer_pending_messages", "consumer" => name.clone())
                        .set(i.num_pending as f64);
                    metrics::gauge!("numbering_consumer_ack_pending_messages", "consumer" => name)
                        .set(i.num_ack_pending as f64);
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), subject, "consumer lag not read")
                }
            }
        }
    }
}
