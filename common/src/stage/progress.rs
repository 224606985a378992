//! Whether a stage has caught up since its partitions were assigned: each one read up to the
//! high watermark the broker reported when first asked after the assignment (the backlog then;
//! a steady stream behind it does not move the goal, and no slack lets a small backlog pass). An empty local queue is not enough: right
//! after a start or a rebalance the consumer fetches its partitions' backlogs one response at a
//! time, and a server whose partition was not fetched yet would look silent next to those that
//! were (the processors judge heartbeat loss only once caught up; the detection-quality report
//! caught three false alarms before). Once every partition was caught up, records are read as
//! they come, and what waits in a fetch for a few milliseconds does not matter.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::Offset;

type TopicPartition = (String, i32);

#[derive(Debug, Default)]
pub struct Progress {
    /// Per partition: the offset of the next record to read.
    next: super::offsets::Offsets,
    /// Per partition: the high watermark the broker reported when first asked after the
    /// assignment: the backlog to read before the partition counts as caught up. Fixed once
    /// asked, so a steady stream behind it does not keep moving the goal.
    targets: super::offsets::Offsets,
    /// Partitions read up to their high watermark since the assignment.
    reached: BTreeSet<TopicPartition>,
}

impl Progress {
    /// Starts from the committed offsets of the new assignment (where reading resumes).
    pub fn assigned<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(consumer: &C) -> Self {
        let mut next = super::offsets::Offsets::default();
        match consumer.committed(Duration::from_secs(5)) {
            Ok(committed) => {
                for element in committed.elements() {
                    if let Offset::Offset(offset) = element.offset() {
                        next.set(element.topic(), element.partition(), offset);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "reading the committed offsets"),
        }
        Progress {
            next,
            targets: Default::default(),
            reached: BTreeSet::new(),
        }
    }

    pub fn consumed(&mut self, topic: &str, partition: i32, offset: i64) {
        self.next.set(topic, partition, offset + 1);
    }

    /// Every assigned partition has been read up to its high watermark since the assignment
    /// (asks the broker about those not there yet).
    pub fn caught_up<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
        &mut self,
        consumer: &C,
    ) -> bool {
        let Ok(assignment) = consumer.assignment() else {
            return false;
        };
        let partitions: Vec<TopicPartition> = assignment
            .elements()
            .iter()
            .map(|element| (element.topic().to_string(), element.partition()))
            .collect();
        for topic_partition in &partitions {
            if self.reached.contains(topic_partition) {
                continue;
            }
            let (topic, partition) = topic_partition;
            let target = match self.targets.get(topic, *partition) {
                Some(target) => target,
                None => {
                    let Ok((low, high)) =
                        consumer.fetch_watermarks(topic, *partition, Duration::from_secs(1))
                    else {
                        return false;
                    };
                    // Nothing committed: reading starts at the oldest record kept.
                    if self.next.get(topic, *partition).is_none() {
                        self.next.set(topic, *partition, low);
                    }
                    self.targets.set(topic, *partition, high);
                    high
                }
            };
            if self.next.get(topic, *partition).unwrap_or(0) < target {
                return false;
            }
            self.reached.insert(topic_partition.clone());
        }
        !partitions.is_empty()
    }
}
