//! The UCX telemetry processors: rules over beats, alerts out.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_processors::main().await
}
