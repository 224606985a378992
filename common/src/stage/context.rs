//! What the runtime hands a stage: its settings, the producer, the customer registry, dead
//! letters and publishing with retries that end when the stage stops.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use super::metrics::StageMetrics;
use crate::config::KafkaSettings;
use crate::kafka::{header, Producer};
use crate::readiness::Readiness;
use crate::registry::RegistryView;
use crate::retry::{retry_transient, Backoff, Stopped};

/// Why a record went to the dead-letter topic: a short code for the metric's `reason` label
/// (the full text goes into the record's `ucx-dlq-reason` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Not a record of the expected schema (not Avro, unknown fingerprint, corrupt).
    Undecodable,
    /// Decoded, but a value does not fit where it must go (e.g. a column's range).
    Unstorable,
    /// ClickHouse refused the rows for what they are.
    RefusedByClickHouse,
    /// The notifier could not render its mail.
    Unrenderable,
}

impl DeadLetterReason {
    pub fn code(self) -> &'static str {
        match self {
            DeadLetterReason::Undecodable => "undecodable",
            DeadLetterReason::Unstorable => "unstorable",
            DeadLetterReason::RefusedByClickHouse => "refused_by_clickhouse",
            DeadLetterReason::Unrenderable => "unrenderable",
        }
    }
}

pub struct Context {
    /// The stage's name: the `stage` label of its metrics and the dead letters' `ucx-dlq-stage`.
    pub stage: &'static str,
    pub kafka: KafkaSettings,
    pub producer: Arc<Producer>,
    pub registry: Arc<RegistryView>,
    /// The stage's metrics registry: a stage registers its own metrics here.
    pub metrics_registry: prometheus::Registry,
    pub metrics: StageMetrics,
    pub readiness: Readiness,
    /// Cancelled when the stage is asked to stop: no new record is read after it.
    pub shutdown: CancellationToken,
    /// Cancelled a grace period after `shutdown`: the work in hand (a record being handled, the
    /// last checkpoint) may go on retrying until then, never longer.
    pub give_up: CancellationToken,
}

impl Context {
    /// Copies `record` to the dead-letter topic with the reason and its origin in headers, and
    /// counts it. Retried until the broker acknowledges; the record's offset must not be
    /// committed before this returns `Ok`.
    pub async fn dead_letter<M: Message + Sync>(
        &self,
        record: &M,
        reason: DeadLetterReason,
        detail: &str,
    ) -> Result<(), Stopped> {
        tracing::warn!(
            stage = self.stage,
            topic = record.topic(),
            partition = record.partition(),
            offset = record.offset(),
            reason = reason.code(),
            detail,
            "record dead-lettered"
        );
        let partition = record.partition().to_string();
        let offset = record.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(header("ucx-dlq-stage", self.stage))
            .insert(header("ucx-dlq-code", reason.code()))
            .insert(header("ucx-dlq-reason", detail))
            .insert(header("ucx-dlq-source-topic", record.topic()))
            .insert(header("ucx-dlq-source-partition", &partition))
            .insert(header("ucx-dlq-source-offset", &offset));
        let key = record.key().unwrap_or_default();
        let payload = record.payload().unwrap_or_default();
        let topic = &self.kafka.dead_letter_topic;
        retry_transient(
            "producing a dead letter",
            PRODUCE_BACKOFF,
            &self.give_up,
            || self.producer.produce(topic, key, payload, headers.clone()),
        )
        .await?;
        self.metrics
            .dead_letters
            .with_label_values(&[record.topic(), reason.code()])
            .inc();
        Ok(())
    }

    /// Produces a record and waits for the broker's acknowledgement, retrying while the broker
    /// is away (until the stage gives up); `what` names it in the log.
    pub async fn publish(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
        what: &str,
    ) -> Result<(), Stopped> {
        retry_transient(what, PRODUCE_BACKOFF, &self.give_up, || {
            self.producer
                .produce(topic, key.as_bytes(), payload, headers.clone())
        })
        .await
        .map(|_| ())
    }
}

/// The producer itself waits up to `delivery_timeout_ms` per try; a short pause between tries
/// is enough.
const PRODUCE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
