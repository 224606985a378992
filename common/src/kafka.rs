//! The one way the pipeline talks to Kafka: clients built from `[kafka]`, topics created by
//! the project, records produced with broker acknowledgement, dead letters with their reason.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, TopicPartitionList};

use crate::config::KafkaSettings;

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("security.protocol", &settings.security_protocol);
    if settings.security_protocol.starts_with("sasl") {
        config
            .set("sasl.mechanism", &settings.sasl_mechanism)
            .set("sasl.username", &settings.sasl_username)
            .set("sasl.password", settings.sasl_password.expose());
    }
    config
}

/// The operator's `client_options` go last so they can override any default set here.
fn with_client_options(mut config: ClientConfig, settings: &KafkaSettings) -> ClientConfig {
    for (key, value) in &settings.client_options {
        config.set(key, value);
    }
    config
}

/// A raw idempotent producer that waits for all in-sync replicas (`acks=all`), with a bounded
/// queue and delivery timeout so that callers learn of a slow or absent broker.
fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    let mut config = base_config(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            settings.delivery_timeout_ms.as_millis().to_string(),
        )
        .set(
            "queue.buffering.max.messages",
            settings.max_in_flight_records.to_string(),
        )
        .set("linger.ms", settings.linger_ms.to_string())
        // Queued records are timed out by the broker's thread, which sleeps through reconnect
        // backoff (10 s by default): a short backoff keeps failures within the delivery timeout.
        .set("reconnect.backoff.max.ms", "1000");
    with_client_options(config, settings).create()
}

/// A consumer in `group_id` that starts from the earliest record and commits only what the
/// caller commits explicitly (at-least-once).
pub fn consumer(settings: &KafkaSettings, group_id: &str) -> Result<StreamConsumer, KafkaError> {
    with_client_options(consumer_config(settings, group_id), settings).create()
}

fn consumer_config(settings: &KafkaSettings, group_id: &str) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "session.timeout.ms",
            settings.consumer_session_timeout_ms.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            settings
                .consumer_heartbeat_interval_ms
                .as_millis()
                .to_string(),
        );
    config
}

/// A client for metadata requests only (readiness probes): no group, no subscriptions.
pub fn metadata_client(
    settings: &KafkaSettings,
) -> Result<rdkafka::consumer::BaseConsumer, KafkaError> {
    let mut config = base_config(settings);
    config.set("reconnect.backoff.max.ms", "1000");
    with_client_options(config, settings).create()
}

/// The context of [`reader`]: reaching the end of a partition is how a reader learns it is
/// caught up, not an error worth a log line (librdkafka reports it as one).
pub struct ReaderContext;

impl rdkafka::ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end_of_partition = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end_of_partition {
            tracing::error!(%error, reason, "kafka client error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ReaderContext {}

/// How long a [`reader`] lets the broker hold a fetch while nothing new waits (librdkafka's
/// `fetch.wait.max.ms`, 500 ms by default): the stages' consumers wait 50–100 ms.
pub const READER_FETCH_WAIT: Duration = Duration::from_millis(50);

/// A consumer outside any group that reads assigned partitions and never commits: every
/// start reads from the beginning (the registry topic), with an event at the end of the data.
/// `name` is only the client's group id: readers never join the group nor commit.
///
/// The broker holds a fetch at the end of the data for at most [`READER_FETCH_WAIT`]: a
/// registry view sees a new record that much late at worst, and every admin write waits for its
/// own gateway's view to read it back (with librdkafka's 500 ms and a broker that holds fetches
/// to the end, as the local tansu does, key issuance took a quarter of a second each).
pub fn reader(
    settings: &KafkaSettings,
    name: &str,
) -> Result<StreamConsumer<ReaderContext>, KafkaError> {
    let mut config = base_config(settings);
    config
        .set("group.id", name)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set(
            "fetch.wait.max.ms",
            READER_FETCH_WAIT.as_millis().to_string(),
        );
    with_client_options(config, settings).create_with_context(ReaderContext)
}

/// The context of a consumer that publishes its lag: librdkafka's statistics (every
/// `statistics.interval.ms`) carry each assigned partition's lag, set on the gauge by topic and
/// partition. Partitions no longer assigned lose their series. It also counts rebalances, so a
/// consumer with per-partition state learns that its assignment changed.
pub struct LagContext {
    lag: prometheus::IntGaugeVec,
    rebalances: AtomicU64,
}

impl LagContext {
    /// Assignments and revocations so far.
    pub fn rebalances(&self) -> u64 {
        self.rebalances.load(Ordering::SeqCst)
    }
}

impl rdkafka::ClientContext for LagContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        for (topic, topic_statistics) in statistics.topics {
            for (partition, partition_statistics) in topic_statistics.partitions {
                if partition < 0 {
                    continue; // librdkafka's internal "unassigned" partition
                }
                let labels = [topic.as_str(), &partition.to_string()];
                if partition_statistics.consumer_lag >= 0 {
                    self.lag
                        .with_label_values(&labels)
                        .set(partition_statistics.consumer_lag);
                } else {
                    let _ = self.lag.remove_label_values(&labels);
                }
            }
        }
    }
}

