//! Traces: OpenTelemetry spans over OTLP, for every deployable.
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; then spans go to that
//! collector over OTLP `http/protobuf` (the only
//! `OTEL_EXPORTER_OTLP_PROTOCOL` built in), in batches from a thread of
//! their own, named `OTEL_SERVICE_NAME` (default `numbering-service`).
//!
//! [`TraceLayer`] opens the `request` span of every HTTP and gRPC request
//! and joins the caller's trace when a W3C `traceparent` header (gRPC:
//! metadata) names one. ValidateLease and Lookup are traced only one in
//! `1 / NUMBERING_TRACE_HOT_PATH_RATIO` (default 0.01): the others create no
//! span at all, so the hot path pays one atomic increment. Inside a request
//! the store's transaction and each hot-path tier add a child span (only
//! under a request span, see [`child`]).
//!
//! The request's trace id goes into the request's extensions as [`TraceId`]
//! (the REST edge puts it into the audit context, and from there into the
//! audit entry and the outbox events) and into the span's `trace_id` field,
//! which every log line inside the request carries. With tracing off, a
//! caller's `traceparent` is still carried so (its trace id, no spans
//! exported).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::future::Either;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Instrument, Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, filter::Targets, registry::LookupSpan};

/// The target of every span this service opens (the only one exported).
pub const TARGET: &str = "numbering::trace";

/// The hot path's sampling ratio variable.
pub const HOT_PATH_RATIO_VAR: &str = "NUMBERING_TRACE_HOT_PATH_RATIO";

/// The routes traced only one in `1 / ratio` times.
const HOT_PATHS: [&str; 4] = [
    "/v1/validate-lease",
    "/v1/lookup",
    "/numbering.v1.NumberingService/ValidateLease",
    "/numbering.v1.NumberingService/Lookup",
];

/// The trace id of a request (32 lowercase hex digits), in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceId(pub String);

/// What the process decided at start.
struct Tracing {
    provider: Option<SdkTracerProvider>,
    /// Trace one in `hot_stride` hot-path requests (0: none).
    hot_stride: u64,
    hot_requests: AtomicU64,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

fn tracing_state() -> &'static Tracing {
    TRACING.get_or_init(|| Tracing {
        provider: None,
        hot_stride: 0,
        hot_requests: AtomicU64::new(0),
    })
}

/// Whether spans are exported (an OTLP endpoint is configured).
pub fn enabled() -> bool {
    tracing_state().provider.is_some()
}

/// The OpenTelemetry layer of the log subscriber: `None` when no endpoint
/// is configured (or the exporter cannot be built: logged to stderr, the
/// service runs untraced). Call once, from [`crate::telemetry`].
pub(crate) fn layer<S>(get: impl Fn(&str) -> Option<String>) -> Option<impl Layer<S>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let provider = match provider(&get) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("traces are off: {e}");
            None
        }
    };
    let stride = match hot_stride(&get) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}; tracing no hot-path request");
            0
        }
    };
    let tracer = provider.as_ref().map(|p| p.tracer("numbering"));
    let _ = TRACING.set(Tracing {
        hot_stride: if provider.is_some() { stride } else { 0 },
        provider,
        hot_requests: AtomicU64::new(0),
    });
    tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE))
    })
}

/// The tracer provider the environment asks for (`None`: traces off).
fn provider(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SdkTracerProvider>, String> {
    let set = |k: &str| get(k).is_some_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return Ok(None);
    }
    let protocol = get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .filter(|p| !p.trim().is_empty());
    if let Some(p) = protocol.filter(|p| p.trim() != "http/protobuf") {
        return Err(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={p:?}: only http/protobuf is built in"
        ));
    }
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    // the endpoint, headers and timeout come from the standard variables
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    let name = get("OTEL_SERVICE_NAME")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "numbering-service".to_owned());
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(name).build())
            .build(),
    ))
}

/// One in how many hot-path requests is traced, from
/// `NUMBERING_TRACE_HOT_PATH_RATIO` (0 to 1; default 0.01).
fn hot_stride(get: &impl Fn(&str) -> Option<String>) -> Result<u64, String> {
    let ratio = match get(HOT_PATH_RATIO_VAR).filter(|v| !v.trim().is_empty()) {
        None => 0.01,
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("{HOT_PATH_RATIO_VAR}={v:?} is not a ratio from 0 to 1"))?,
    };
    Ok(stride(ratio))
}

fn stride(ratio: f64) -> u64 {
    if ratio <= 0.0 {
        0
    } else {
        (1.0 / ratio).round().max(1.0) as u64
    }
}

