//! Plumbing shared by every stage, so that all of them talk to Kafka and ClickHouse, load
//! configuration and expose metrics the same way.

pub mod clickhouse;
pub mod config;
pub mod kafka;
pub mod ops;
pub mod readiness;
pub mod registry;
pub mod retry;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod stage;

/// Current wall-clock time in UTC milliseconds.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis())
        .expect("milliseconds fit in i64 until the year 292 million")
}

/// Sets up `tracing` logs on stderr; the level comes from `UCX_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("UCX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
