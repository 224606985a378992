//! `ucx-backtest`: what a candidate rule library would have done to the fleet (see
//! `ucx_processors::backtest`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    ucx_processors::backtest::cli::main().await
}
