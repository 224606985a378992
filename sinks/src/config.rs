//! The sinks' configuration: `[kafka]`, `[clickhouse]` and `[sinks]` of the deployment's TOML.

use std::collections::BTreeMap;

use serde::Deserialize;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SinkConfig {
    pub kafka: KafkaSettings,
    pub clickhouse: ClickHouseSettings,
    pub sinks: SinkSettings,
}

/// `[sinks]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkSettings {
    /// Address of `/metrics` and `/health`.
    pub listen: String,
    /// Consumer group of the ClickHouse writer.
    pub group_id: String,
    /// A batch is written when it holds this many rows…
    pub batch_max_rows: usize,
    /// …or when its first record is this old. ClickHouse wants few large inserts.
    pub batch_timeout_ms: u64,
    /// Longest wait between retries of a failed insert (the backoff doubles up to this).
    pub retry_backoff_max_ms: u64,
    /// Days each table keeps its rows (whole months are dropped once all their rows are older);
    /// tables not listed keep `retention_default_days`; 0 keeps a table forever.
    pub retention_days: BTreeMap<String, u32>,
    pub retention_default_days: u32,
    /// How often the retention job looks for partitions to drop.
    pub retention_interval_s: u64,
}

impl Default for SinkSettings {
    fn default() -> Self {
        SinkSettings {
            listen: "127.0.0.1:8082".into(),
            group_id: "ucx-sinks-clickhouse".into(),
            batch_max_rows: 50_000,
            batch_timeout_ms: 1_000,
            retry_backoff_max_ms: 30_000,
            retention_days: BTreeMap::from([
                ("running_processes".to_string(), 90),
                ("alerts".to_string(), 730),
            ]),
            retention_default_days: 395,
            retention_interval_s: 3600,
        }
    }
}
