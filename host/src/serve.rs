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
use numbering_validate_lease::Validator;
use serde_json::json;
use tokio::{net::TcpListener, sync::watch, task::JoinSet};

use crate::runtime::migrations_applied;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: PrometheusHandle,
    /// The relay, inbound consumers and sweeper (None: no NATS).
    pub events: Option<crate::events::Events>,
}

/// The whole HTTP surface: health, metrics, the function routers, and the
/// gRPC services (same port; HTTP/2 requests with `application/grpc` are
/// routed to tonic by path).
pub fn router(state: AppState) -> Router {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // The overall service is SERVING while this process serves.
    drop(health_reporter);
    let grpc = tonic::service::Routes::new(health_service).into_axum_router();
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone());
    ops.merge(numbering_validate_lease::router(Validator::new(
        state.store.clone(),
    )))
    .merge(grpc)
    .layer(middleware::from_fn(track_requests))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        migrations_applied(state.store.pool()),
    )
    .await;
    match check {
        Ok(Ok(true)) => {
            Json(json!({ "status": "ready", "database": "ok", "migrations": "applied" }))
                .into_response()
        }
        Ok(Ok(false)) => not_ready("database migrations are not fully applied"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready("database unreachable")
        }
        Err(_) => not_ready("database did not answer within 2 s"),
    }
}

fn not_ready(detail: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(json!({
            "type": "about:blank", "title": "Service Unavailable", "status": 503,
            "code": "NOT_READY", "detail": detail,
        })),
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
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut jobs = JoinSet::new();
    jobs.spawn(seal_audit(state.store.clone(), seal_every, stop_rx.clone()));
    if let Some(events) = state.events.clone() {
        events.spawn(&state.store, &mut jobs, stop_rx.clone());
    }
    jobs.spawn(maintain_partitions(state.store.clone(), stop_rx));
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("stopped accepting requests; stopping background jobs");
    let _ = stop_tx.send(true);
    while jobs.join_next().await.is_some() {}
    Ok(())
}

/// Seals finished audit entries into the hash chain, shortly after commit.
async fn seal_audit(store: Store, every: Duration, mut stop: watch::Receiver<bool>) {
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

/// Keeps three months of audit partitions ahead, checked every 6 hours.
async fn maintain_partitions(store: Store, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sqlx::query("SELECT numbering.maintain_audit_partitions(3)")
            .execute(store.pool())
            .await
        {
            tracing::warn!(error = %e, "audit partition maintenance failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(6 * 3600)) => {}
            _ = stop.changed() => return,
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
