//! Stored beats for a backtest: every partition of the beats topic read from its oldest retained
//! record to where it ended when the read began, by offset, as the processors read them.

use std::collections::HashMap;
use std::time::Duration;

use super::shards::Record;
use crate::state::Applied;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use ucx_common::config::KafkaSettings;

/// Hands every record of the beats topic to `each` with its key, partition by partition in
/// offset order (interleaved across partitions as the broker delivers them); returns how many
/// were read. `progress(read, total)` is called about once a second.
pub async fn read_beats(
    settings: &KafkaSettings,
    mut each: impl AsyncFnMut(&[u8], Record),
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let topic = &settings.beats_topic;
    let partitions = ucx_common::kafka::partition_count(settings, topic).await?;
    anyhow::ensure!(
        partitions > 0,
        "the beats topic {topic} does not exist on {}: check kafka.brokers and kafka.beats_topic",
        settings.brokers
    );
    let consumer = ucx_common::kafka::reader(settings, "ucx-backtest")?;
    // where each partition ends now: beats arriving during the read are not part of it
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut total = 0;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        let (low, high) = {
            let consumer = &consumer;
            tokio::task::block_in_place(|| {
                consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))
            })?
        };
        if high > low {
            ends.insert(partition, high);
            total += (high - low) as u64;
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    let mut read = 0;
    if ends.is_empty() {
        return Ok(read);
    }
    consumer.assign(&assignment)?;
    let mut reported = std::time::Instant::now();
    while !ends.is_empty() {
        let message = match consumer.recv().await {
            Ok(message) => message,
            Err(KafkaError::PartitionEOF(partition)) => {
                ends.remove(&partition);
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let partition = message.partition();
        let Some(&end) = ends.get(&partition) else {
            continue;
        };
        if message.offset() >= end {
            ends.remove(&partition);
            continue;
        }
        let offset = message.offset();
        read += 1;
        let record = Record {
            payload: message.payload().unwrap_or_default().to_vec(),
            at: Applied { partition, offset },
        };
        // the gateway keys beats by installation; a record without a key by its partition
        let key = message
            .key()
            .map_or_else(|| partition.to_be_bytes().to_vec(), <[u8]>::to_vec);
        drop(message);
        each(&key, record).await;
        // a partition's last record is `end - 1`: done with it
        if offset + 1 >= end {
            ends.remove(&partition);
        }
        if reported.elapsed() >= Duration::from_secs(1) {
            progress(read, total);
            reported = std::time::Instant::now();
        }
    }
    progress(read, total);
    Ok(read)
}
