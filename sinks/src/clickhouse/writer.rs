//! Writes a batch: every non-empty table in parallel, each retried with exponential backoff
//! until ClickHouse takes it. While ClickHouse is away nothing is committed, so consumption
//! pauses and the lag grows instead of data being dropped.

use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};
use futures::future::{join_all, BoxFuture, FutureExt};
use tokio_util::sync::CancellationToken;

use super::batch::Batch;
use crate::metrics::SinkMetrics;

/// A batch was not written because the sink is shutting down; its offsets stay uncommitted.
#[derive(Debug, thiserror::Error)]
#[error("shutdown before the batch was written")]
pub struct Interrupted;

pub struct Writer {
    client: Client,
    backoff_max: Duration,
}

type InsertFn<'a> =
    Box<dyn Fn() -> BoxFuture<'a, Result<(), clickhouse::error::Error>> + Send + Sync + 'a>;

impl Writer {
    pub fn new(client: Client, backoff_max: Duration) -> Self {
        Writer {
            client,
            backoff_max,
        }
    }

    pub async fn write(
        &self,
        batch: &Batch,
        metrics: &SinkMetrics,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let started = Instant::now();
        let tables = [
            self.table("hardware_disks", &batch.disks),
            self.table("running_processes", &batch.processes),
            self.table("ucx_acd", &batch.acd),
            self.table("beats_raw", &batch.raw),
            self.table("alerts", &batch.alerts),
        ];
        let results = join_all(tables.into_iter().flatten().map(|(table, rows, insert)| {
            self.until_written(table, rows, insert, metrics, shutdown)
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_rows.observe(batch.row_count() as f64);
        Ok(())
    }

    fn table<'a, R: RowOwned + RowWrite + Sync>(
        &'a self,
        table: &'static str,
        rows: &'a [R],
    ) -> Option<(&'static str, usize, InsertFn<'a>)> {
        if rows.is_empty() {
            return None;
        }
        let insert: InsertFn<'a> = Box::new(move || insert_rows(&self.client, table, rows).boxed());
        Some((table, rows.len(), insert))
    }

    async fn until_written(
        &self,
        table: &'static str,
        rows: usize,
        insert: InsertFn<'_>,
        metrics: &SinkMetrics,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match insert().await {
                Ok(()) => {
                    metrics
                        .rows_written
                        .with_label_values(&[table])
                        .inc_by(rows as u64);
                    return Ok(());
                }
                Err(error) => {
                    metrics.insert_failures.with_label_values(&[table]).inc();
                    tracing::warn!(table, rows, %error, retry_in_ms = backoff.as_millis() as u64, "clickhouse insert failed, retrying");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Interrupted),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.backoff_max);
        }
    }
}

async fn insert_rows<R: RowOwned + RowWrite>(
    client: &Client,
    table: &str,
    rows: &[R],
) -> Result<(), clickhouse::error::Error> {
    let mut insert = client.insert::<R>(table).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
