//! `numbering serve`: REST and gRPC on one port, background jobs, graceful
//! shutdown.

use std::{future::Future, time::Duration, time::Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use numbering_store::{Store, audit};
use numbering_validate_lease::{HotPath, Validator, mtls::CallerAllowlist};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use numbering_http_edge::{ApiState, Edge, openapi};

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: PrometheusHandle,
    /// The hot path (ValidateLease, Lookup) over its read tiers.
    pub validator: Validator,
    /// Serve the hot path (NumberingService and its JSON routes) on the
    /// plaintext port (false when mTLS is configured: then only the mTLS
    /// listener serves it).
    pub grpc_on_plaintext: bool,
    /// JWT verification, body limit and the portal's rate limiter.
    pub edge: Edge,
    /// The relay, inbound consumers and sweeper (None: no NATS).
    pub events: Option<crate::events::Events>,
}

/// The REST edge from configuration: HS256 (the configured or development
/// secret) and/or a JWKS (file, inline, or URL kept fresh in the
/// background), the body limit, the portal's rate limit and sender-id
/// registry.
pub fn edge(config: &Config, hs256_secret: Option<&str>) -> anyhow::Result<Edge> {
    let edge = config.edge.edge(hs256_secret)?;
    edge.verifier.spawn_refresh(config.edge.jwt.jwks_max_age);
    Ok(config.two_person.apply(config.portal.apply(edge)?))
}

/// Both REST APIs and their OpenAPI document (`/openapi.json`, `/docs`).
pub fn rest_router(store: Store, edge: Edge) -> Router {
    let portal = ApiState {
        store: store.clone(),
        edge: edge.clone(),
    };
    // the rate limit is the portal's; admins are few and trusted
    let admin = ApiState {
        store,
        edge: Edge {
            limiter: None,
            ..edge
        },
    };
    let mut ops = numbering_portal_api::operations();
    ops.extend(numbering_admin_api::operations());
    numbering_portal_api::router(portal)
        .merge(numbering_admin_api::router(admin))
        .merge(openapi::docs_router("numbering-service REST API", ops))
}

/// The whole HTTP surface: health, metrics, the REST routers, and the gRPC
/// services (same port; HTTP/2 requests with `application/grpc` are routed
/// to tonic by path): standard health and reflection ([`crate::grpc`]) and,
/// unless mTLS is configured, the hot path (`numbering.v1.NumberingService`
/// and its JSON routes), which is otherwise served only on the mTLS listener.
pub fn router(state: AppState) -> Router {
    app(state, watch::channel(false).1)
}

/// [`router`], whose gRPC health turns NOT_SERVING once `draining` is true.
fn app(state: AppState, draining: watch::Receiver<bool>) -> Router {
    // no gRPC fallback: it would answer every unknown REST path with 200
    // and grpc-status 12; an unknown gRPC path gets 404, which gRPC clients
    // read as UNIMPLEMENTED
    let mut grpc = tonic::service::Routes::from(Router::new());
    if state.grpc_on_plaintext {
        grpc = grpc.add_service(HotPath::new(state.validator.clone()).into_server());
    }
    let grpc = crate::grpc::with_standard_services(
        grpc,
        state.store.clone(),
        state.grpc_on_plaintext,
        draining,
    );
    let mut ops = ops_router(state.clone());
    if state.grpc_on_plaintext {
        ops = ops.merge(numbering_validate_lease::router(state.validator.clone()));
    }
    // REST latency per route; gRPC is measured by the hot path's own metrics
    let app = ops
        .merge(rest_router(state.store.clone(), state.edge.clone()))
        .layer(middleware::from_fn(track_requests))
        .merge(grpc.into_axum_router());
    // outermost: the access log line is written inside the request's span
    state
        .edge
        .access_log
        .wrap(app)
        .layer(numbering_clients::traces::TraceLayer)
}

/// The mTLS listener: the hot path (gRPC and JSON) for allowlisted callers
/// only, beside health and reflection.
pub struct GrpcTls {
    pub listener: TcpListener,
    /// Its certificate, key and client CA (reloaded when their files change).
    pub tls: crate::tls_reload::ServerTls,
    pub allowlist: CallerAllowlist,
}

/// What `run` serves besides the one port.
#[derive(Default)]
pub struct Extras {
    pub grpc_tls: Option<GrpcTls>,
    /// NATS connection: subscribe to cache invalidations.
    pub nats: Option<async_nats::Client>,
    /// Projects lease-state changes into the lease cache before the relay
    /// publishes the invalidation (set when the DynamoDB tier is on).
    pub projection: Option<std::sync::Arc<dyn numbering_outbox_relay::Projection>>,
    /// The audit jobs' schedule.
    pub audit: crate::audit_jobs::AuditJobsConfig,
    /// `NUMBERING_EXPORT_SCHEDULE_ENABLED=false`: no monthly export here
    /// (a Kubernetes CronJob runs `numbering export scheduled` instead).
    pub no_export_schedule: bool,
    /// `NUMBERING_OPS_LISTEN`, bound: health and metrics on a port of their own.
    pub ops: Option<TcpListener>,
    /// `NUMBERING_SHUTDOWN_DRAIN`: how long in-flight requests may take
    /// after the shutdown signal ([`crate::drain`]; `None`: unbounded).
    pub drain: Option<Duration>,
}

