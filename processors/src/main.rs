use std::path::PathBuf;

use clap::Parser;
use ucx_processors::ProcessorConfig;

/// The UCX telemetry processors: rules over beats, alerts out.
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
    let config: ProcessorConfig = ucx_common::config::load(args.config.as_deref())?;
    let listener = tokio::net::TcpListener::bind(&config.processors.listen)
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen on {}: {error}", config.processors.listen)
        })?;
    ucx_processors::run(config, listener, ucx_common::shutdown::on_signal()).await
}
