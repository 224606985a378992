//! The ClickHouse sink as a stage of the runtime: each record becomes rows of the batch (or a
//! dead letter); a checkpoint writes the batch, and only then does the runtime commit the
//! offsets. A crash between the insert and the commit redelivers the batch; ReplacingMergeTree
//! keys make the copies invisible to `FINAL` queries. A purge request waits for the rows taken
//! before it to be written, then runs beside consumption (`purge.rs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ucx_common::registry::RegistryView;
use ucx_common::stage::{Context, DeadLetterReason, Flow, Stage, StageError, StageSpec, Tick};
use ucx_schemas::PurgeRequest;

use ucx_tables::{add_alert, add_beat, add_change, migrations, RowError};

use super::batch::Batch;
use super::purge::{self, Purger};
use super::retention::{self, Retention};
use super::writer::Writer;
use crate::config::SinkConfig;
use crate::metrics::SinkMetrics;

/// How long a record of an installation the registry view does not know yet waits for it.
const REGISTRY_CATCH_UP: Duration = Duration::from_secs(10);

/// Runs the ClickHouse sink until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: SinkConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let applied = migrations::apply(&config.clickhouse)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "applying migrations to {} failed: {error}",
                config.clickhouse.url
            )
        })?;
    tracing::info!(applied, database = %config.clickhouse.database, "clickhouse schema up to date");
    let kafka = &config.kafka;
    let spec = StageSpec {
        name: "sinks",
        group_id: config.sinks.group_id.clone(),
        topics: vec![
            kafka.beats_topic.clone(),
            kafka.alerts_topic.clone(),
            kafka.changes_topic.clone(),
        ],
        clickhouse: Some(config.clickhouse.clone()),
        tick_interval: PURGE_CHECK_INTERVAL,
        watch_progress: false,
        fetch_wait: Duration::from_millis(100),
    };
    let kafka = kafka.clone();
    ucx_common::stage::run(spec, &kafka, ops_listener, shutdown, |context| {
        Sink::start(context, config)
    })
    .await
}

/// `/ready` names any column a row writes that its table lacks (a table altered by hand).
fn probe_tables(context: &Context, client: clickhouse::Client) {
    context
        .readiness
        .probe("tables", context.shutdown.clone(), move || {
            let client = client.clone();
            async move {
                let missing = ucx_tables::drift::missing_columns(&client)
                    .await
                    .map_err(|error| format!("cannot read system.columns ({error})"))?;
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(missing.join(", "))
                }
            }
        });
}

/// How often the registry is looked at for new purge requests.
const PURGE_CHECK_INTERVAL: Duration = Duration::from_millis(500);

struct Sink {
    batch: Batch,
    writer: Writer,
    metrics: SinkMetrics,
    batch_max_rows: usize,
    batch_timeout: Duration,
    idle_flush: Duration,
    idle_flush_max_rows: usize,
    min_flush_interval: Duration,
    last_written_at: Instant,
    /// Purge requests seen and not handed to the purge worker yet: they go once the rows taken
    /// before them are written.
    purges_waiting: Vec<PurgeRequest>,
    purges_handed: HashSet<(String, i64)>,
    purge_worker: mpsc::UnboundedSender<PurgeRequest>,
}

impl Sink {
    async fn start(context: Arc<Context>, config: SinkConfig) -> anyhow::Result<Self> {
        let metrics = SinkMetrics::new(&context.metrics_registry);
        let client = || ucx_common::clickhouse::client(&config.clickhouse);
        probe_tables(&context, client());
        let purger = Purger::new(client()).await?;
        let (purge_worker, purge_requests) = mpsc::unbounded_channel();
        let purges_handed = purger.done().clone();
        tokio::spawn(purge::work(
            purger,
            purge_requests,
            metrics.purges_completed.clone(),
            context.shutdown.clone(),
        ));
        tokio::spawn(retention::enforce_every(
            Retention {
                days_by_table: config.sinks.retention_days.clone(),
                default_days: config.sinks.retention_default_days,
            },
            client(),
            config.sinks.retention_interval_s,
            metrics.partitions_dropped.clone(),
            context.shutdown.clone(),
        ));
        Ok(Sink {
            batch: Batch::default(),
            writer: Writer::new(client(), config.sinks.retry_backoff_max_ms),
            metrics,
            batch_max_rows: config.sinks.batch_max_rows.get(),
            batch_timeout: config.sinks.batch_timeout_ms,
            idle_flush: config.sinks.idle_flush_ms,
            idle_flush_max_rows: config.sinks.idle_flush_max_rows,
            min_flush_interval: config.sinks.min_flush_interval_ms,
            last_written_at: Instant::now(),
            purges_waiting: Vec::new(),
            purges_handed,
            purge_worker,
        })
    }

