//! The one way the pipeline talks to Kafka: clients built from `[kafka]`, topics created by
//! the project, records produced with broker acknowledgement, dead letters with their reason.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message};

use crate::config::KafkaSettings;

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.brokers);
    for (key, value) in &settings.client_options {
        config.set(key, value);
    }
    config
}

/// An idempotent producer that waits for all in-sync replicas (`acks=all`), with a bounded
/// queue and delivery timeout so that callers learn of a slow or absent broker.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    let mut config = base_config(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", settings.delivery_timeout_ms.to_string())
        .set("queue.buffering.max.messages", settings.max_in_flight_records.to_string())
        .set("linger.ms", "5");
    config.create()
}

/// A consumer in `group_id` that starts from the earliest record and commits only what the
/// caller commits explicitly (at-least-once).
pub fn consumer(settings: &KafkaSettings, group_id: &str) -> Result<StreamConsumer, KafkaError> {
    let mut config = base_config(settings);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    config.create()
}

/// Creates the pipeline's topics if they are missing; existing topics are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[&str]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base_config(settings).create()?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.topic_partitions,
                TopicReplication::Fixed(settings.topic_replication_factor),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!(topic, %code, "creating topic failed");
                });
            }
        }
    }
    Ok(())
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    pub partition: i32,
    pub offset: i64,
}

/// Produces one record and waits for the broker's acknowledgement. Fails at once when the
/// producer's queue is full (backpressure) and after `delivery_timeout_ms` when the broker
/// does not acknowledge; a record that failed is never delivered later.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
    headers: OwnedHeaders,
) -> Result<Acknowledged, KafkaError> {
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(headers);
    producer
        .send(record, Timeout::After(Duration::ZERO))
        .await
        .map(|delivery| Acknowledged {
            partition: delivery.partition,
            offset: delivery.offset,
        })
        .map_err(|(error, _)| error)
}

/// Sends records that cannot be processed to the dead-letter topic, with the reason and their
/// origin in headers, so nothing is dropped silently.
#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(producer: FutureProducer, topic: impl Into<String>) -> Self {
        DeadLetters {
            producer,
            topic: topic.into(),
        }
    }

    /// Copies `message` to the dead-letter topic. Retries until the broker acknowledges: the
    /// caller must not commit the source offset before this returns.
    pub async fn send(&self, stage: &str, message: &BorrowedMessage<'_>, reason: &str) {
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(header("ucx-dlq-stage", stage))
            .insert(header("ucx-dlq-reason", reason))
            .insert(header("ucx-dlq-source-topic", message.topic()))
            .insert(header("ucx-dlq-source-partition", &partition))
            .insert(header("ucx-dlq-source-offset", &offset));
        let key = message.key().unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        loop {
            let record = FutureRecord::to(&self.topic)
                .key(key)
                .payload(payload)
                .headers(headers.clone());
            match self.producer.send(record, Timeout::Never).await {
                Ok(_) => return,
                Err((error, _)) => {
                    tracing::warn!(%error, topic = %self.topic, "dead-letter produce failed, retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// A UTF-8 string header.
pub fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// Reads a UTF-8 header of a consumed message.
pub fn header_value<'m>(message: &'m BorrowedMessage<'_>, key: &str) -> Option<&'m str> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}

/// Subscribes and logs the assignment; a consumer that can't subscribe is a start-up error.
pub fn subscribe(consumer: &StreamConsumer, topics: &[&str]) -> Result<(), KafkaError> {
    consumer.subscribe(topics)?;
    tracing::info!(?topics, "subscribed");
    Ok(())
}