impl rdkafka::consumer::ConsumerContext for LagContext {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        tracing::info!(?rebalance, "partitions rebalanced");
        self.rebalances.fetch_add(1, Ordering::SeqCst);
    }
}

/// [`consumer`] that also keeps `lag` (labels `topic`, `partition`) current every 5 s.
///
/// `instance_id` makes it a static member (`group.instance.id`) when static membership is on:
/// it must be unique in the group and the same after a restart.
pub fn consumer_with_lag(
    settings: &KafkaSettings,
    group_id: &str,
    instance_id: &str,
    lag: prometheus::IntGaugeVec,
    fetch_wait: Duration,
) -> Result<StreamConsumer<LagContext>, KafkaError> {
    let mut config = consumer_config(settings, group_id);
    config
        .set("statistics.interval.ms", "5000")
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string());
    if settings.consumer_static_membership {
        config.set("group.instance.id", instance_id);
    }
    with_client_options(config, settings).create_with_context(LagContext {
        lag,
        rebalances: AtomicU64::new(0),
    })
}

/// Creates the compacted, single-partition registry topic if it is missing.
pub async fn ensure_registry_topic(settings: &KafkaSettings) -> Result<(), KafkaError> {
    let topic = NewTopic::new(
        &settings.registry_topic,
        1,
        TopicReplication::Fixed(settings.topic_replication_factor),
    )
    .set("cleanup.policy", "compact");
    create_topics(settings, &[topic]).await
}

/// Creates a compacted topic of `settings.topic_partitions` partitions if it is missing (state
/// changelogs: the newest record per key is what counts).
pub async fn ensure_compacted_topic(
    settings: &KafkaSettings,
    name: &str,
) -> Result<(), KafkaError> {
    let topic = NewTopic::new(
        name,
        settings.topic_partitions,
        TopicReplication::Fixed(settings.topic_replication_factor),
    )
    .set("cleanup.policy", "compact");
    create_topics(settings, &[topic]).await
}

/// How many partitions `topic` has, from the broker's metadata.
pub async fn partition_count(settings: &KafkaSettings, topic: &str) -> Result<usize, KafkaError> {
    let client: rdkafka::consumer::BaseConsumer =
        with_client_options(base_config(settings), settings).create()?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let metadata = client.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or_default())
    })
    .await
    .expect("metadata task")
}

/// One record of [`scan_topic`].
pub struct ScannedRecord<'a> {
    pub key: Option<&'a [u8]>,
    /// `None` for a tombstone.
    pub payload: Option<&'a [u8]>,
    pub timestamp_ms: Option<i64>,
}

