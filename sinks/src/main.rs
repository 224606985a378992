use std::path::PathBuf;

use clap::Parser;
use ucx_sinks::SinkConfig;

/// The UCX telemetry sinks: beats and alerts from Kafka into ClickHouse.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Deployment configuration (TOML); `UCX_…` environment variables override it.
    #[arg(long, env = "UCX_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::init_logging();
    let args = Args::parse();
    let config: SinkConfig = ucx_common::config::load(args.config.as_deref())?;
    let listener = tokio::net::TcpListener::bind(&config.sinks.listen)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", config.sinks.listen))?;
    ucx_sinks::run(config, listener, ucx_common::shutdown::on_signal()).await
}