/// Health and metrics: `/healthz`, `/readyz`, `/metrics`; on the main port,
/// and alone on `NUMBERING_OPS_LISTEN` when set (probes and Prometheus then
/// need no access to the REST port).
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    match crate::grpc::readiness(&state.store).await {
        Ok(()) => Json(with_region(
            json!({ "status": "ready", "database": "ok", "migrations": "applied" }),
        ))
        .into_response(),
        Err(e) => {
            if let crate::grpc::NotReady::Unreachable(e) = &e {
                tracing::warn!(error = %e, "readiness check failed");
            }
            not_ready(e.detail())
        }
    }
}

/// `"region"` (`NUMBERING_REGION`), when set, in a `/readyz` body.
fn with_region(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(region) = numbering_clients::region::current() {
        body["region"] = json!(region.as_str());
    }
    body
}

fn not_ready(detail: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(with_region(json!({
            "type": "about:blank", "title": "Service Unavailable", "status": 503,
            "code": "NOT_READY", "detail": detail,
        }))),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Request latency per matched route, method and status.
async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("numbering_http_request_duration_seconds",
        "route" => route, "method" => method, "status" => status)
    .record(start.elapsed().as_secs_f64());
    response
}

/// Serves until `shutdown` resolves, then drains in-flight requests and
/// stops the background jobs.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    seal_every: Duration,
    extras: Extras,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (drain_tx, draining) = watch::channel(false);
    let mut jobs = JoinSet::new();
    // the writers run only while the pool is on a read-write primary
    crate::primary_gate::spawn_writers(&state, &extras, seal_every, &mut jobs, &stop_rx);
    jobs.spawn(crate::readiness::gauges::run(
        state.store.pool().clone(),
        stop_rx.clone(),
    ));
    if let Some(nats) = extras.nats {
        let reader = state.validator.reader().clone();
        let handle =
            numbering_validate_lease::invalidation::subscribe(nats, reader, stop_rx.clone())
                .await
                .map_err(|e| anyhow::anyhow!("subscribing to cache invalidations: {e}"))?;
        jobs.spawn(async move {
            let _ = handle.await;
        });
    }
    if let Some(tls) = extras.grpc_tls {
        spawn_mtls(&mut jobs, &state, tls, draining.clone());
    }
    if let Some(listener) = extras.ops {
        spawn_ops(&mut jobs, &state, listener, draining.clone());
    }
    let app = app(state, draining.clone());
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = drain_tx.send(true);
    });
    crate::drain::bounded(serving, draining, extras.drain).await?;
    tracing::info!("stopped accepting requests; stopping background jobs");
    crate::drain::stop_jobs(&stop_tx, &mut jobs, extras.drain.is_some()).await;
    Ok(())
}

/// The mTLS listener; it drains with the plaintext port, from the shutdown
/// signal on.
fn spawn_mtls(
    jobs: &mut JoinSet<()>,
    state: &AppState,
    tls: GrpcTls,
    mut draining: watch::Receiver<bool>,
) {
    let routes = crate::grpc::with_standard_services(
        numbering_validate_lease::mtls::authenticated(state.validator.clone(), tls.allowlist),
        state.store.clone(),
        true,
        draining.clone(),
    );
    let incoming = tls.tls.incoming(tls.listener);
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(numbering_clients::traces::TraceLayer)
        .add_routes(routes);
    jobs.spawn(async move {
        let stopped = async move {
            let _ = draining.wait_for(|d| *d).await;
        };
        if let Err(e) = server.serve_with_incoming_shutdown(incoming, stopped).await {
            tracing::error!(error = %e, "the mTLS listener failed");
        }
    });
}

/// The ops listener (`NUMBERING_OPS_LISTEN`), draining with the others.
fn spawn_ops(
    jobs: &mut JoinSet<()>,
    state: &AppState,
    listener: TcpListener,
    mut draining: watch::Receiver<bool>,
) {
    let ops = axum::serve(listener, ops_router(state.clone())).with_graceful_shutdown(async move {
        let _ = draining.wait_for(|d| *d).await;
    });
    jobs.spawn(async move {
        if let Err(e) = ops.await {
            tracing::error!(error = %e, "the ops listener failed");
        }
    });
}

/// Seals finished audit entries into the hash chain, shortly after commit.
pub(crate) async fn seal_audit(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        match audit::seal_all(store.pool()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sealed = n, "sealed audit entries"),
            Err(e) => tracing::warn!(error = %e, "audit sealing failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {
                let _ = audit::seal_all(store.pool()).await;
                return;
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}