/// Hands every retained record of `topic` to `each`, all partitions, until each partition
/// reports its end (not the reported high watermark, which the local broker sets at the start
/// of its last batch); answers how many records were read. Fails after `timeout`.
pub async fn scan_topic(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut each: impl FnMut(ScannedRecord<'_>),
) -> Result<u64, KafkaError> {
    let partitions = partition_count(settings, topic).await?;
    let consumer = reader(settings, "ucx-scan")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut unfinished: std::collections::HashSet<i32> = (0..partitions as i32).collect();
    let deadline = Instant::now() + timeout;
    let mut read = 0;
    while !unfinished.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, consumer.recv()).await {
            Err(_) => return Err(KafkaError::Global(RDKafkaErrorCode::OperationTimedOut)),
            Ok(Err(KafkaError::PartitionEOF(partition))) => {
                unfinished.remove(&partition);
                continue;
            }
            Ok(Err(error)) => return Err(error),
            Ok(Ok(message)) => message,
        };
        read += 1;
        each(ScannedRecord {
            key: message.key(),
            payload: message.payload(),
            timestamp_ms: message.timestamp().to_millis(),
        });
    }
    Ok(read)
}

/// A topic's configuration entries, as the broker describes them (`retention.ms`,
/// `cleanup.policy`, …); empty for a topic the broker does not know.
pub async fn topic_config(
    settings: &KafkaSettings,
    topic: &str,
) -> Result<std::collections::HashMap<String, String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        with_client_options(base_config(settings), settings).create()?;
    let described = admin
        .describe_configs(
            &[rdkafka::admin::ResourceSpecifier::Topic(topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    let mut config = std::collections::HashMap::new();
    if let Some(Ok(resource)) = described.into_iter().next() {
        for entry in resource.entries {
            if let Some(value) = entry.value {
                config.insert(entry.name, value);
            }
        }
    }
    Ok(config)
}

/// What a consume loop does with a failed receive: log it and pause briefly (librdkafka
/// reconnects by itself; the pause keeps a broker outage from spinning the loop).
pub async fn pause_after_consume_error(error: &KafkaError) {
    tracing::warn!(%error, "kafka consume error");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Creates the pipeline's topics if they are missing; existing topics are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[&str]) -> Result<(), KafkaError> {
    let retention_ms = (u64::from(settings.retention_hours) * 3_600_000).to_string();
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.topic_partitions,
                TopicReplication::Fixed(settings.topic_replication_factor),
            )
            .set("retention.ms", &retention_ms)
        })
        .collect();
    create_topics(settings, &new_topics).await
}

