//! Processors: read beats, evaluate the rule library against each installation's remembered
//! state, watch for silent installations, and publish alert state changes to the alerts topic,
//! routed by the customer's contract tier. The stage runtime (`ucx_common::stage`) owns the
//! consume loop; `stage.rs` is what the processors do with a beat, at a checkpoint (state to
//! the changelog, then the offsets are committed) and when partitions move (state restored).

pub mod advisories;
pub mod alert_book;
pub mod backtest;
mod changes;
pub mod config;
pub mod engine;
mod heartbeat;
mod metrics;
pub mod routing;
pub mod rules;
mod stage;
pub mod state;

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use ucx_common::stage::StageSpec;

pub use config::{ProcessorConfig, ProcessorSettings};

/// The `ucx-processors` binary: configuration, logging, listener, and a run until SIGTERM.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &ProcessorConfig| &config.processors.listen, run).await
}

/// Runs the processors until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: ProcessorConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let spec = StageSpec {
        name: "processors",
        group_id: config.processors.group_id.clone(),
        topics: vec![config.kafka.beats_topic.clone()],
        clickhouse: None,
        // idle ticks judge silence and trigger checkpoints between beats
        tick_interval: config.processors.checkpoint_interval_ms,
        watch_progress: true,
        // alerts are what the pipeline is for: a quiet pipeline answers within this
        fetch_wait: Duration::from_millis(50),
    };
    let kafka = config.kafka.clone();
    ucx_common::stage::run(spec, &kafka, ops_listener, shutdown, |context| {
        stage::Processors::start(context, config)
    })
    .await
}
