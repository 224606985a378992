//! The notifier binary, built inside the test package so that tests can run it as a process of
//! its own and kill it with SIGKILL (`CARGO_BIN_EXE_ucx-e2e-notifier`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_notifier::main().await
}