async fn create_topics(
    settings: &KafkaSettings,
    new_topics: &[NewTopic<'_>],
) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        with_client_options(base_config(settings), settings).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(new_topics, &options).await? {
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

/// Whether a failed admin call (topic creation) cannot succeed by trying again: the request is
/// refused (no permission, a policy, an impossible partition count, a bad name). Too few
/// brokers for the replication factor is not: a cluster still starting answers so until its
/// brokers registered.
pub fn is_permanent_admin_error(error: &KafkaError) -> bool {
    match error {
        KafkaError::AdminOp(code) => matches!(
            code,
            RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::PolicyViolation
                | RDKafkaErrorCode::InvalidPartitions
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::InvalidTopic
        ),
        KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => true,
        _ => false,
    }
}

/// Creates the beats, alerts and dead-letter topics if they are missing.
pub async fn ensure_pipeline_topics(settings: &KafkaSettings) -> Result<(), KafkaError> {
    ensure_topics(
        settings,
        &[
            &settings.beats_topic,
            &settings.alerts_topic,
            &settings.changes_topic,
            &settings.dead_letter_topic,
        ],
    )
    .await
}

/// Where a produced record landed.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    pub partition: i32,
    pub offset: i64,
}

/// The pipeline's producer: idempotent, `acks=all`, and self-healing. An idempotent producer
/// can get stuck on a broker that lost its producer state (librdkafka bumps the epoch and the
/// broker keeps answering UNKNOWN_PRODUCER_ID); when nothing has been acknowledged for twice
/// the delivery timeout, the next failure replaces the client with a fresh one.
pub struct Producer {
    settings: KafkaSettings,
    current: RwLock<Arc<FutureProducer>>,
    health: Mutex<ProducerHealth>,
    idle_flush: IdleFlush,
}

/// When the producer last got an acknowledgement and was last replaced.
struct ProducerHealth {
    last_acknowledged: Instant,
    last_replaced: Instant,
}

/// One round of an idle flush: how long `rd_kafka_flush` keeps `linger_ms` off (it returns
/// sooner once everything is acknowledged).
const IDLE_FLUSH_ROUND_MS: i32 = 5;
/// Rounds at most per nudge: a broker thread that a loaded machine wakes late still sees one.
const IDLE_FLUSH_ROUNDS: usize = 20;
/// More records than this in flight is busy: batching then pays, the flush stops.
const IDLE_AT_MOST: usize = 64;

/// Sends the record of an idle producer at once instead of after `linger_ms`: while
/// `rd_kafka_flush` runs, librdkafka treats linger as zero. A record produced while nothing
/// else is in flight asks for a flush, which goes on in rounds while a few records are in
/// flight and none of them is acknowledged yet; a busy producer is not flushed and batches. The
/// flush blocks, so it runs on a thread of its own.
struct IdleFlush {
    nudges: std::sync::mpsc::SyncSender<Arc<FutureProducer>>,
    /// Records of this producer sent and not yet acknowledged or failed.
    in_flight: Arc<AtomicUsize>,
}

impl IdleFlush {
    fn start() -> Result<Self, KafkaError> {
        let (nudges, received) = std::sync::mpsc::sync_channel::<Arc<FutureProducer>>(1);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let pending = in_flight.clone();
        std::thread::Builder::new()
            .name("kafka-idle-flush".into())
            .spawn(move || {
                for producer in received {
                    flush_while_idle(&producer, &pending);
                }
            })
            .map_err(|error| {
                KafkaError::ClientCreation(format!("starting the producer's flush thread: {error}"))
            })?;
        Ok(IdleFlush { nudges, in_flight })
    }

    /// Counts a record in flight until the guard is dropped.
    fn count(&self) -> InFlight<'_> {
        let first = self.in_flight.fetch_add(1, Ordering::AcqRel) == 0;
        InFlight {
            count: &self.in_flight,
            first,
        }
    }

    /// Asks for a flush of a record already handed to librdkafka (a flush already asked for
    /// and not yet started covers it too).
    fn nudge(&self, producer: &Arc<FutureProducer>) {
        let _ = self.nudges.try_send(producer.clone());
    }
}

/// A record counted in flight (also when its send is abandoned half way).
struct InFlight<'a> {
    count: &'a AtomicUsize,
    /// Nothing else was in flight.
    first: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

fn flush_while_idle(producer: &FutureProducer, in_flight: &AtomicUsize) {
    use rdkafka::producer::Producer as _;
    for _ in 0..IDLE_FLUSH_ROUNDS {
        let pending = in_flight.load(Ordering::Acquire);
        if pending == 0 || pending > IDLE_AT_MOST {
            return;
        }
        // rdkafka's own `flush` calls rd_kafka_flush with no time at all, which ends before
        // the broker's thread has woken up to see it.
        // SAFETY: the client is alive (the caller holds it) and rd_kafka_flush may be called
        // from any thread.
        let outcome = unsafe {
            rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), IDLE_FLUSH_ROUND_MS)
        };
        if outcome == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return; // everything acknowledged
        }
    }
}

