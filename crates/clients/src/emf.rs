//! The Lambda edition's metrics: the same `metrics` names and labels as the
//! host's Prometheus `/metrics`, written to stdout in CloudWatch Embedded
//! Metric Format (namespace [`NAMESPACE`]), one JSON document per metric and
//! label set, after each invocation ([`FlushAfter`], [`flush`]). Labels
//! become dimensions; a counter's value is its increase since the previous
//! flush, a gauge's its current value, a histogram's the samples recorded
//! since (at most 100 per document, as EMF allows).

use std::{
    collections::HashMap,
    io::Write,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Numbering";

/// Samples kept per histogram between flushes (more are dropped).
const MAX_SAMPLES: usize = 10_000;

/// A `metrics` recorder that keeps values until they are flushed as EMF.
#[derive(Clone, Default)]
pub struct EmfRecorder {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

enum Entry {
    Counter { value: Arc<AtomicU64>, flushed: u64 },
    Gauge(Arc<AtomicU64>),
    Histogram(Arc<Samples>),
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        let mut samples = self.0.lock().unwrap();
        if samples.len() < MAX_SAMPLES {
            samples.push(value);
        }
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut entries = self.entries.lock().unwrap();
        match entries
            .entry(key.clone())
            .or_insert_with(|| Entry::Counter {
                value: Arc::default(),
                flushed: 0,
            }) {
            Entry::Counter { value, .. } => Counter::from_arc(value.clone()),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut entries = self.entries.lock().unwrap();
        match entries
            .entry(key.clone())
            .or_insert_with(|| Entry::Gauge(Arc::default()))
        {
            Entry::Gauge(value) => Gauge::from_arc(value.clone()),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut entries = self.entries.lock().unwrap();
        match entries
            .entry(key.clone())
            .or_insert_with(|| Entry::Histogram(Arc::default()))
        {
            Entry::Histogram(samples) => Histogram::from_arc(samples.clone()),
            _ => Histogram::noop(),
        }
    }
}

impl EmfRecorder {
    /// The EMF documents of everything recorded since the previous call
    /// (timestamp `now_ms`, Unix milliseconds); counters without increase
    /// and histograms without samples give none.
    pub fn documents(&self, now_ms: i64) -> Vec<Value> {
        let mut entries = self.entries.lock().unwrap();
        let mut docs = Vec::new();
        for (key, entry) in entries.iter_mut() {
            for value in take(entry) {
                docs.push(document(key, value, now_ms));
            }
        }
        docs
    }

    /// Writes [`Self::documents`] to `out`, one JSON document a line.
    pub fn flush_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        for doc in self.documents(now) {
            writeln!(out, "{doc}")?;
        }
        out.flush()
    }
}

/// What an entry has to report now, as EMF metric values.
fn take(entry: &mut Entry) -> Vec<Value> {
    match entry {
        Entry::Counter { value, flushed } => {
            let now = value.load(Ordering::Relaxed);
            let delta = now.saturating_sub(*flushed);
            *flushed = now;
            if delta == 0 {
                vec![]
            } else {
                vec![json!(delta)]
            }
        }
        Entry::Gauge(bits) => vec![json!(f64::from_bits(bits.load(Ordering::Relaxed)))],
        Entry::Histogram(samples) => {
            let drained = std::mem::take(&mut *samples.0.lock().unwrap());
            drained.chunks(100).map(|c| json!(c)).collect()
        }
    }
}

/// One EMF document: the metric `key` with `value`, its labels as dimensions.
fn document(key: &Key, value: Value, now_ms: i64) -> Value {
    let name = key.name();
    let dimensions: Vec<&str> = key.labels().map(|l| l.key()).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{ "Name": name, "Unit": unit_of(name) }],
            }],
        }),
    );
    for label in key.labels() {
        doc.insert(label.key().into(), json!(label.value()));
    }
    doc.insert(name.into(), value);
    Value::Object(doc)
}

