//! The UCX telemetry processors: rules over beats, alerts out.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(
        |config: &ucx_processors::ProcessorConfig| &config.processors.listen,
        ucx_processors::run,
    )
    .await
}
