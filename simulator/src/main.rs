//! `ucx-sim`: a simulated fleet of UCX Suite servers posting beats through the real gateway,
//! with injected, labelled faults; and `ucx-sim quality`, the detection-quality report that
//! compares the alerts the pipeline raised with those labels.

use clap::{Parser, Subcommand};
use ucx_simulator::{QualityArgs, RunArgs};

#[derive(Parser)]
#[command(
    version,
    about = "A simulated fleet of UCX Suite servers posting beats, with labelled faults",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Compare the alerts in ClickHouse with a run's label file: precision, recall and time to
    /// detect per rule and per fault.
    Quality(QualityArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::init_logging();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Quality(args)) => ucx_simulator::report(args).await.map(|_| ()),
        None => {
            let totals = ucx_simulator::run(cli.run, ucx_common::shutdown::on_signal()).await?;
            anyhow::ensure!(
                totals.refused == 0 && totals.abandoned == 0,
                "{} beats refused, {} abandoned",
                totals.refused,
                totals.abandoned
            );
            Ok(())
        }
    }
}
