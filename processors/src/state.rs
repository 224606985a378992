//! Per-installation state and its changelog. Everything the processors remember of a server
//! (facts, alert streaks and open alerts, baselines and trends, heartbeat) is one document
//! (MessagePack with field names; JSON before, still read),
//! written to a compacted topic keyed by installation id, into the *same partition number* as
//! the installation's beats. A processor that is assigned beats partition P (at start, after a
//! crash or a rebalance) restores partition P of the changelog and goes on from the committed
//! offset; each document records the newest beat it includes, so beats replayed after a crash
//! are not counted twice.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use ucx_common::config::KafkaSettings;
use ucx_common::kafka::{self, Producer};

use crate::alert_book::AlertBook;
use crate::changes::Inventory;
use crate::heartbeat::Liveness;
use crate::rules::series::History;
use crate::rules::signals::Facts;

/// Bumped when the document changes incompatibly; older documents are then ignored.
pub const FORMAT: u32 = 1;
/// How long restoring one assignment may take before the processor gives up (and restarts).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(120);

/// The beats-topic position of the newest beat a state includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstallationState {
    pub format: u32,
    pub facts: Facts,
    pub alerts: AlertBook,
    pub history: History,
    /// Each node's beats by data class (a state written before v2 kept one heartbeat per
    /// installation under `heartbeat`: ignored, the nodes' cadences are learnt again).
    pub liveness: Liveness,
    pub inventory: Inventory,
    pub applied: Option<Applied>,
}

impl Default for InstallationState {
    fn default() -> Self {
        InstallationState {
            format: FORMAT,
            facts: Facts::default(),
            alerts: AlertBook::default(),
            history: History::default(),
            liveness: Liveness::default(),
            inventory: Inventory::default(),
            applied: None,
        }
    }
}

impl InstallationState {
    /// Whether the beat at (`partition`, `offset`) is already part of this state.
    pub fn includes(&self, partition: i32, offset: i64) -> bool {
        self.applied
            .is_some_and(|applied| applied.partition == partition && applied.offset >= offset)
    }
}

/// The changelog topic of installation states.
pub struct StateStore {
    settings: KafkaSettings,
    topic: String,
    producer: Arc<Producer>,
}

impl StateStore {
    /// Creates the changelog topic if missing and checks it has a partition for every beats
    /// partition (states are written to their beats' partition number).
    pub async fn open(
        settings: &KafkaSettings,
        topic: &str,
        producer: Arc<Producer>,
    ) -> anyhow::Result<Self> {
        kafka::ensure_compacted_topic(settings, topic).await?;
        let beats = kafka::partition_count(settings, &settings.beats_topic).await?;
        let states = kafka::partition_count(settings, topic).await?;
        anyhow::ensure!(
            states >= beats,
            "the state topic {topic} has {states} partitions but the beats topic {} has {beats}: \
             give the state topic at least as many (kafka-topics --alter --partitions {beats})",
            settings.beats_topic
        );
        Ok(StateStore {
            settings: settings.clone(),
            topic: topic.to_string(),
            producer,
        })
    }

