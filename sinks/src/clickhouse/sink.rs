//! The ClickHouse sink's main loop: consume beats and alerts, collect rows until the batch is
//! full or old enough, write it, and only then commit the offsets. A crash between the insert
//! and the commit redelivers the batch; ReplacingMergeTree keys make the copies invisible to
//! `FINAL` queries.

use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ucx_common::kafka::{self, DeadLetters};
use ucx_common::registry::RegistryView;

use super::batch::Batch;
use super::migrations;
use super::purge::Purger;
use super::retention::{self, Retention};
use super::rows::{add_alert, add_beat, add_change, table_of};
use super::writer::{Interrupted, Writer};
use crate::config::SinkConfig;
use crate::metrics::SinkMetrics;

const STAGE: &str = "sinks.clickhouse";
/// How long a record of an installation the registry view does not know yet waits for it.
const REGISTRY_CATCH_UP: Duration = Duration::from_secs(10);

/// Runs the ClickHouse sink until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: SinkConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let kafka_settings = &config.kafka;
    let applied = migrations::apply(&config.clickhouse)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "applying migrations to {} failed: {error}",
                config.clickhouse.url
            )
        })?;
    tracing::info!(applied, database = %config.clickhouse.database, "clickhouse schema up to date");
    kafka::ensure_pipeline_topics(kafka_settings).await?;
    let registry_view = ucx_common::registry::follow(kafka_settings, shutdown.clone()).await?;
    let mut purger = Purger::new(ucx_common::clickhouse::client(&config.clickhouse)).await?;

    let registry = prometheus::Registry::new();
    let metrics = SinkMetrics::new(&registry);
    let readiness = ucx_common::readiness::Readiness::default();
    readiness.probe_broker(kafka_settings, shutdown.clone());
    readiness.probe_clickhouse(&config.clickhouse, shutdown.clone());
    let ops = ucx_common::ops::spawn("sinks", ops_listener, registry, readiness, shutdown.clone());

    tokio::spawn(enforce_retention(
        Retention {
            days_by_table: config.sinks.retention_days.clone(),
            default_days: config.sinks.retention_default_days,
        },
        ucx_common::clickhouse::client(&config.clickhouse),
        Duration::from_secs(config.sinks.retention_interval_s.max(1)),
        metrics.partitions_dropped.clone(),
        shutdown.clone(),
    ));

    let consumer = kafka::consumer_with_lag(
        kafka_settings,
        &config.sinks.group_id,
        metrics.consumer_lag.clone(),
    )?;
    kafka::subscribe(
        &consumer,
        &[
            &kafka_settings.beats_topic,
            &kafka_settings.alerts_topic,
            &kafka_settings.changes_topic,
        ],
    )?;
    let dead_letters = DeadLetters::new(
        std::sync::Arc::new(kafka::Producer::new(kafka_settings)?),
        &kafka_settings.dead_letter_topic,
    );
    let writer = Writer::new(
        ucx_common::clickhouse::client(&config.clickhouse),
        Duration::from_millis(config.sinks.retry_backoff_max_ms),
    );
    let batch_timeout = Duration::from_millis(config.sinks.batch_timeout_ms);
    let mut batch = Batch::default();
    // Records of a purged period are recognised through the registry: read it to the end first.
    while !registry_view.wait_loaded(Duration::from_secs(5)).await {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::warn!("waiting for the customer registry before consuming");
    }
    let mut registry_changes = registry_view.changes();
    registry_changes.mark_changed();

    loop {
        let flush_at = batch
            .first_record_at()
            .map(|first| Instant::from_std(first) + batch_timeout);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(flush_at), if flush_at.is_some() => {
                if flush(&mut batch, &writer, &dead_letters, &consumer, &metrics, &shutdown).await.is_err() {
                    break;
                }
            }
            Ok(()) = registry_changes.changed() => {
                let pending = purger.pending(registry_view.purges());
                if !pending.is_empty() {
                    // Rows collected before the request go in first, so the deletion covers them.
                    if flush(&mut batch, &writer, &dead_letters, &consumer, &metrics, &shutdown).await.is_err() {
                        break;
                    }
                    if !purger.carry_out_all(&pending, &metrics.purges_completed).await {
                        registry_changes.mark_changed();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            received = consumer.recv() => match received {
                Ok(message) => {
                    take(&message, &mut batch, &dead_letters, &metrics, kafka_settings, &registry_view).await;
                    if batch.row_count() >= config.sinks.batch_max_rows
                        && flush(&mut batch, &writer, &dead_letters, &consumer, &metrics, &shutdown).await.is_err()
                    {
                        break;
                    }
                }
                Err(error) => {
                    kafka::pause_after_consume_error(&error).await;
                }
            },
        }
    }
    // Write what was collected so a clean stop leaves no lag; if ClickHouse is away the records
    // stay uncommitted and are read again after the restart.
    let never_cancelled = CancellationToken::new();
    let last_flush = flush(
        &mut batch,
        &writer,
        &dead_letters,
        &consumer,
        &metrics,
        &never_cancelled,
    );
    if tokio::time::timeout(Duration::from_secs(10), last_flush)
        .await
        .is_err()
    {
        tracing::warn!(
            "final batch not written within 10 s; it will be read again after a restart"
        );
    }
    tracing::info!("clickhouse sink stopped");
    ops.await??;
    Ok(())
}

/// Runs the retention job now and then every `interval` until shutdown.
async fn enforce_retention(
    retention: Retention,
    client: clickhouse::Client,
    interval: Duration,
    dropped_total: prometheus::IntCounter,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match retention.enforce(&client, retention::today()).await {
            Ok(dropped) => dropped_total.inc_by(dropped.len() as u64),
            Err(error) => tracing::warn!(%error, "retention job failed; trying again later"),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Turns one record into rows of the batch, or into a dead letter when it can't be.
async fn take(
    message: &BorrowedMessage<'_>,
    batch: &mut Batch,
    dead_letters: &DeadLetters,
    metrics: &SinkMetrics,
    kafka_settings: &ucx_common::config::KafkaSettings,
    registry: &RegistryView,
) {
    let topic = message.topic();
    metrics.records_received.with_label_values(&[topic]).inc();
    let payload = message.payload().unwrap_or_default();
    // A record of a period its customer asked to purge is dropped, not stored.
    let purged = |installation_id: &str, at: i64| {
        let purged = registry
            .purged_until(installation_id)
            .is_some_and(|until| at <= until);
        if purged {
            metrics.records_purged.inc();
        }
        purged
    };
    // Every row names its customer (an alert says it; for a beat it is looked up). An
    // installation registered moments ago may still be on its way to this view: waited for
    // briefly; one still unknown gets ''.
    let customer_of = |installation_id: String| async move {
        registry
            .wait_for_installation(&installation_id, REGISTRY_CATCH_UP)
            .await
            .map(|installation| installation.customer_id)
            .unwrap_or_default()
    };
    let rows_before = batch.row_count();
    let outcome = if topic == kafka_settings.alerts_topic {
        match ucx_schemas::decode_alert(payload) {
            Err(error) => Err(error.to_string()),
            Ok(alert) if purged(&alert.installation_id, alert.event_at) => Ok(None),
            Ok(alert) => {
                let customer_id = if alert.customer_id.is_empty() {
                    customer_of(alert.installation_id.clone()).await
                } else {
                    alert.customer_id.clone()
                };
                add_alert(&alert, &customer_id, batch)
                    .map(|()| Some("alerts"))
                    .map_err(|error| error.to_string())
            }
        }
    } else if topic == kafka_settings.changes_topic {
        match ucx_schemas::decode_change(payload) {
            Err(error) => Err(error.to_string()),
            Ok(change) if purged(&change.installation_id, change.event_at) => Ok(None),
            Ok(change) => {
                let customer_id = if change.customer_id.is_empty() {
                    customer_of(change.installation_id.clone()).await
                } else {
                    change.customer_id.clone()
                };
                add_change(&change, &customer_id, batch)
                    .map(|()| Some("installation_changes"))
                    .map_err(|error| error.to_string())
            }
        }
    } else {
        match ucx_schemas::decode_beat(payload) {
            Err(error) => Err(error.to_string()),
            Ok(beat) if purged(&beat.envelope.installation_id, beat.envelope.received_at) => {
                Ok(None)
            }
            Ok(beat) => {
                let customer_id = customer_of(beat.envelope.installation_id.clone()).await;
                add_beat(&beat, &customer_id, batch)
                    .map(|()| Some(table_of(beat.payload.category())))
                    .map_err(|error| error.to_string())
            }
        }
    };
    match outcome {
        Ok(Some(table)) if batch.row_count() > rows_before => {
            batch.add_source(table, message.detach());
        }
        Ok(_) => {}
        Err(reason) => {
            tracing::warn!(topic, partition = message.partition(), offset = message.offset(), %reason, "record dead-lettered");
            metrics.dead_letters.with_label_values(&[topic]).inc();
            dead_letters.send(STAGE, message, &reason).await;
        }
    }
    batch.track(topic, message.partition(), message.offset());
}

async fn flush(
    batch: &mut Batch,
    writer: &Writer,
    dead_letters: &DeadLetters,
    consumer: &StreamConsumer<kafka::LagContext>,
    metrics: &SinkMetrics,
    shutdown: &CancellationToken,
) -> Result<(), Interrupted> {
    if batch.first_record_at().is_none() {
        return Ok(());
    }
    for rejected in writer.write(batch, metrics, shutdown).await? {
        for record in batch.sources(rejected.table) {
            metrics
                .dead_letters
                .with_label_values(&[record.topic()])
                .inc();
            dead_letters.send(STAGE, record, &rejected.reason).await;
        }
    }
    // A failed commit (e.g. the partition moved to another sink in a rebalance) only means the
    // rows will be written again, which the table keys make invisible.
    if let Err(error) = consumer.commit(&batch.offsets(), CommitMode::Sync) {
        tracing::warn!(%error, "offset commit failed after a written batch");
    }
    *batch = Batch::default();
    Ok(())
}
