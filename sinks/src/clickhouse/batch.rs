//! One batch: the rows collected per table, and the records they came from (to dead-letter if
//! ClickHouse refuses a table's rows). The runtime commits the records' offsets once it is
//! written.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Instant;

use clickhouse::{Client, RowOwned, RowWrite};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::message::{OwnedMessage, Timestamp};
use rdkafka::Message;

/// The rows of one table, whatever their type: the writer only needs to count and insert them.
pub trait TableRows: Send + Sync {
    fn row_count(&self) -> usize;
    fn insert<'a>(
        &'a self,
        client: &'a Client,
        table: &'static str,
    ) -> BoxFuture<'a, Result<(), clickhouse::error::Error>>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Drops the rows, keeping the buffer.
    fn clear(&mut self);
}

impl<R: RowOwned + RowWrite + Send + Sync + 'static> TableRows for Vec<R> {
    fn row_count(&self) -> usize {
        Vec::len(self)
    }

    fn insert<'a>(
        &'a self,
        client: &'a Client,
        table: &'static str,
    ) -> BoxFuture<'a, Result<(), clickhouse::error::Error>> {
        async move {
            let mut insert = client.insert::<R>(table).await?;
            for row in self {
                insert.write(row).await?;
            }
            insert.end().await
        }
        .boxed()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn clear(&mut self) {
        let used = self.len();
        Vec::clear(self);
        give_back_unused(self, used);
    }
}

/// A buffer that held far less than it can (a table quiet in this batch, or a batch after a
/// larger one, e.g. a backlog's) gives the rest back, so kept buffers track recent batches.
fn give_back_unused<T>(buffer: &mut Vec<T>, used: usize) {
    if buffer.capacity() > 4 * used {
        buffer.shrink_to(2 * used);
    }
}

#[derive(Default)]
pub struct Batch {
    tables: BTreeMap<&'static str, Box<dyn TableRows>>,
    row_count: usize,
    /// The records each table's rows came from, to dead-letter if ClickHouse refuses them.
    sources: HashMap<&'static str, Sources>,
    first_record_at: Option<Instant>,
    last_record_at: Option<Instant>,
}

impl ucx_tables::RowSink for Batch {
    /// Adds rows to `table`. Each table has one row type; mixing them is a programming error.
    fn push<R: RowOwned + RowWrite + Send + Sync + 'static>(
        &mut self,
        table: &'static str,
        rows: Vec<R>,
    ) {
        self.row_count += rows.len();
        let pending = self
            .tables
            .entry(table)
            .or_insert_with(|| Box::new(Vec::<R>::new()));
        pending
            .as_any_mut()
            .downcast_mut::<Vec<R>>()
            .unwrap_or_else(|| panic!("rows of two types for table {table}"))
            .extend(rows);
    }
}

impl Batch {
    /// Empties the batch for the next one, keeping its buffers as large as this batch needed:
    /// a fresh batch grew every buffer anew each time, and mimalloc faulted the pages in again
    /// (4 % of the sinks' profile samples in `mi_page_free_list_extend`).
    pub fn clear(&mut self) {
        self.tables.values_mut().for_each(|rows| rows.clear());
        self.sources.values_mut().for_each(Sources::clear);
        self.row_count = 0;
        self.first_record_at = None;
        self.last_record_at = None;
    }

    /// Notes that `record` gave rows of `table`.
    pub fn add_source(&mut self, table: &'static str, record: &impl Message) {
        self.sources.entry(table).or_default().add(record);
    }

    /// The records that gave rows of `table` (without their headers: a dead letter carries
    /// headers of its own).
    pub fn sources(&self, table: &str) -> Vec<OwnedMessage> {
        self.sources
            .get(table)
            .map_or_else(Vec::new, Sources::records)
    }

    /// Notes that a record was taken (as rows, a dead letter or nothing): the batch is due
    /// `batch_timeout_ms` after its first record.
    pub fn note_record(&mut self) {
        let now = Instant::now();
        self.first_record_at.get_or_insert(now);
        self.last_record_at = Some(now);
    }

    pub fn row_count(&self) -> usize {
        self.row_count
    }

    /// The non-empty tables and their rows.
    pub fn tables(&self) -> impl Iterator<Item = (&'static str, &dyn TableRows)> {
        self.tables
            .iter()
            .filter(|(_, rows)| rows.row_count() > 0)
            .map(|(table, rows)| (*table, rows.as_ref()))
    }

    /// When the first record of this batch arrived; `None` for an empty batch.
    pub fn first_record_at(&self) -> Option<Instant> {
        self.first_record_at
    }

    /// When the newest record of this batch arrived; `None` for an empty batch.
    pub fn last_record_at(&self) -> Option<Instant> {
        self.last_record_at
    }
}

/// Where the records of one table's rows came from, and their keys and payloads, in one buffer:
/// kept for every record but needed only when ClickHouse refuses the rows, so no allocation per
/// record (a copy of each record with its headers was a tenth of the sinks' time).
#[derive(Default)]
struct Sources {
    topics: Vec<String>,
    bytes: Vec<u8>,
    records: Vec<Source>,
}

