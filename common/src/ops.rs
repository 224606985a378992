//! Every service's operational endpoints: `/metrics` (Prometheus text format) and `/health`.

use std::future::Future;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, Registry, TextEncoder};

/// `/metrics` and `/health` for `registry`; merge into a service's own router or serve alone.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .with_state(registry)
}

async fn metrics(State(registry): State<Registry>) -> impl IntoResponse {
    let mut body = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {error}\n"),
        )
            .into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `/metrics`, `/health` and `/ready` (of `readiness`) on `listener` in a task of its
/// own until `shutdown` is cancelled; `stage` names the service in the log.
pub fn spawn(
    stage: &'static str,
    listener: tokio::net::TcpListener,
    registry: Registry,
    readiness: crate::readiness::Readiness,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(stage, %address, "ops endpoint listening");
    }
    tokio::spawn(serve(
        listener,
        router(registry).merge(crate::readiness::router(readiness)),
        shutdown.cancelled_owned(),
    ))
}

/// Registers a collector, panicking on a duplicate name: that is a programming error found by
/// the first test that builds the metrics.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> C {
    registry
        .register(Box::new(collector.clone()))
        .expect("metric names are unique");
    collector
}
