//! Sinks: Kafka → ClickHouse writers (`clickhouse/`: the beat, alert and change tables).

pub mod clickhouse;
pub mod config;
mod metrics;

pub use crate::clickhouse::sink::run;
pub use config::{SinkConfig, SinkSettings};

/// The sink binary's whole `main`: shared by `ucx-sinks` and the end-to-end tests' copy.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &SinkConfig| &config.sinks.listen, run).await
}
