//! The ingest gateway: `POST /v1/beats` takes JSON beats from a UCX Suite server that presents
//! its installation key, validates them, encodes them as Avro and produces them to the beats
//! topic keyed by installation id. It answers 202 only once the broker has acknowledged the
//! records, and 503 when it did not. A second listener, for operators only, serves the admin
//! API (`/v1/admin/…`, which manages the customer registry), `/metrics` and `/ready`.

mod admin;
mod auth;
mod beats;
mod client_ip;
pub mod config;
mod connections;
mod error;
mod guard;
pub mod keys;
mod metrics;
mod parse_refusals;
mod rate_limit;
pub mod records;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio_util::sync::CancellationToken;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use ucx_common::registry::RegistryView;

pub use config::{IngestConfig, IngestSettings};
use metrics::IngestMetrics;

/// What every request handler shares.
struct AppState {
    records: Arc<dyn records::RecordSink>,
    beats_topic: String,
    registry_topic: String,
    registry: Arc<RegistryView>,
    rate_limit: rate_limit::InstallationRateLimit,
    failed_auth: rate_limit::FailedAuthLimit,
    /// Places of the beat requests handled at once.
    in_flight: Arc<tokio::sync::Semaphore>,
    body_timeout: Duration,
    /// Hash of (installation id, beat id) → content hash of the beats accepted lately. Hashes,
    /// not the ids: no allocation per beat (the ids as keys cost the gateway a third more CPU
    /// per beat in the benchmark); a 64-bit collision among 100,000 entries is ~1e-10 likely.
    recent_beats: Option<std::sync::Mutex<hashlink::LruCache<u64, u64>>>,
    trusted_proxies: client_ip::TrustedProxies,
    admin_token: Option<ucx_common::secret::Secret>,
    /// One admin change at a time per gateway: each reads the registry, then publishes.
    admin_writes: tokio::sync::Mutex<()>,
    retry_after_seconds: u32,
    max_body_bytes: usize,
    max_batch_beats: usize,
    pii_policy: ucx_schemas::PiiPolicy,
    /// The region served (data residency); `None`: all.
    region: Option<ucx_schemas::Region>,
    /// Each region's beats endpoint, for the 421 answer.
    region_endpoints: std::collections::HashMap<ucx_schemas::Region, String>,
    metrics: IngestMetrics,
    readiness: ucx_common::readiness::Readiness,
}

/// The `ucx-ingest` binary: configuration, logging, listener, and a run until SIGTERM.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &IngestConfig| &config.ingest.listen, run).await
}

/// Runs the gateway with `listener` as its public listener and the admin listener bound at
/// `ingest.admin_listen`; see [`run_on`].
pub async fn run(
    config: IngestConfig,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.ingest.check()?;
    let address = &config.ingest.admin_listen;
    let admin = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on {address} (ingest.admin_listen): {error}")
        })?;
    run_on(config, listener, admin, shutdown).await
}

/// Runs the gateway on `public` (beats) and `admin` (admin API, metrics, readiness) until
/// `shutdown` is cancelled, then drains in-flight requests and flushes the producer.
pub async fn run_on(
    config: IngestConfig,
    listener: tokio::net::TcpListener,
    admin_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = &config.ingest;
    settings.check()?;
    let kafka = &config.kafka;
    // A missing broker must not keep the gateway down: it answers 503 until the broker is back.
    if let Err(error) = ucx_common::kafka::ensure_topics(kafka, &[&kafka.beats_topic]).await {
        tracing::warn!(%error, "could not ensure the beats topic exists; continuing");
    }
    let registry = ucx_common::registry::follow(kafka, shutdown.clone()).await?;
    let producer = Arc::new(ucx_common::kafka::Producer::new(kafka)?);
    let metrics_registry = prometheus::Registry::new();
    let state = Arc::new(AppState::new(
        &config,
        registry,
        producer.clone(),
        &metrics_registry,
    )?);
    state.readiness.probe_broker(kafka, shutdown.clone());
    tokio::spawn(forget_idle_installations(state.clone(), shutdown.clone()));
    let connections = connections::ConnectionLimit::new(
        settings.max_connections,
        settings.max_connections_per_address,
        state.trusted_proxies.clone(),
        settings.retry_after_seconds,
    );
    let admin_address = admin_listener.local_addr()?;
    let admin = tokio::spawn(ucx_common::ops::serve(
        admin_listener,
        admin_app(state.clone(), metrics_registry),
        shutdown.clone().cancelled_owned(),
    ));
    tracing::info!(address = %admin_address, "admin API, /metrics and /ready listening");
    let app = public_app(state);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let address = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        stopper.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let listener = listener.into_std()?;
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => {
            // One crypto provider for the process; a second install is a harmless no-op.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|error| {
                    anyhow::anyhow!(
                        "cannot load TLS certificate {} / key {}: {error}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls)
                .handshake_timeout(settings.header_read_timeout_s)
                .acceptor(connections);
            let acceptor = parse_refusals::JsonRefusalsAcceptor::new(acceptor);
            let mut server = axum_server::from_tcp(listener)?.acceptor(acceptor);
            with_timeouts(server.http_builder(), settings);
            tracing::info!(%address, "ingest gateway listening (HTTPS)");
            server.handle(handle).serve(app).await?;
        }
        _ => {
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(parse_refusals::JsonRefusalsAcceptor::new(connections));
            with_timeouts(server.http_builder(), settings);
            tracing::info!(%address, "ingest gateway listening");
            server.handle(handle).serve(app).await?;
        }
    }
    if let Ok(Err(error)) = admin.await {
        tracing::warn!(%error, "the admin listener ended with an error");
    }
    // Every 202 already waited for its acknowledgement; this only drains stragglers.
    producer.flush(Duration::from_secs(10))?;
    tracing::info!("ingest gateway stopped");
    Ok(())
}

