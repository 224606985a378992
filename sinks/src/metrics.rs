//! The sinks' Prometheus metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use ucx_common::ops::register;

pub struct SinkMetrics {
    pub purges_completed: IntCounter,
    pub partitions_dropped: IntCounter,
    pub records_purged: IntCounter,
    pub rows_written: IntCounterVec,
    pub insert_failures: IntCounterVec,
    pub batch_duration: Histogram,
    pub batch_rows: Histogram,
}

impl SinkMetrics {
    pub fn new(registry: &Registry) -> Self {
        SinkMetrics {
            purges_completed: register(
                registry,
                IntCounter::new(
                    "sink_purges_completed_total",
                    "Purge requests carried out: the customer's rows deleted from every table",
                )
                .unwrap(),
            ),
            partitions_dropped: register(
                registry,
                IntCounter::new(
                    "sink_partitions_dropped_total",
                    "Monthly partitions dropped by the retention job",
                )
                .unwrap(),
            ),
            records_purged: register(
                registry,
                IntCounter::new(
                    "sink_records_purged_total",
                    "Records dropped on arrival because their customer asked for a purge",
                )
                .unwrap(),
            ),
            rows_written: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "sink_clickhouse_rows_written_total",
                        "Rows inserted, by table",
                    ),
                    &["table"],
                )
                .unwrap(),
            ),
            insert_failures: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "sink_clickhouse_insert_failures_total",
                        "Failed insert attempts (each is retried), by table",
                    ),
                    &["table"],
                )
                .unwrap(),
            ),
            batch_duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "sink_clickhouse_batch_duration_seconds",
                        "Time to write one batch to every table, retries included",
                    )
                    .buckets(prometheus::exponential_buckets(0.005, 2.0, 14).unwrap()),
                )
                .unwrap(),
            ),
            batch_rows: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new("sink_clickhouse_batch_rows", "Rows per written batch")
                        .buckets(prometheus::exponential_buckets(1.0, 4.0, 10).unwrap()),
                )
                .unwrap(),
            ),
        }
    }
}