    /// The states in changelog `partitions`, read from the beginning to the end; the newest
    /// document per installation wins, an empty one deletes.
    pub async fn restore(
        &self,
        partitions: &[i32],
    ) -> anyhow::Result<HashMap<String, InstallationState>> {
        let mut states = HashMap::new();
        if partitions.is_empty() {
            return Ok(states);
        }
        let reader = kafka::reader(&self.settings, "ucx-processor-state-reader")?;
        let mut assignment = TopicPartitionList::new();
        for &partition in partitions {
            assignment.add_partition_offset(&self.topic, partition, Offset::Beginning)?;
        }
        reader.assign(&assignment)?;
        let mut unfinished: HashSet<i32> = partitions.iter().copied().collect();
        let deadline = tokio::time::Instant::now() + RESTORE_TIMEOUT;
        while !unfinished.is_empty() {
            let received = tokio::time::timeout_at(deadline, reader.recv())
                .await
                .with_context(|| format!("restoring state partitions {partitions:?} timed out"))?;
            match received {
                Ok(message) => {
                    let Some(key) = message.key().map(String::from_utf8_lossy) else {
                        continue;
                    };
                    match message.payload().filter(|p| !p.is_empty()) {
                        None => {
                            states.remove(key.as_ref());
                        }
                        Some(payload) => match decode(payload) {
                            Ok(state) => {
                                states.insert(key.into_owned(), state);
                            }
                            Err(error) => tracing::error!(
                                installation_id = %key, %error,
                                "unreadable state document ignored; the installation starts afresh"
                            ),
                        },
                    }
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    unfinished.remove(&partition);
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the state topic");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        Ok(states)
    }

    /// Erases the states of `installations` (installation, partition): a tombstone each, all
    /// acknowledged when this returns `Ok`. A restore then starts them afresh, and compaction
    /// removes what the changelog kept of them.
    pub async fn erase(&self, installations: &[(String, i32)]) -> Result<(), KafkaError> {
        let tombstones = installations.iter().map(|(installation, partition)| {
            self.producer
                .tombstone(&self.topic, Some(*partition), installation.as_bytes())
        });
        for result in futures::future::join_all(tombstones).await {
            result?;
        }
        Ok(())
    }

    /// Writes states (installation, partition, document), all acknowledged when this returns
    /// `Ok`; the installations whose document the broker refused for what it is (too large)
    /// come back in the `Ok`, not written: retrying cannot help them, and they must not hold up
    /// the others. `Err` when the broker did not acknowledge (tried again by the caller).
    pub async fn write(
        &self,
        documents: &[(String, i32, Vec<u8>)],
    ) -> Result<Vec<(String, KafkaError)>, KafkaError> {
        let writes = documents.iter().map(|(installation, partition, document)| {
            self.producer.produce_to_partition(
                &self.topic,
                *partition,
                installation.as_bytes(),
                document,
            )
        });
        let mut refused = Vec::new();
        for ((installation, _, _), result) in documents
            .iter()
            .zip(futures::future::join_all(writes).await)
        {
            match result {
                Ok(_) => {}
                Err(error) if is_refusal(&error) => refused.push((installation.clone(), error)),
                Err(error) => return Err(error),
            }
        }
        Ok(refused)
    }
}

/// Documents larger than this are zstd-compressed. Nearly all are: a young state (half an hour
/// of a server) packs to about 8 KB and compresses to a third of that for about 20 µs, and a
/// fleet writes one per installation and minute, several times the bytes of its beats.
const COMPRESS_ABOVE_BYTES: usize = 1024;
/// The largest document written: below the broker's default 1 MB record limit with room for
/// the record's own overhead.
pub const MAX_DOCUMENT_BYTES: usize = 900 * 1024;
/// What a zstd frame starts with (a MessagePack state starts with a map's marker, a JSON one
/// with `{`).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd's fastest level: a state is written for every installation that had a beat since the
/// last checkpoint, so on a fleet of many installations it is encoded for every few beats; level
/// 1 is a third faster than 3 here for 2 % more bytes.
const COMPRESSION_LEVEL: i32 = 1;

thread_local! {
    /// One compression context per thread, reused: a fresh one per document (its tables
    /// allocated and cleared each time) cost as much as the compression itself.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// A state as its document: MessagePack with field names, so that, as with JSON, a field added
/// later reads as its default and a field dropped is ignored; numbers are written as binary,
/// not formatted as text (a third of JSON's time and bytes for the series that fill a state).
pub fn encode(state: &InstallationState) -> Vec<u8> {
    let packed = rmp_serde::to_vec_named(state).expect("states serialise");
    if packed.len() <= COMPRESS_ABOVE_BYTES {
        return packed;
    }
    COMPRESSOR.with_borrow_mut(|compressor| {
        let compressor = match compressor {
            Some(compressor) => compressor,
            None => compressor
                .insert(zstd::bulk::Compressor::new(COMPRESSION_LEVEL).expect("a zstd context")),
        };
        compressor.compress(&packed).expect("compressing in memory")
    })
}

/// Reads a document of [`encode`], or a JSON one written before it (compressed or not).
pub fn decode(document: &[u8]) -> anyhow::Result<InstallationState> {
    let decompressed;
    let body = if document.starts_with(&ZSTD_MAGIC) {
        decompressed = zstd::decode_all(document)?;
        &decompressed[..]
    } else {
        document
    };
    let state: InstallationState = if body.first() == Some(&b'{') {
        serde_json::from_slice(body)?
    } else {
        rmp_serde::from_slice(body)?
    };
    anyhow::ensure!(
        state.format == FORMAT,
        "format {} (this processor reads {FORMAT})",
        state.format
    );
    Ok(state)
}

/// The broker refused the record itself: too large, or otherwise invalid.
fn is_refusal(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode;
    matches!(
        error,
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_state_is_compressed_and_read_back() {
        let mut state = InstallationState::default();
        for index in 0..2_000 {
            let series = state.history.series(
                "n",
                "process_memory_percent",
                &format!("process p{index}.exe"),
            );
            series.learn(4.0);
            series.record(1_000, 4.0, 0);
        }
        let document = encode(&state);
        assert!(document.starts_with(&ZSTD_MAGIC));
        assert!(document.len() < rmp_serde::to_vec_named(&state).unwrap().len() / 3);
        assert_eq!(decode(&document).unwrap(), state);
    }

    /// A state of 40 series with 30 points each, as a warm installation's history has.
    fn warm_state() -> InstallationState {
        let mut state = InstallationState {
            applied: Some(Applied {
                partition: 1,
                offset: 7,
            }),
            ..Default::default()
        };
        for index in 0..40 {
            let series = state.history.series(
                "node-1",
                "process_memory_percent",
                &format!("process p{index}.exe"),
            );
            for minute in 0..30 {
                series.learn(4.0 + f64::from(minute % 7) / 3.0);
                series.record(60_000 * i64::from(minute), 4.0 + f64::from(minute) / 9.0, 0);
            }
        }
        state
    }

    #[test]
    fn a_packed_document_is_smaller_than_the_json_one_and_reads_back() {
        let state = warm_state();
        let packed = rmp_serde::to_vec_named(&state).unwrap();
        let json = serde_json::to_vec(&state).unwrap();
        assert!(
            packed.len() < json.len() * 3 / 4,
            "{} against {}",
            packed.len(),
            json.len()
        );
        let document = encode(&state);
        assert!(document.starts_with(&ZSTD_MAGIC) && document.len() < packed.len() / 2);
        assert_eq!(decode(&document).unwrap(), state);
        let empty = encode(&InstallationState::default());
        assert!(!empty.starts_with(&ZSTD_MAGIC), "not worth compressing");
        assert_eq!(decode(&empty).unwrap(), InstallationState::default());
    }

    #[test]
    fn a_json_document_written_before_is_still_read() {
        let state = warm_state();
        let json = serde_json::to_vec(&state).unwrap();
        assert!(
            json.len() > COMPRESS_ABOVE_BYTES,
            "big enough to have been compressed"
        );
        let compressed = zstd::bulk::compress(&json, COMPRESSION_LEVEL).unwrap();
        assert_eq!(decode(&compressed).unwrap(), state);
        let small = InstallationState {
            applied: Some(Applied {
                partition: 0,
                offset: 3,
            }),
            ..Default::default()
        };
        assert_eq!(decode(&serde_json::to_vec(&small).unwrap()).unwrap(), small);
    }

    #[test]
    fn a_field_added_later_reads_as_its_default_and_an_unknown_one_is_ignored() {
        // What a document of an older processor (no `inventory`) and of a newer one (a field
        // this processor does not know) look like, written through serde_json's tree.
        let mut tree = serde_json::to_value(warm_state()).unwrap();
        let fields = tree.as_object_mut().unwrap();
        fields.remove("inventory");
        fields.insert("added_later".into(), serde_json::json!({"x": [1, 2]}));
        let restored = decode(&rmp_serde::to_vec_named(&tree).unwrap()).unwrap();
        assert_eq!(restored, warm_state());
    }

    #[test]
    fn a_state_survives_its_document() {
        let mut state = InstallationState {
            applied: Some(Applied {
                partition: 2,
                offset: 41,
            }),
            ..Default::default()
        };
        state.history.series("n", "s", "disk C:").learn(4.0);
        let restored = decode(&encode(&state)).unwrap();
        assert_eq!(restored, state);
        assert!(restored.includes(2, 41) && restored.includes(2, 3));
        assert!(!restored.includes(2, 42) && !restored.includes(1, 3));
    }

    #[test]
    fn a_document_of_another_format_is_refused() {
        let state = InstallationState {
            format: FORMAT + 1,
            ..Default::default()
        };
        assert!(decode(&encode(&state)).is_err());
    }
}
