//! The sinks' configuration: `[kafka]`, `[clickhouse]` and `[sinks]` of the deployment's TOML.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ucx_common::config::{millis, seconds, section_defaults, ClickHouseSettings, KafkaSettings};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkConfig {
    pub kafka: KafkaSettings,
    pub clickhouse: ClickHouseSettings,
    pub sinks: SinkSettings,
}

/// `[sinks]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSettings {
    /// Address of `/metrics` and `/health`.
    pub listen: String,
    /// Consumer group of the ClickHouse writer.
    pub group_id: String,
    /// A batch is written when it holds this many rows…
    pub batch_max_rows: NonZeroUsize,
    /// …or when its first record is this old (the longest a row waits while records keep
    /// coming). ClickHouse wants few large inserts.
    #[serde(with = "millis")]
    pub batch_timeout_ms: Duration,
    /// …or sooner, when no record came for this long and the batch holds fewer than
    /// `idle_flush_max_rows` (a quiet pipeline's rows are queryable at once, a busy one's
    /// batches stay large: every insert costs ClickHouse a part to merge)…
    #[serde(with = "millis")]
    pub idle_flush_ms: Duration,
    pub idle_flush_max_rows: usize,
    /// …but never sooner than this after the previous write (fewer, larger inserts when the
    /// stream is thin).
    #[serde(with = "millis")]
    pub min_flush_interval_ms: Duration,
    /// Longest wait between retries of a failed insert (the backoff doubles up to this).
    #[serde(with = "millis")]
    pub retry_backoff_max_ms: Duration,
    /// Days each table keeps its rows (whole months are dropped once all their rows are older);
    /// tables not listed keep `retention_default_days`; 0 keeps a table forever.
    pub retention_days: BTreeMap<String, u32>,
    pub retention_default_days: u32,
    /// How often the retention job looks for partitions to drop.
    #[serde(with = "seconds")]
    pub retention_interval_s: Duration,
}

impl Default for SinkSettings {
    fn default() -> Self {
        section_defaults("sinks")
    }
}
