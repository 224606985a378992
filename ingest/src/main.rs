//! The UCX telemetry ingest gateway.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_ingest::main().await
}