/// Exports the spans still buffered; call once, when the process ends.
pub fn flush() {
    if let Some(p) = &tracing_state().provider {
        let _ = p.force_flush();
        let _ = p.shutdown();
    }
}

/// A child span of the current request's span: `Span::none()` outside one
/// (an untraced hot-path request, a background job), so that only traced
/// requests pay for spans.
#[macro_export]
macro_rules! child_span {
    ($name:literal $(, $($fields:tt)*)?) => {
        if $crate::traces::in_traced_span() {
            ::tracing::info_span!(target: "numbering::trace", $name $(, $($fields)*)?)
        } else {
            ::tracing::Span::none()
        }
    };
}

/// Whether the current span is one of this service's (a traced request or
/// a span inside one). The store asks the same of its transactions.
pub fn in_traced_span() -> bool {
    Span::current()
        .metadata()
        .is_some_and(|m| m.target() == TARGET)
}

/// The tower layer that opens each request's span (see the module doc):
/// on the host's router, its mTLS listener and each Lambda's router.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Traced<S>;
    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// A service under [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Traced<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let Some(span) = request_span(&mut req) else {
            return Either::Left(self.inner.call(req));
        };
        let inner = span.in_scope(|| self.inner.call(req));
        let recorded = span.clone();
        Either::Right(Box::pin(
            async move {
                let answer = inner.await;
                if let Ok(r) = &answer {
                    recorded.record("http.response.status_code", r.status().as_u16());
                }
                answer
            }
            .instrument(span),
        ))
    }
}

/// The span of `req`, with its trace id recorded and put into its
/// extensions; `None` when the request is not traced.
fn request_span<B>(req: &mut http::Request<B>) -> Option<Span> {
    let state = tracing_state();
    let path = req.uri().path();
    if HOT_PATHS.contains(&path) && !state.sample_hot() {
        return None;
    }
    let on = state.provider.is_some();
    let caller = if on {
        None
    } else {
        // off: no span to export, but the caller's trace id is carried
        Some(traceparent_trace_id(req.headers())?)
    };
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().starts_with(b"application/grpc"));
    let name = if grpc {
        path.to_owned()
    } else {
        format!("{} {path}", req.method())
    };
    let span = tracing::info_span!(target: "numbering::trace", "request",
        otel.name = %name, otel.kind = "server",
        http.request.method = %req.method(), url.path = %path,
        http.response.status_code = field::Empty, trace_id = field::Empty);
    if span.is_disabled() {
        return None;
    }
    let id = match caller {
        Some(id) => id,
        None => {
            let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
            let _ = span.set_parent(parent);
            let id = span.context().span().span_context().trace_id();
            if id == opentelemetry::trace::TraceId::INVALID {
                return Some(span);
            }
            id.to_string()
        }
    };
    span.record("trace_id", id.as_str());
    req.extensions_mut().insert(TraceId(id));
    Some(span)
}

impl Tracing {
    fn sample_hot(&self) -> bool {
        self.hot_stride != 0
            && self.hot_requests.fetch_add(1, Ordering::Relaxed) % self.hot_stride == 0
    }
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`,
/// neither id all zeros).
pub fn traceparent_trace_id(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = v.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let [version, trace, span, flags] = parts[..] else {
        return None;
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then(|| trace.to_owned())
}

/// Request headers (gRPC metadata alike) as the propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("traceparent", traceparent.parse().unwrap());
        h
    }

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_and_anything_else_none() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            traceparent_trace_id(&headers(&format!("00-{id}-00f067aa0ba902b7-01"))),
            Some(id.to_owned())
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(traceparent_trace_id(&headers(bad)), None, "{bad}");
        }
        assert_eq!(traceparent_trace_id(&http::HeaderMap::new()), None);
    }

    #[test]
    fn the_hot_path_ratio_is_one_in_n_and_defaults_to_one_in_a_hundred() {
        let ratio = |v: Option<&str>| hot_stride(&|_: &str| v.map(str::to_owned));
        assert_eq!(ratio(None), Ok(100));
        assert_eq!(ratio(Some("1")), Ok(1));
        assert_eq!(ratio(Some("0.25")), Ok(4));
        assert_eq!(ratio(Some("0")), Ok(0));
        assert!(ratio(Some("2")).is_err());
        assert!(ratio(Some("often")).is_err());
    }

    #[test]
    fn traces_are_off_without_an_endpoint_and_refuse_a_protocol_not_built_in() {
        assert!(provider(&|_: &str| None).unwrap().is_none());
        let grpc = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4317".to_owned()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
            _ => None,
        };
        assert!(provider(&grpc).unwrap_err().contains("http/protobuf"));
    }
}
