//! Processors: read beats, evaluate the rule library, and publish alert state changes to the
//! alerts topic, routed by the customer's contract tier. Offsets are committed only after the
//! alerts a beat caused were acknowledged.

mod alert_book;
pub mod config;
mod metrics;
mod routing;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, OwnedHeaders};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;
use ucx_common::kafka::{self, DeadLetters};
use ucx_schemas::{decode_beat, encode_alert, Alert};

use alert_book::AlertBook;
pub use config::{ProcessorConfig, ProcessorSettings};
use metrics::ProcessorMetrics;
use routing::Router;
use rules::signals::FactBook;

const STAGE: &str = "processors";

/// Runs the processors until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: ProcessorConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let kafka_settings = &config.kafka;
    kafka::ensure_pipeline_topics(kafka_settings).await?;
    let registry = prometheus::Registry::new();
    let metrics = ProcessorMetrics::new(&registry);
    let ops = ucx_common::ops::spawn("processors", ops_listener, registry, shutdown.clone());

    let consumer = kafka::consumer_with_lag(
        kafka_settings,
        &config.processors.group_id,
        metrics.consumer_lag.clone(),
    )?;
    kafka::subscribe(&consumer, &[&kafka_settings.beats_topic])?;
    let producer = Arc::new(kafka::Producer::new(kafka_settings)?);
    let dead_letters = DeadLetters::new(producer.clone(), &kafka_settings.dead_letter_topic);
    let rules = rules::reload::start(
        config.processors.rules_file.clone(),
        Duration::from_millis(config.processors.rules_reload_interval_ms.max(100)),
        metrics.reload.clone(),
        shutdown.clone(),
    )?;
    let registry_view = ucx_common::registry::follow(kafka_settings, shutdown.clone()).await?;
    while !registry_view.wait_loaded(Duration::from_secs(5)).await {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::warn!("waiting for the customer registry before consuming");
    }
    let router = Router::new(registry_view, &config.processors);
    let mut facts = FactBook::default();
    let mut book = AlertBook::default();

    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "kafka consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        metrics.beats_received.inc();
        let alerts = match decode_beat(message.payload().unwrap_or_default()) {
            Ok(beat) => match router.route(&beat.envelope.installation_id).await {
                Some(audience) => {
                    let library = rules.borrow().clone();
                    let facts = facts.learn(&beat);
                    let findings = library.evaluate(&beat, facts, audience.tier);
                    book.apply(&beat, findings, &audience.audience)
                }
                None => {
                    metrics
                        .beats_skipped
                        .with_label_values(&["telemetry_disabled"])
                        .inc();
                    Vec::new()
                }
            },
            Err(error) => {
                metrics.dead_letters.inc();
                dead_letters.send(STAGE, &message, &error.to_string()).await;
                Vec::new()
            }
        };
        for alert in &alerts {
            publish_alert(&producer, &kafka_settings.alerts_topic, alert, &shutdown).await?;
            metrics.record(alert);
        }
        commit(&consumer, &message);
    }
    tracing::info!("processors stopped");
    ops.await??;
    Ok(())
}

/// Publishes an alert, retrying while the broker is away: the beat's offset is not committed
/// until its alerts are acknowledged, so a crash here re-evaluates the beat instead of losing it.
async fn publish_alert(
    producer: &kafka::Producer,
    topic: &str,
    alert: &Alert,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let record = encode_alert(alert)?;
    loop {
        let headers = OwnedHeaders::new().insert(kafka::header("ucx-rule", &alert.rule_id));
        match producer
            .produce(topic, alert.installation_id.as_bytes(), &record, headers)
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if !shutdown.is_cancelled() => {
                tracing::warn!(%error, alert_id = %alert.alert_id, "alert produce failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => anyhow::bail!("shutting down with an unpublished alert: {error}"),
        }
    }
}

fn commit(
    consumer: &rdkafka::consumer::StreamConsumer<kafka::LagContext>,
    message: &BorrowedMessage<'_>,
) {
    if let Err(error) = consumer.commit_message(message, CommitMode::Async) {
        tracing::warn!(%error, "offset commit failed; the beat may be evaluated again");
    }
}
