//! Processors: read beats, evaluate the rule library against each installation's remembered
//! state, watch for silent installations, and publish alert state changes to the alerts topic,
//! routed by the customer's contract tier. Every `checkpoint_interval_ms` the changed states go
//! to the state changelog and then the offsets of the beats they include are committed; a
//! restarted or rebalanced processor restores the states of its partitions and goes on.

mod alert_book;
mod changes;
pub mod config;
mod engine;
mod heartbeat;
mod metrics;
mod progress;
mod routing;
pub mod rules;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedHeaders;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use ucx_common::kafka::{self, DeadLetters, LagContext};
use ucx_schemas::{decode_beat, encode_alert, encode_change, Alert, Change};

pub use config::{ProcessorConfig, ProcessorSettings};
use engine::Engine;
use metrics::ProcessorMetrics;
use progress::Progress;
use routing::Router;
use state::{Applied, StateStore};

const STAGE: &str = "processors";

/// The `ucx-processors` binary: configuration, logging, listener, and a run until SIGTERM.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &ProcessorConfig| &config.processors.listen, run).await
}

/// Runs the processors until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: ProcessorConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let kafka_settings = &config.kafka;
    let settings = &config.processors;
    kafka::ensure_pipeline_topics(kafka_settings).await?;
    let registry = prometheus::Registry::new();
    let metrics = ProcessorMetrics::new(&registry);
    let readiness = ucx_common::readiness::Readiness::default();
    readiness.probe_broker(kafka_settings, shutdown.clone());
    let ops = ucx_common::ops::spawn(
        "processors",
        ops_listener,
        registry,
        readiness,
        shutdown.clone(),
    );

    let producer = Arc::new(kafka::Producer::new(kafka_settings)?);
    let store = StateStore::open(
        kafka_settings,
        &kafka_settings.processor_state_topic,
        producer.clone(),
    )
    .await?;
    let consumer = kafka::consumer_with_lag(
        kafka_settings,
        &settings.group_id,
        metrics.consumer_lag.clone(),
    )?;
    kafka::subscribe(&consumer, &[&kafka_settings.beats_topic])?;
    let dead_letters = DeadLetters::new(producer.clone(), &kafka_settings.dead_letter_topic);
    let rules = rules::reload::start(
        settings.rules_file.clone(),
        Duration::from_millis(settings.rules_reload_interval_ms.max(100)),
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
    let router = Router::new(registry_view, settings);
    let heartbeat_timeout_ms = settings.heartbeat_timeout_ms as i64;

    let mut engine = Engine::default();
    let mut rebalances_seen = 0;
    // Per beats partition: the offset to commit at the next checkpoint.
    let mut uncommitted: BTreeMap<i32, i64> = BTreeMap::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(
        settings.checkpoint_interval_ms.max(10),
    ));
    ticks.reset();
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let checkpoint_interval = Duration::from_millis(settings.checkpoint_interval_ms.max(10));
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut progress = Progress::default();
    loop {
        // Beats first: a tick is taken only when no beat is waiting, i.e. the processor has
        // caught up — the moment to judge silence. Checkpoints also happen between beats.
        let received = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => Some(received),
            _ = ticks.tick() => None,
        };
        // A new assignment: the partitions may have been someone else's in between, so what is
        // in memory is dropped and the changelog is the truth (librdkafka restarts every
        // assigned partition from its committed offset).
        let rebalances = consumer.context().rebalances();
        if rebalances != rebalances_seen {
            rebalances_seen = rebalances;
            uncommitted.clear();
            let partitions = assigned(&consumer, &kafka_settings.beats_topic);
            engine = Engine::restored(store.restore(&partitions).await?);
            progress = Progress::assigned(&consumer, &kafka_settings.beats_topic);
            metrics.restored(partitions.len());
            tracing::info!(
                ?partitions,
                installations = engine.installations(),
                open_alerts = engine.open_alerts(),
                "state restored"
            );
        }
        // Between beats, once per interval (and whenever the processor has caught up): follow-ups
        // that do not come from a beat, then the checkpoint.
        if received.is_none() || last_checkpoint.elapsed() >= checkpoint_interval {
            // acknowledgements through the admin API, applied to the open alerts held here
            let mut alerts = engine.acknowledge(|alert_id| router.acknowledgement(alert_id));
            // silence is judged only when nothing is left to consume (see heartbeat.rs)
            if received.is_none()
                && heartbeat_timeout_ms > 0
                && progress.caught_up(&consumer, &kafka_settings.beats_topic)
            {
                alerts.extend(raise_lost(&mut engine, &router, heartbeat_timeout_ms).await);
            }
            for alert in &alerts {
                publish_alert(&producer, &kafka_settings.alerts_topic, alert, &shutdown).await?;
                metrics.record(alert);
            }
            checkpoint(
                &mut engine,
                &store,
                &consumer,
                &kafka_settings.beats_topic,
                &mut uncommitted,
                &metrics,
                &shutdown,
            )
            .await?;
            last_checkpoint = tokio::time::Instant::now();
        }
        let Some(received) = received else {
            continue;
        };
        let message = match received {
            Ok(message) => message,
            Err(error) => {
                kafka::pause_after_consume_error(&error).await;
                continue;
            }
        };
        metrics.beats_received.inc();
        let at = Applied {
            partition: message.partition(),
            offset: message.offset(),
        };
        let alerts = match decode_beat(message.payload().unwrap_or_default()) {
            Ok(beat) => match router.route(&beat.envelope.installation_id).await {
                Some(routed) => {
                    let library = rules.borrow().clone();
                    match engine.apply(&beat, at, &library, &routed) {
                        Some(outcome) => {
                            for change in &outcome.changes {
                                publish_change(
                                    &producer,
                                    &kafka_settings.changes_topic,
                                    change,
                                    &shutdown,
                                )
                                .await?;
                                metrics.record_change(change);
                            }
                            outcome.alerts
                        }
                        None => {
                            metrics.skipped("already_applied");
                            Vec::new()
                        }
                    }
                }
                None => {
                    metrics.skipped("telemetry_disabled");
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
        uncommitted.insert(at.partition, at.offset + 1);
        progress.consumed(at.partition, at.offset);
    }
    // A last checkpoint, so that a planned stop replays nothing (one try: we are stopping).
    if let Err(error) = checkpoint(
        &mut engine,
        &store,
        &consumer,
        &kafka_settings.beats_topic,
        &mut uncommitted,
        &metrics,
        &shutdown,
    )
    .await
    {
        tracing::warn!(%error, "final checkpoint failed; the next start replays from the last one");
    }
    tracing::info!("processors stopped");
    ops.await??;
    Ok(())
}

/// The beats partitions assigned to this processor now.
fn assigned(consumer: &StreamConsumer<LagContext>, beats_topic: &str) -> Vec<i32> {
    match consumer.assignment() {
        Ok(assignment) => assignment
            .elements_for_topic(beats_topic)
            .iter()
            .map(|element| element.partition())
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "reading the assignment");
            Vec::new()
        }
    }
}

