//! The UCX telemetry notifier: alert e-mails to Gold and Platinum customers.

/// mimalloc, not glibc's malloc: see `mimalloc` in the workspace's Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_notifier::main().await
}