impl Producer {
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        Ok(Producer {
            settings: settings.clone(),
            current: RwLock::new(Arc::new(producer(settings)?)),
            health: Mutex::new(ProducerHealth {
                last_acknowledged: Instant::now(),
                last_replaced: Instant::now(),
            }),
            idle_flush: IdleFlush::start()?,
        })
    }

    /// Produces one record and waits for the broker's acknowledgement. Fails at once when the
    /// queue is full (backpressure) and after `delivery_timeout_ms` when the broker does not
    /// acknowledge; a record that failed is not delivered later.
    pub async fn produce(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<Acknowledged, KafkaError> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.send(record).await
    }

    /// [`Producer::produce`] into a chosen partition (state kept beside the partition it
    /// describes), without headers.
    pub async fn produce_to_partition(
        &self,
        topic: &str,
        partition: i32,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Acknowledged, KafkaError> {
        let record = FutureRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload);
        self.send(record).await
    }

    /// A tombstone (a record without a value) for `key` in a compacted topic (in `partition`,
    /// or where the key hashes to): compaction then drops every record of the key, the
    /// tombstone last.
    pub async fn tombstone(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
    ) -> Result<Acknowledged, KafkaError> {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).key(key);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        self.send(record).await
    }

    async fn send(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<Acknowledged, KafkaError> {
        let producer = self.current.read().expect("producer lock").clone();
        let in_flight = self.idle_flush.count();
        // a full queue fails at once (backpressure), never waits
        let delivery = producer.send_result(record).map_err(|(error, _)| error);
        if in_flight.first && delivery.is_ok() {
            self.idle_flush.nudge(&producer);
        }
        let result = match delivery {
            Ok(delivery) => match delivery.await {
                Ok(Ok(delivery)) => Ok(Acknowledged {
                    partition: delivery.partition,
                    offset: delivery.offset,
                }),
                Ok(Err((error, _))) => Err(error),
                Err(_canceled) => Err(KafkaError::Canceled),
            },
            Err(error) => Err(error),
        };
        match &result {
            Ok(_) => self.health.lock().expect("health lock").last_acknowledged = Instant::now(),
            Err(_) => self.replace_if_stuck(),
        }
        result
    }

    fn replace_if_stuck(&self) {
        let delivery_timeout = self.settings.delivery_timeout_ms;
        let mut health = self.health.lock().expect("health lock");
        let stuck = health.last_acknowledged.elapsed() > 2 * delivery_timeout
            && health.last_replaced.elapsed() > delivery_timeout;
        if !stuck {
            return;
        }
        match producer(&self.settings) {
            Ok(fresh) => {
                tracing::warn!(
                    seconds_without_ack = health.last_acknowledged.elapsed().as_secs(),
                    "replacing the kafka producer"
                );
                *self.current.write().expect("producer lock") = Arc::new(fresh);
                health.last_replaced = Instant::now();
            }
            Err(error) => tracing::error!(%error, "creating a replacement kafka producer failed"),
        }
    }

    /// Waits up to `timeout` for records still queued (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        use rdkafka::producer::Producer as _;
        self.current.read().expect("producer lock").flush(timeout)
    }
}

/// A UTF-8 string header.
pub fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// Reads a UTF-8 header of a consumed message (borrowed or owned).
pub fn header_value<'m, M: Message>(message: &'m M, key: &str) -> Option<&'m str> {
    use rdkafka::message::Headers;
    message
        .headers()?
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}

/// Subscribes and logs the assignment; a consumer that can't subscribe is a start-up error.
pub fn subscribe<C: rdkafka::consumer::ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    topics: &[&str],
) -> Result<(), KafkaError> {
    consumer.subscribe(topics)?;
    tracing::info!(?topics, "subscribed");
    Ok(())
}

#[cfg(test)]
mod sasl_tests {
    use super::*;

    /// docker-compose's Apache Kafka authenticates each stage with SCRAM-SHA-512: librdkafka
    /// refuses that mechanism at client creation when it was built without OpenSSL.
    #[test]
    fn a_stage_can_authenticate_with_scram() {
        let settings = KafkaSettings {
            brokers: "127.0.0.1:9".into(),
            security_protocol: "sasl_plaintext".into(),
            sasl_username: "ucx-ingest".into(),
            sasl_password: "a-password".into(),
            ..Default::default()
        };
        let config = base_config(&settings);
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("ucx-ingest"));
        if let Err(error) = producer(&settings) {
            panic!("librdkafka refuses SASL/SCRAM: {error}");
        }
        // the local broker's default: no SASL properties at all
        let plain = base_config(&KafkaSettings::default());
        assert_eq!(plain.get("security.protocol"), Some("plaintext"));
        assert_eq!(plain.get("sasl.username"), None);
    }
}
