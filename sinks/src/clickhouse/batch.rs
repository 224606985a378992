//! One batch: the rows collected per table, and the records they came from (to dead-letter if
//! ClickHouse refuses a table's rows). The runtime commits the records' offsets once it is
//! written.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use clickhouse::{Client, RowOwned, RowWrite};
use futures::future::{BoxFuture, FutureExt};
use rdkafka::message::OwnedMessage;

/// The rows of one table, whatever their type: the writer only needs to count and insert them.
pub trait TableRows: Send + Sync {
    fn row_count(&self) -> usize;
    fn insert<'a>(
        &'a self,
        client: &'a Client,
        table: &'static str,
    ) -> BoxFuture<'a, Result<(), clickhouse::error::Error>>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
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
}

#[derive(Default)]
pub struct Batch {
    tables: BTreeMap<&'static str, Box<dyn TableRows>>,
    row_count: usize,
    /// The records each table's rows came from, to dead-letter if ClickHouse refuses them.
    sources: HashMap<&'static str, Vec<OwnedMessage>>,
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
    /// Notes that `record` gave rows of `table`.
    pub fn add_source(&mut self, table: &'static str, record: OwnedMessage) {
        self.sources.entry(table).or_default().push(record);
    }

    /// The records that gave rows of `table`.
    pub fn sources(&self, table: &str) -> &[OwnedMessage] {
        self.sources.get(table).map_or(&[], Vec::as_slice)
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