struct Source {
    topic: usize,
    partition: i32,
    offset: i64,
    timestamp: Timestamp,
    key: Option<Range<usize>>,
    payload: Option<Range<usize>>,
}

impl Sources {
    fn add(&mut self, record: &impl Message) {
        let topic = match self.topics.iter().position(|topic| topic == record.topic()) {
            Some(index) => index,
            None => {
                self.topics.push(record.topic().to_string());
                self.topics.len() - 1
            }
        };
        let key = record.key().map(|key| self.keep(key));
        let payload = record.payload().map(|payload| self.keep(payload));
        self.records.push(Source {
            topic,
            partition: record.partition(),
            offset: record.offset(),
            timestamp: record.timestamp(),
            key,
            payload,
        });
    }

    fn clear(&mut self) {
        let (bytes, records) = (self.bytes.len(), self.records.len());
        self.bytes.clear();
        self.records.clear();
        give_back_unused(&mut self.bytes, bytes);
        give_back_unused(&mut self.records, records);
    }

    fn keep(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    fn records(&self) -> Vec<OwnedMessage> {
        let bytes =
            |range: &Option<Range<usize>>| range.clone().map(|range| self.bytes[range].to_vec());
        self.records
            .iter()
            .map(|source| {
                OwnedMessage::new(
                    bytes(&source.payload),
                    bytes(&source.key),
                    self.topics[source.topic].clone(),
                    source.timestamp,
                    source.partition,
                    source.offset,
                    None,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clickhouse::Row, serde::Serialize, serde::Deserialize)]
    struct Row {
        value: u32,
    }

    #[test]
    fn the_sources_of_a_table_come_back_as_they_were_taken() {
        let records = [
            OwnedMessage::new(
                Some(b"one".to_vec()),
                Some(b"k1".to_vec()),
                "ucx.beats".into(),
                Timestamp::CreateTime(5),
                2,
                40,
                None,
            ),
            OwnedMessage::new(
                None,
                None,
                "ucx.alerts".into(),
                Timestamp::NotAvailable,
                0,
                7,
                None,
            ),
            OwnedMessage::new(
                Some(b"three".to_vec()),
                Some(Vec::new()),
                "ucx.beats".into(),
                Timestamp::CreateTime(6),
                1,
                41,
                None,
            ),
        ];
        let mut batch = Batch::default();
        for record in &records {
            batch.add_source("ucx_acd", record);
        }
        batch.add_source("ucx_disks", &records[0]);
        let kept = batch.sources("ucx_acd");
        assert_eq!(kept.len(), 3);
        for (kept, taken) in kept.iter().zip(&records) {
            assert_eq!(
                (
                    kept.topic(),
                    kept.partition(),
                    kept.offset(),
                    kept.timestamp()
                ),
                (
                    taken.topic(),
                    taken.partition(),
                    taken.offset(),
                    taken.timestamp()
                )
            );
            assert_eq!((kept.key(), kept.payload()), (taken.key(), taken.payload()));
        }
        assert_eq!(batch.sources("ucx_disks").len(), 1);
        assert!(batch.sources("ucx_services").is_empty());
    }

    #[test]
    fn a_cleared_batch_holds_only_what_came_after() {
        use ucx_tables::RowSink;
        let record = |offset| {
            OwnedMessage::new(
                Some(vec![offset as u8]),
                None,
                "ucx.beats".into(),
                Timestamp::NotAvailable,
                0,
                offset,
                None,
            )
        };
        let mut batch = Batch::default();
        batch.note_record();
        batch.push("ucx_acd", vec![Row { value: 1 }, Row { value: 2 }]);
        batch.add_source("ucx_acd", &record(1));
        batch.clear();
        assert_eq!(batch.row_count(), 0);
        assert_eq!(batch.tables().count(), 0);
        assert!(batch.sources("ucx_acd").is_empty());
        assert!(batch.first_record_at().is_none() && batch.last_record_at().is_none());
        batch.push("ucx_acd", vec![Row { value: 3 }]);
        batch.add_source("ucx_acd", &record(2));
        assert_eq!(batch.row_count(), 1);
        assert_eq!(
            batch
                .tables()
                .map(|(table, rows)| (table, rows.row_count()))
                .collect::<Vec<_>>(),
            [("ucx_acd", 1)]
        );
        let sources = batch.sources("ucx_acd");
        assert_eq!(sources.len(), 1);
        assert_eq!(
            (sources[0].offset(), sources[0].payload()),
            (2, Some(&[2u8][..]))
        );
    }

    #[test]
    fn a_kept_buffer_shrinks_once_batches_need_far_less() {
        let mut rows: Vec<Row> = (0..10_000).map(|value| Row { value }).collect();
        TableRows::clear(&mut rows);
        assert!(
            rows.capacity() >= 10_000,
            "as large as the last batch needed"
        );
        rows.extend((0..100).map(|value| Row { value }));
        TableRows::clear(&mut rows);
        assert!(
            rows.capacity() < 1_000,
            "{} kept for 100 rows",
            rows.capacity()
        );
        TableRows::clear(&mut rows);
        assert_eq!(rows.capacity(), 0, "a table quiet in a batch keeps nothing");
    }
}
