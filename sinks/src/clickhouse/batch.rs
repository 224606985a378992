//! One batch: the rows collected per table and, per partition, the next offset to commit once
//! every row is in ClickHouse.

use std::collections::HashMap;
use std::time::Instant;

use rdkafka::{Offset, TopicPartitionList};

use super::rows::{AcdRow, AlertRow, DiskRow, ProcessRow, RawBeatRow};

#[derive(Default)]
pub struct Batch {
    pub disks: Vec<DiskRow>,
    pub processes: Vec<ProcessRow>,
    pub acd: Vec<AcdRow>,
    pub raw: Vec<RawBeatRow>,
    pub alerts: Vec<AlertRow>,
    next_offsets: HashMap<(String, i32), i64>,
    first_record_at: Option<Instant>,
}

impl Batch {
    /// Notes that the record at `offset` is accounted for (as rows or as a dead letter).
    pub fn track(&mut self, topic: &str, partition: i32, offset: i64) {
        self.first_record_at.get_or_insert_with(Instant::now);
        let next = self
            .next_offsets
            .entry((topic.to_string(), partition))
            .or_insert(0);
        *next = (*next).max(offset + 1);
    }

    pub fn row_count(&self) -> usize {
        self.disks.len()
            + self.processes.len()
            + self.acd.len()
            + self.raw.len()
            + self.alerts.len()
    }

    /// When the first record of this batch arrived; `None` for an empty batch.
    pub fn first_record_at(&self) -> Option<Instant> {
        self.first_record_at
    }

    /// The offsets to commit after this batch is written.
    pub fn offsets(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), next) in &self.next_offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .expect("a fresh offset is valid");
        }
        list
    }
}
