//! The UCX telemetry notifier: alert e-mails to Gold and Platinum customers.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_notifier::main().await
}
