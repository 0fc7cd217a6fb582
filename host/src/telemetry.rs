//! Structured logs (JSON with `NUMBERING_LOG_FORMAT=json`) and Prometheus metrics.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
// ValidateLease's and Lookup's end-to-end latency: buckets at the seed's
// 20 ms and 50 ms and well above
use numbering_validate_lease::latency::{BUCKETS, LOOKUP_METRIC, VALIDATE_METRIC};

/// Installs the log subscriber once per process (the one every deployable
/// installs); later calls do nothing.
pub use numbering_clients::telemetry::init_logging;

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = prometheus()
                .install_recorder()
                .expect("the metrics recorder is installed once");
            // the window a scrape's counters cover (`numbering readiness`)
            metrics::gauge!("process_start_time_seconds")
                .set(chrono::Utc::now().timestamp() as f64);
            handle
        })
        .clone()
}

/// The Prometheus exporter as [`metrics`] installs it: request-scale
/// buckets (0.5 ms to 2.5 s) for every histogram, but the outbox lag's own,
/// which reach up to an hour.
pub fn prometheus() -> PrometheusBuilder {
    let builder = match numbering_clients::region::current() {
        // `NUMBERING_REGION` labels every series
        Some(region) => PrometheusBuilder::new().add_global_label("region", region.as_str()),
        None => PrometheusBuilder::new(),
    };
    builder
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])
        .expect("static buckets are valid")
        .set_buckets_for_metric(
            Matcher::Full(numbering_outbox_relay::LAG_METRIC.to_owned()),
            numbering_outbox_relay::LAG_BUCKETS,
        )
        .expect("static buckets are valid")
        .set_buckets_for_metric(Matcher::Full(VALIDATE_METRIC.to_owned()), BUCKETS)
        .expect("static buckets are valid")
        .set_buckets_for_metric(Matcher::Full(LOOKUP_METRIC.to_owned()), BUCKETS)
        .expect("static buckets are valid")
}
