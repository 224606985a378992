//! The UCX telemetry sinks: beats and alerts from Kafka into ClickHouse.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(
        |config: &ucx_sinks::SinkConfig| &config.sinks.listen,
        ucx_sinks::run,
    )
    .await
}
