//! The sink binary, built inside the test package so that tests can run it as a process of
//! its own and kill it with SIGKILL (`CARGO_BIN_EXE_ucx-e2e-sink`). Same code as `ucx-sinks`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(
        |config: &ucx_sinks::SinkConfig| &config.sinks.listen,
        ucx_sinks::run,
    )
    .await
}
