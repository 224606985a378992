//! The UCX telemetry sinks: beats and alerts from Kafka into ClickHouse.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_sinks::main().await
}
