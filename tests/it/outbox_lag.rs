//! The outbox lag as Prometheus sees it: the histogram's buckets reach far
//! past the 5 s objective, and a gauge shows the oldest event still waiting.
//!
//! Each test records into a recorder of its own (the exporter as the host
//! installs it), set for its thread: the test runs on a current-thread
//! runtime, so everything it drives records there, and the tests running
//! beside it cannot change what it reads.

use numbering_outbox_relay::{LAG_METRIC, OLDEST_UNPUBLISHED_METRIC, Relay, ensure_streams};
use numbering_tests::{TestDb, TestNats, lease_all};

use crate::relay::fast;

/// `histogram_quantile(q, …)` as Prometheus computes it from the
/// cumulative `_bucket` series of `metric` in an exposition.
fn histogram_quantile(q: f64, exposition: &str, metric: &str) -> Option<f64> {
    let prefix = format!("{metric}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = exposition
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (i, &(le, count)) in buckets.iter().enumerate() {
        if count >= rank {
            if le.is_infinite() {
                // Prometheus answers the highest finite bound
                return Some(buckets[i.checked_sub(1)?].0);
            }
            return Some(lower + (le - lower) * (rank - below) / (count - below));
        }
        (lower, below) = (le, count);
    }
    None
}

fn gauge(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_quantile_of_the_histogram_is_computed_as_prometheus_does() {
    let exposition = "x_bucket{le=\"1\"} 0\nx_bucket{le=\"2\"} 10\nx_bucket{le=\"+Inf\"} 10\n";
    assert_eq!(histogram_quantile(0.5, exposition, "x"), Some(1.5));
    let overflow = "x_bucket{le=\"1\"} 0\nx_bucket{le=\"2.5\"} 0\nx_bucket{le=\"+Inf\"} 1\n";
    assert_eq!(histogram_quantile(0.95, overflow, "x"), Some(2.5));
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_published_ten_minutes_late_reads_as_late_and_the_wait_shows_before_it_is_published()
 {
    let recorder = numbering::telemetry::prometheus().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);

    let db = TestDb::new().await;
    let nats = TestNats::start();
    let acme = db.pool_for("acme").await;
    let ids = db.inventory(&["+93791238001"]).await;
    lease_all(&db, &acme, &ids).await;
    // the events have waited ten minutes (a relay that was down, say)
    sqlx::query("UPDATE numbering.outbox SET occurred_at = now() - interval '600 seconds'")
        .execute(&db.owner)
        .await
        .unwrap();
    let events = db.count("numbering.outbox").await as usize;
    let relay = Relay::new(db.app.clone(), nats.client().await, fast());

    // no streams yet: publishing fails, and the gauge shows the wait
    assert!(relay.publish_pending().await.is_err());
    let stuck = metrics.render();
    assert!(
        gauge(&stuck, OLDEST_UNPUBLISHED_METRIC).is_some_and(|age| age >= 600.0),
        "{stuck}"
    );
    assert_eq!(histogram_quantile(0.95, &stuck, LAG_METRIC), None);

    ensure_streams(relay.jetstream()).await.unwrap();
    assert_eq!(relay.publish_pending().await.unwrap(), events);
    let published = metrics.render();
    let p95 = histogram_quantile(0.95, &published, LAG_METRIC).expect("lag observations");
    assert!(p95 >= 600.0, "P95 {p95} s:\n{published}");

    // nothing waits any more
    assert_eq!(relay.publish_pending().await.unwrap(), 0);
    assert_eq!(
        gauge(&metrics.render(), OLDEST_UNPUBLISHED_METRIC),
        Some(0.0)
    );
}
