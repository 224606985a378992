//! The processors binary, built inside the test package so that tests can run it as a process
//! of its own and kill it with SIGKILL (`CARGO_BIN_EXE_ucx-e2e-processors`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(
        |config: &ucx_processors::ProcessorConfig| &config.processors.listen,
        ucx_processors::run,
    )
    .await
}
