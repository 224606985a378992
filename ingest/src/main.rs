//! The UCX telemetry ingest gateway.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(
        |config: &ucx_ingest::IngestConfig| &config.ingest.listen,
        ucx_ingest::run,
    )
    .await
}
