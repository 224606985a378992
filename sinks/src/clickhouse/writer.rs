//! Writes a batch: every non-empty table in parallel, each retried with exponential backoff
//! until ClickHouse takes it. While ClickHouse is away nothing is committed, so consumption
//! pauses and the lag grows instead of data being dropped. An insert ClickHouse refuses for its
//! content (a table that no longer matches the rows) would fail forever: that table's rows are
//! given up and their records dead-lettered by the caller, so the other tables go on.

use std::time::{Duration, Instant};

use clickhouse::Client;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;
use ucx_common::retry::{retry, Backoff, Failure, Gaveup, Stopped};

use super::batch::{Batch, TableRows};
use crate::metrics::SinkMetrics;

/// ClickHouse refused a table's rows for what they are; retrying cannot help.
#[derive(Debug)]
pub struct Rejected {
    pub table: &'static str,
    pub reason: String,
}

/// ClickHouse error codes that mean the rows or the table's columns are wrong, not the server:
/// unknown column (16), parse and conversion failures (6, 27, 33, 41, 70, 72), illegal column or
/// type (43, 44, 53), incorrect data (117). Anything else (unreachable, overloaded, too many parts,
/// unknown table while someone repairs it) is retried.
const REFUSAL_CODES: &[u32] = &[6, 16, 27, 33, 41, 43, 44, 53, 70, 72, 117];

fn is_refusal(error: &clickhouse::error::Error) -> bool {
    let clickhouse::error::Error::BadResponse(message) = error else {
        return false;
    };
    error_code(message).is_some_and(|code| REFUSAL_CODES.contains(&code))
}

/// The `N` of "Code: N, e.displayText() = …" (18.16) or "Code: N. DB::Exception: …" (current).
fn error_code(message: &str) -> Option<u32> {
    let digits = message.split_once("Code: ")?.1;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

pub struct Writer {
    client: Client,
    backoff_max: Duration,
}

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
        stop: &CancellationToken,
    ) -> Result<Vec<Rejected>, Stopped> {
        let started = Instant::now();
        let results = join_all(
            batch
                .tables()
                .map(|(table, rows)| self.until_written(table, rows, metrics, stop)),
        )
        .await;
        let rejected = results
            .into_iter()
            .collect::<Result<Vec<Option<Rejected>>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
        metrics.batch_rows.observe(batch.row_count() as f64);
        Ok(rejected)
    }

    async fn until_written(
        &self,
        table: &'static str,
        rows: &dyn TableRows,
        metrics: &SinkMetrics,
        stop: &CancellationToken,
    ) -> Result<Option<Rejected>, Stopped> {
        let backoff = Backoff::new(Duration::from_millis(100), self.backoff_max);
        let what = format!("inserting {} rows into {table}", rows.row_count());
        let outcome = retry(&what, backoff, stop, || async {
            rows.insert(&self.client, table).await.map_err(|error| {
                metrics.insert_failures.with_label_values(&[table]).inc();
                if is_refusal(&error) {
                    Failure::Permanent(error)
                } else {
                    Failure::Transient(error)
                }
            })
        })
        .await;
        match outcome {
            Ok(()) => {
                metrics
                    .rows_written
                    .with_label_values(&[table])
                    .inc_by(rows.row_count() as u64);
                Ok(None)
            }
            Err(Gaveup::Permanent(error)) => {
                tracing::error!(table, rows = rows.row_count(), %error, "clickhouse refused the rows; their records go to the dead-letter topic");
                Ok(Some(Rejected {
                    table,
                    reason: format!("clickhouse refused the insert into {table}: {error}"),
                }))
            }
            Err(Gaveup::Stopped) => Err(Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_from_outages_by_their_code() {
        let refused = clickhouse::error::Error::BadResponse(
            "Code: 16, e.displayText() = DB::Exception: No such column b in table tx".into(),
        );
        assert!(is_refusal(&refused));
        let current = clickhouse::error::Error::BadResponse(
            "Code: 53. DB::Exception: Type mismatch. (TYPE_MISMATCH)".into(),
        );
        assert!(is_refusal(&current));
        let overloaded = clickhouse::error::Error::BadResponse(
            "Code: 252, e.displayText() = DB::Exception: Too many parts".into(),
        );
        assert!(!is_refusal(&overloaded));
        assert_eq!(error_code("no code here"), None);
    }
}
