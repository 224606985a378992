//! What every service binary does before its own work: parse `--config`, set up logging, load
//! the configuration, bind the listener, and run until SIGTERM or Ctrl-C.

use std::future::Future;
use std::path::PathBuf;

use clap::Parser;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version)]
struct Args {
    /// Deployment configuration (TOML); `UCX_…` environment variables override it.
    #[arg(long, env = "UCX_CONFIG")]
    config: Option<PathBuf>,
}

/// Runs a service: `listen_address` picks the listener's address from its configuration, `run`
/// is the service itself.
pub async fn main<Config, Run, Running>(
    listen_address: fn(&Config) -> &str,
    run: Run,
) -> anyhow::Result<()>
where
    Config: DeserializeOwned,
    Run: FnOnce(Config, TcpListener, CancellationToken) -> Running,
    Running: Future<Output = anyhow::Result<()>>,
{
    crate::init_logging();
    let args = Args::parse();
    let config: Config = crate::config::load(args.config.as_deref())?;
    let address = listen_address(&config).to_string();
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}"))?;
    run(config, listener, crate::shutdown::on_signal()).await
}