/// Heartbeat alerts for installations that fell silent (opted-out customers are not watched).
async fn raise_lost(engine: &mut Engine, router: &Router, timeout_ms: i64) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for installation_id in engine.lost(timeout_ms) {
        if let Some(routed) = router.route(&installation_id).await {
            alerts.extend(engine.raise_lost(&installation_id, timeout_ms, &routed.audience));
        }
    }
    alerts
}

/// Writes the changed states, then commits the offsets of the beats they include. A state
/// write that fails is retried (consumption waits: nothing is committed past unsaved state).
async fn checkpoint(
    engine: &mut Engine,
    store: &StateStore,
    consumer: &StreamConsumer<LagContext>,
    beats_topic: &str,
    uncommitted: &mut BTreeMap<i32, i64>,
    metrics: &ProcessorMetrics,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let documents = engine.take_dirty();
    while let Err(error) = store.write(&documents).await {
        anyhow::ensure!(
            !shutdown.is_cancelled(),
            "shutting down with unsaved state: {error}"
        );
        tracing::warn!(%error, "writing state failed, retrying");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    metrics.state_documents.inc_by(documents.len() as u64);
    metrics.observe(engine);
    if uncommitted.is_empty() {
        return Ok(());
    }
    let mut offsets = TopicPartitionList::new();
    for (&partition, &offset) in uncommitted.iter() {
        offsets.add_partition_offset(beats_topic, partition, Offset::Offset(offset))?;
    }
    uncommitted.clear();
    if let Err(error) = consumer.commit(&offsets, CommitMode::Async) {
        // the states record what they include: a replay of these beats is skipped
        tracing::warn!(%error, "offset commit failed; beats after the last commit are read again");
    }
    metrics.checkpoints.inc();
    Ok(())
}

/// Publishes an alert, retrying while the broker is away: the beat's offset is not committed
/// until its alerts are acknowledged, so a crash here re-evaluates the beat instead of losing it.
/// Keyed by customer (installation when unknown): one customer's alerts stay in order in one
/// partition, where the notifier counts them against the customer's limits.
async fn publish_alert(
    producer: &kafka::Producer,
    topic: &str,
    alert: &Alert,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let key = if alert.customer_id.is_empty() {
        &alert.installation_id
    } else {
        &alert.customer_id
    };
    let headers = OwnedHeaders::new().insert(kafka::header("ucx-rule", &alert.rule_id));
    let what = format!("alert {}", alert.alert_id);
    publish(
        producer,
        topic,
        key,
        &encode_alert(alert)?,
        headers,
        &what,
        shutdown,
    )
    .await
}

/// Publishes a change event like an alert (retried, before the beat's offset is committed).
async fn publish_change(
    producer: &kafka::Producer,
    topic: &str,
    change: &Change,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let what = format!("change {}", change.change_id);
    let record = encode_change(change)?;
    let headers = OwnedHeaders::new();
    publish(
        producer,
        topic,
        &change.installation_id,
        &record,
        headers,
        &what,
        shutdown,
    )
    .await
}

async fn publish(
    producer: &kafka::Producer,
    topic: &str,
    key: &str,
    record: &[u8],
    headers: OwnedHeaders,
    what: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    loop {
        match producer
            .produce(topic, key.as_bytes(), record, headers.clone())
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if !shutdown.is_cancelled() => {
                tracing::warn!(%error, what, "produce failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => anyhow::bail!("shutting down with {what} unpublished: {error}"),
        }
    }
}
