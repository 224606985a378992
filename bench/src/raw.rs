//! The raw limits the pipeline is measured against: the broker through rdkafka alone (the same
//! Avro records, the producer settings the gateway uses) and ClickHouse through the
//! `clickhouse` crate alone (the same rows the sinks write).

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use ucx_tables::beat_tables::AcdRow;

pub struct Throughput {
    pub records: usize,
    pub seconds: f64,
    pub bytes: usize,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    pub fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds / (1024.0 * 1024.0)
    }
}

/// Produces `records` (cycled) to a new topic of `partitions` with acks=all and idempotence,
/// keyed like the gateway (by installation), then reads them all back.
pub async fn kafka(
    brokers: &str,
    topic: &str,
    partitions: i32,
    records: &[(String, Vec<u8>)],
    count: usize,
) -> anyhow::Result<(Throughput, Throughput)> {
    let settings = ucx_common::config::KafkaSettings {
        brokers: brokers.to_string(),
        topic_partitions: partitions,
        ..Default::default()
    };
    ucx_common::kafka::ensure_topics(&settings, &[topic]).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "100000")
        .create()?;
    let started = Instant::now();
    let mut bytes = 0;
    let mut in_flight = FuturesUnordered::new();
    for index in 0..count {
        let (key, payload) = &records[index % records.len()];
        bytes += payload.len();
        in_flight.push(producer.send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(30),
        ));
        if in_flight.len() >= 50_000 {
            if let Some(Err((error, _))) = in_flight.next().await {
                anyhow::bail!("producing: {error}");
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        if let Err((error, _)) = result {
            anyhow::bail!("producing: {error}");
        }
    }
    let produced = Throughput {
        records: count,
        seconds: started.elapsed().as_secs_f64(),
        bytes,
    };

    let topic = topic.to_string();
    let brokers = brokers.to_string();
    let consumed = tokio::task::spawn_blocking(move || -> anyhow::Result<Throughput> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", format!("bench-raw-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment.add_partition_offset(&topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let started = Instant::now();
        let (mut records, mut bytes) = (0, 0);
        while records < count {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "read {records} of {count} records in 300 s"
            );
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                bytes += message?.payload_len();
                records += 1;
            }
        }
        Ok(Throughput {
            records,
            seconds: started.elapsed().as_secs_f64(),
            bytes,
        })
    })
    .await??;
    Ok((produced, consumed))
}

/// Inserts `count` rows of the sinks' own ACD row type into `ucx_acd` of a database the sinks'
/// migrations created, in batches of `batch` rows (the sinks' default batch), and returns the
/// rows per second.
pub async fn clickhouse(
    settings: &ucx_common::config::ClickHouseSettings,
    count: usize,
    batch: usize,
) -> anyhow::Result<Throughput> {
    ucx_tables::migrations::apply(settings).await?;
    let client = ucx_common::clickhouse::client(settings);
    let now = (ucx_common::now_ms() / 1000) as u32;
    let rows: Vec<AcdRow> = (0..count)
        .map(|index| AcdRow {
            installation_id: format!("inst-{:04}", index % 1000),
            customer_id: format!("cust-{:03}", index % 100),
            node_id: format!("node-{}", 1 + index % 3),
            region: "EU".into(),
            beat_id: uuid::Uuid::new_v4(),
            sent_at: ucx_tables::columns::Seconds(now - (index / 1000) as u32),
            received_at: ucx_tables::columns::Seconds(now),
            fifo_queued_calls: (index % 17) as u32,
            camp_on_queued_calls: (index % 5) as u32,
            active_consultation_calls: (index % 3) as u32,
        })
        .collect();
    let started = Instant::now();
    for chunk in rows.chunks(batch) {
        let mut insert = client.insert::<AcdRow>("ucx_acd").await?;
        for row in chunk {
            insert.write(row).await?;
        }
        insert.end().await?;
    }
    Ok(Throughput {
        records: count,
        seconds: started.elapsed().as_secs_f64(),
        bytes: 0,
    })
}
