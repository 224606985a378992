//! Sinks: Kafka → ClickHouse writers. See `clickhouse/` for the beat and alert tables.

pub mod clickhouse;
pub mod config;
mod metrics;

pub use crate::clickhouse::sink::run;
pub use config::{SinkConfig, SinkSettings};