/// The CloudWatch unit a metric's name implies (Prometheus naming).
pub fn unit_of(name: &str) -> &'static str {
    if name.ends_with("_seconds") {
        "Seconds"
    } else if name.ends_with("_total") {
        "Count"
    } else {
        "None"
    }
}

static GLOBAL: OnceLock<EmfRecorder> = OnceLock::new();

/// Installs the EMF recorder as the process's `metrics` recorder (once;
/// a process that already has another recorder keeps it).
pub fn install() {
    let recorder = GLOBAL.get_or_init(EmfRecorder::default);
    if metrics::set_global_recorder(recorder.clone()).is_err() {
        tracing::debug!("a metrics recorder was already installed; EMF stays off");
    }
}

/// Writes what was recorded since the previous flush to stdout (nothing
/// when [`install`] was not called).
pub fn flush() {
    if let Some(recorder) = GLOBAL.get() {
        let stdout = std::io::stdout();
        if let Err(e) = recorder.flush_to(&mut stdout.lock()) {
            tracing::warn!(error = %e, "EMF metrics not written");
        }
    }
}

/// A Lambda handler service that [`flush`]es after each invocation.
#[derive(Clone)]
pub struct FlushAfter<S>(pub S);

impl<S, R> lambda_runtime::Service<R> for FlushAfter<S>
where
    S: lambda_runtime::Service<R>,
    S::Future: Send + 'static,
    S::Response: 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = crate::BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let answer = self.0.call(request);
        Box::pin(async move {
            let answer = answer.await;
            flush();
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(record: impl FnOnce()) -> Vec<Value> {
        let recorder = EmfRecorder::default();
        metrics::with_local_recorder(&recorder, record);
        recorder.documents(1_700_000_000_000)
    }

    #[test]
    fn a_counter_is_one_document_in_the_numbering_namespace_with_its_labels_as_dimensions() {
        let docs = recorded(|| {
            metrics::counter!("numbering_validate_lease_unavailable_total").increment(2);
            metrics::counter!("numbering_grpc_calls_total", "caller" => "sms-orchestrator")
                .increment(1);
        });
        let unavailable = docs
            .iter()
            .find(|d| {
                d.get("numbering_validate_lease_unavailable_total")
                    .is_some()
            })
            .unwrap();
        assert_eq!(unavailable["numbering_validate_lease_unavailable_total"], 2);
        let cw = &unavailable["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "Numbering");
        assert_eq!(cw["Metrics"][0]["Unit"], "Count");
        let calls = docs.iter().find(|d| d.get("caller").is_some()).unwrap();
        assert_eq!(calls["caller"], "sms-orchestrator");
        assert_eq!(
            calls["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "caller"
        );
    }

    #[test]
    fn a_counter_reports_its_increase_since_the_previous_flush_and_then_nothing() {
        let recorder = EmfRecorder::default();
        let counter = metrics::with_local_recorder(&recorder, || {
            metrics::counter!("numbering_reserve_attempts_total")
        });
        counter.increment(3);
        assert_eq!(
            recorder.documents(0)[0]["numbering_reserve_attempts_total"],
            3
        );
        assert!(recorder.documents(0).is_empty());
        counter.increment(1);
        assert_eq!(
            recorder.documents(0)[0]["numbering_reserve_attempts_total"],
            1
        );
    }

    #[test]
    fn a_histogram_reports_its_samples_in_seconds_at_most_100_a_document() {
        let docs = recorded(|| {
            let h = metrics::histogram!("numbering_validate_lease_duration_seconds", "tier" => "local", "outcome" => "allow");
            for _ in 0..150 {
                h.record(0.001);
            }
        });
        assert_eq!(docs.len(), 2);
        let values = docs[0]["numbering_validate_lease_duration_seconds"]
            .as_array()
            .unwrap();
        assert_eq!(values.len(), 100);
        assert_eq!(
            docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Seconds"
        );
    }
}