    /// Turns one record into rows of the batch; `Err` holds why it cannot be stored.
    async fn rows_of(
        &mut self,
        context: &Context,
        record: &BorrowedMessage<'_>,
    ) -> Result<Option<&'static str>, (DeadLetterReason, String)> {
        let topic = record.topic();
        let payload = record.payload().unwrap_or_default();
        let registry = &context.registry;
        let undecodable =
            |error: ucx_schemas::CodecError| (DeadLetterReason::Undecodable, error.to_string());
        let unstorable = |error: RowError| (DeadLetterReason::Unstorable, error.to_string());
        // A record of a period its customer asked to purge is dropped, not stored.
        let purged = |installation_id: &str, at: i64| {
            let purged = registry
                .purged_until(installation_id)
                .is_some_and(|until| at <= until);
            if purged {
                self.metrics.records_purged.inc();
            }
            purged
        };
        if topic == context.kafka.alerts_topic {
            let alert = ucx_schemas::decode_alert(payload).map_err(undecodable)?;
            if purged(&alert.installation_id, alert.event_at) {
                return Ok(None);
            }
            let customer_id =
                customer_of(registry, &alert.installation_id, &alert.customer_id).await;
            add_alert(&alert, &customer_id, &mut self.batch)
                .map(Some)
                .map_err(unstorable)
        } else if topic == context.kafka.changes_topic {
            let change = ucx_schemas::decode_change(payload).map_err(undecodable)?;
            if purged(&change.installation_id, change.event_at) {
                return Ok(None);
            }
            let customer_id =
                customer_of(registry, &change.installation_id, &change.customer_id).await;
            add_change(&change, &customer_id, &mut self.batch)
                .map(Some)
                .map_err(unstorable)
        } else {
            let beat = ucx_schemas::decode_beat(payload).map_err(undecodable)?;
            let envelope = &beat.envelope;
            if purged(&envelope.installation_id, envelope.received_at) {
                return Ok(None);
            }
            let customer_id = customer_of(registry, &envelope.installation_id, "").await;
            add_beat(&beat, &customer_id, &mut self.batch)
                .map(Some)
                .map_err(unstorable)
        }
    }
}

/// Every row names its customer (an alert or change says it; for a beat it is looked up). An
/// installation registered moments ago may still be on its way to this view: waited for
/// briefly; one still unknown gets ''.
async fn customer_of(registry: &RegistryView, installation_id: &str, given: &str) -> String {
    if !given.is_empty() {
        return given.to_string();
    }
    if let Some(customer_id) = registry.customer_id_of(installation_id) {
        return customer_id;
    }
    registry
        .wait_for_installation(installation_id, REGISTRY_CATCH_UP)
        .await
        .map(|installation| installation.customer_id)
        .unwrap_or_default()
}

impl Stage for Sink {
    async fn handle(
        &mut self,
        context: &Context,
        record: &BorrowedMessage<'_>,
    ) -> Result<Flow, StageError> {
        self.batch.note_record();
        let rows_before = self.batch.row_count();
        match self.rows_of(context, record).await {
            Ok(Some(table)) if self.batch.row_count() > rows_before => {
                self.batch.add_source(table, record);
            }
            Ok(_) => {}
            Err((reason, detail)) => context.dead_letter(record, reason, &detail).await?,
        }
        if self.batch.row_count() >= self.batch_max_rows {
            return Ok(Flow::Checkpoint);
        }
        Ok(Flow::Continue)
    }

    /// When the first record is `batch_timeout` old; a small batch (quiet pipeline) sooner:
    /// once no record came for `idle_flush`, but not within `min_flush_interval` of the last
    /// write.
    fn checkpoint_due(&self) -> Option<Instant> {
        let first = Instant::from_std(self.batch.first_record_at()?);
        let full_wait = first + self.batch_timeout;
        if self.batch.row_count() >= self.idle_flush_max_rows {
            return Some(full_wait);
        }
        let last = Instant::from_std(self.batch.last_record_at()?);
        let quiet = (last + self.idle_flush).max(self.last_written_at + self.min_flush_interval);
        Some(full_wait.min(quiet))
    }

    /// Writes the batch; rows ClickHouse refuses for what they are go to the dead-letter topic.
    /// Then the purges that waited for these rows go to the purge worker.
    async fn checkpoint(&mut self, context: &Context) -> Result<(), StageError> {
        if self.batch.first_record_at().is_some() {
            let rejected = self
                .writer
                .write(&self.batch, &self.metrics, &context.give_up)
                .await?;
            for rejected in rejected {
                for record in self.batch.sources(rejected.table) {
                    context
                        .dead_letter(
                            &record,
                            DeadLetterReason::RefusedByClickHouse,
                            &rejected.reason,
                        )
                        .await?;
                }
            }
            self.batch.clear();
            self.last_written_at = Instant::now();
        }
        for purge in self.purges_waiting.drain(..) {
            self.purges_handed
                .insert((purge.customer_id.clone(), purge.requested_at));
            // the worker ends only with the stage
            let _ = self.purge_worker.send(purge);
        }
        Ok(())
    }

    /// New purge requests in the registry: the rows collected before them must be written
    /// first, so that the deletion covers them.
    async fn tick(&mut self, context: &Context, _tick: Tick) -> Result<Flow, StageError> {
        let new: Vec<PurgeRequest> = context
            .registry
            .purges()
            .into_iter()
            .filter(|purge| {
                let key = (purge.customer_id.clone(), purge.requested_at);
                !self.purges_handed.contains(&key)
                    && !self.purges_waiting.iter().any(|waiting| {
                        (waiting.customer_id.as_str(), waiting.requested_at)
                            == (key.0.as_str(), key.1)
                    })
            })
            .collect();
        if new.is_empty() {
            return Ok(Flow::Continue);
        }
        self.purges_waiting.extend(new);
        Ok(Flow::Checkpoint)
    }

    /// Everything not committed is read again: the rows collected so far would be written twice.
    async fn assigned(
        &mut self,
        _context: &Context,
        _partitions: &[(String, i32)],
    ) -> Result<(), StageError> {
        self.batch.clear();
        Ok(())
    }
}
