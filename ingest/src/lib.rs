//! The ingest gateway: `POST /v1/beats` takes a JSON beat from a UCX Suite server, validates
//! it, encodes it as Avro and produces it to the beats topic keyed by installation id. It
//! answers 202 only once the broker has acknowledged the record, and 503 when it did not.

mod beats;
pub mod config;
mod error;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub use config::{IngestConfig, IngestSettings};
use metrics::IngestMetrics;

/// What every request handler shares.
struct AppState {
    producer: Arc<ucx_common::kafka::Producer>,
    beats_topic: String,
    retry_after_seconds: u32,
    max_body_bytes: usize,
    max_batch_beats: usize,
    pii_policy: ucx_schemas::PiiPolicy,
    metrics: IngestMetrics,
}

/// Runs the gateway on `listener` until `shutdown` is cancelled, then drains in-flight requests
/// and flushes the producer.
pub async fn run(
    config: IngestConfig,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let kafka = &config.kafka;
    // A missing broker must not keep the gateway down: it answers 503 until the broker is back.
    if let Err(error) = ucx_common::kafka::ensure_topics(kafka, &[&kafka.beats_topic]).await {
        tracing::warn!(%error, "could not ensure the beats topic exists; continuing");
    }
    let producer = Arc::new(ucx_common::kafka::Producer::new(kafka)?);
    let registry = prometheus::Registry::new();
    let state = Arc::new(AppState {
        producer: producer.clone(),
        beats_topic: kafka.beats_topic.clone(),
        retry_after_seconds: config.ingest.retry_after_seconds,
        max_body_bytes: config.ingest.max_body_bytes,
        max_batch_beats: config.ingest.max_batch_beats,
        pii_policy: config.ingest.pii_policy,
        metrics: IngestMetrics::new(&registry),
    });
    let app = Router::new()
        .route("/v1/beats", post(beats::post_beats))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(config.ingest.max_body_bytes))
        .with_state(state)
        .fallback(error::not_found)
        .merge(ucx_common::ops::router(registry))
        .layer(TraceLayer::new_for_http());
    tracing::info!(address = %listener.local_addr()?, "ingest gateway listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    // Every 202 already waited for its acknowledgement; this only drains stragglers.
    producer.flush(Duration::from_secs(10))?;
    tracing::info!("ingest gateway stopped");
    Ok(())
}

/// The wire format's OpenAPI document (`schemas/openapi.json`).
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ucx_schemas::openapi::OPENAPI_JSON,
    )
}
