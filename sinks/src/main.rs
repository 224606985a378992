//! The UCX telemetry sinks: beats and alerts from Kafka into ClickHouse.

/// mimalloc, not glibc's malloc: see `mimalloc` in the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_sinks::main().await
}
