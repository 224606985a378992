//! Whether the processor has caught up since its partitions were assigned: each one read up to
//! the high watermark the broker reported at least once. Heartbeat loss is judged only then. An
//! empty local queue is not enough: right after a start or a rebalance the consumer fetches its
//! partitions' backlogs one response at a time, and a server whose partition was not fetched yet
//! would look silent next to those that were (the detection-quality report caught three such
//! false alarms). Once every partition was caught up, beats are read as they come, and what
//! waits in a fetch for a few milliseconds does not matter.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::Consumer;

/// Under a steady stream a few beats always wait in the next fetch; a partition this close to
/// its end counts as read (a backlog after a start is thousands, and these few are milliseconds
/// old: no server falls silent within them).
const SLACK_RECORDS: i64 = 200;
use rdkafka::Offset;

#[derive(Debug, Default)]
pub struct Progress {
    /// Per partition: the offset of the next beat to read.
    next: BTreeMap<i32, i64>,
    /// Partitions read up to their high watermark since the assignment.
    reached: BTreeSet<i32>,
}

impl Progress {
    /// Starts from the committed offsets of the new assignment (where reading resumes).
    pub fn assigned<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
        consumer: &C,
        topic: &str,
    ) -> Self {
        let mut next = BTreeMap::new();
        match consumer.committed(Duration::from_secs(5)) {
            Ok(committed) => {
                for element in committed.elements_for_topic(topic) {
                    if let Offset::Offset(offset) = element.offset() {
                        next.insert(element.partition(), offset);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "reading the committed offsets"),
        }
        Progress {
            next,
            reached: BTreeSet::new(),
        }
    }

    pub fn consumed(&mut self, partition: i32, offset: i64) {
        self.next.insert(partition, offset + 1);
    }

    /// Every assigned partition of `topic` has been read up to its high watermark since the
    /// assignment (asks the broker about those not there yet).
    pub fn caught_up<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
        &mut self,
        consumer: &C,
        topic: &str,
    ) -> bool {
        let Ok(assignment) = consumer.assignment() else {
            return false;
        };
        let partitions: Vec<i32> = assignment
            .elements_for_topic(topic)
            .iter()
            .map(|element| element.partition())
            .collect();
        for &partition in &partitions {
            if self.reached.contains(&partition) {
                continue;
            }
            match consumer.fetch_watermarks(topic, partition, Duration::from_secs(1)) {
                Ok((low, high))
                    if self.next.get(&partition).copied().unwrap_or(low) + SLACK_RECORDS
                        >= high =>
                {
                    self.reached.insert(partition);
                }
                _ => return false,
            }
        }
        !partitions.is_empty()
    }
}