/// hyper enforces its header-read timeout only with a timer; without one a slow client could
/// hold a connection forever with an unfinished request head.
fn with_timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    settings: &IngestSettings,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout_s);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(settings.header_read_timeout_s)
        .keep_alive_timeout(settings.header_read_timeout_s);
}

impl AppState {
    fn new(
        config: &IngestConfig,
        registry: Arc<RegistryView>,
        records: Arc<dyn records::RecordSink>,
        metrics_registry: &prometheus::Registry,
    ) -> anyhow::Result<Self> {
        let settings = &config.ingest;
        Ok(AppState {
            records,
            beats_topic: config.kafka.beats_topic.clone(),
            registry_topic: config.kafka.registry_topic.clone(),
            registry,
            rate_limit: rate_limit::InstallationRateLimit::per_second(
                NonZeroU32::new(settings.rate_limit_beats_per_second).expect("checked"),
                NonZeroU32::new(settings.rate_limit_burst).expect("checked"),
            ),
            failed_auth: rate_limit::FailedAuthLimit::per_minute(
                NonZeroU32::new(settings.failed_authentications_per_minute).expect("checked"),
            ),
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_requests_in_flight)),
            body_timeout: settings.body_timeout_s,
            recent_beats: (settings.beat_id_window > 0)
                .then(|| std::sync::Mutex::new(hashlink::LruCache::new(settings.beat_id_window))),
            trusted_proxies: client_ip::TrustedProxies::parse(&settings.trusted_proxies)?,
            admin_token: settings.admin_token.clone(),
            admin_writes: tokio::sync::Mutex::new(()),
            retry_after_seconds: settings.retry_after_seconds,
            max_body_bytes: settings.max_body_bytes,
            max_batch_beats: settings.max_batch_beats,
            pii_policy: settings.pii_policy,
            region: settings.region,
            region_endpoints: [
                ucx_schemas::Region::EU,
                ucx_schemas::Region::US,
                ucx_schemas::Region::ME,
            ]
            .into_iter()
            .filter_map(|region| Some((region, settings.endpoint_of(region)?.to_string())))
            .collect(),
            metrics: IngestMetrics::new(metrics_registry),
            readiness: ucx_common::readiness::Readiness::default(),
        })
    }
}

/// The public listener's routes: beats, `/openapi.json`, `/health`, and a JSON 404 for anything
/// else (which names the admin listener for operator paths).
fn public_app(state: Arc<AppState>) -> Router {
    let beats = Router::new()
        .route("/v1/beats", post(beats::post_beats))
        // The handler reads at most max_body_bytes of the decoded stream, so the limit bounds
        // the decompressed size; unknown encodings pass through and get a 415 that names them.
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true))
        // Outermost: nothing is read or decoded before the key was checked.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::beats_guard,
        ))
        .with_state(state.clone());
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/health", get(|| async { "ok\n" }))
        .merge(beats)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(connections::refuse_over_limit))
        // Failures are logged where they happen, with their cause; a 503 from /ready or for a
        // missing broker is not worth an error line per request.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
}

/// The admin listener's routes: the admin API, `/ready`, `/metrics`, `/health`, `/openapi.json`.
fn admin_app(state: Arc<AppState>, metrics_registry: prometheus::Registry) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/ready", get(ready))
        .with_state(state.clone())
        .merge(admin::routes(state))
        .merge(ucx_common::ops::router(metrics_registry))
        .fallback(error::not_found_admin)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
}

/// The rate limiter keeps state per installation; installations that went quiet are dropped.
async fn forget_idle_installations(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut every_minute = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every_minute.tick() => state.rate_limit.forget_idle(),
        }
    }
}

/// Ready when the customer registry is loaded and the broker answers: a load balancer then
/// sends beats elsewhere while this gateway could only answer 503. The gateway faces the
/// internet, so the answer names the failing checks only (`registry`, `broker`); the details
/// are in its log.
async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut failing = state.readiness.failing_checks();
    if let Err(problem) = state.registry.health() {
        // loading, an unreadable record or a failing reader; the registry logs the details
        tracing::debug!(%problem, "not ready: registry");
        failing.insert(0, "registry");
    }
    if failing.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", failing.join(", ")),
        )
    }
}

/// The wire format's OpenAPI document (`schemas/openapi.json`).
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ucx_schemas::openapi::OPENAPI_JSON,
    )
}
