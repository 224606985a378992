//! `ucx-sim`: a simulated fleet of UCX Suite servers posting beats through the real gateway,
//! each tick one batch per installation (measurements every tick, inventory every twelfth),
//! until stopped or `--duration-s` passes.

mod fleet;
mod provision;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fleet::Installation;

#[derive(Parser)]
#[command(
    version,
    about = "A simulated fleet of UCX Suite servers posting beats"
)]
struct Args {
    /// The gateway's base URL.
    #[arg(long, env = "UCX_SIM_GATEWAY", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The gateway's admin token, used once at start to register the fleet.
    #[arg(long, env = "UCX_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// How many installations to simulate.
    #[arg(long, default_value_t = 10)]
    installations: usize,
    /// Time between two ticks of an installation.
    #[arg(long, default_value_t = 5_000)]
    interval_ms: u64,
    /// Stop after this long (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration_s: u64,
}

#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    refused: AtomicU64,
    unreachable: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::init_logging();
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let counts = Arc::new(Counts::default());
    let shutdown = ucx_common::shutdown::on_signal();
    if args.duration_s > 0 {
        let stop = shutdown.clone();
        let duration = Duration::from_secs(args.duration_s);
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.cancel();
        });
    }
    tracing::info!(installations = args.installations, interval_ms = args.interval_ms, gateway = %args.gateway, "fleet starting");
    let admin = provision::Admin {
        client: &client,
        gateway: &args.gateway,
        token: &args.admin_token,
    };
    admin.wait_ready().await?;
    admin.ensure_customers().await?;
    let mut tasks = Vec::new();
    for index in 0..args.installations {
        let installation = Installation::new(index);
        let key = admin.key_for(index, &installation.id).await?;
        let client = client.clone();
        let counts = counts.clone();
        let shutdown = shutdown.clone();
        let url = format!("{}/v1/beats", args.gateway);
        let interval = Duration::from_millis(args.interval_ms);
        tasks.push(tokio::spawn(async move {
            let mut installation = installation;
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let batch: Vec<serde_json::Value> = installation
                    .tick(ucx_common::now_ms())
                    .iter()
                    .map(|beat| beat.to_wire_json())
                    .collect();
                post(&client, &url, &key, &batch, &counts).await;
            }
        }));
    }
    let reporter = {
        let counts = counts.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(10));
            every.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => report(&counts),
                }
            }
        })
    };
    for task in tasks {
        task.await?;
    }
    reporter.await?;
    report(&counts);
    Ok(())
}

/// Posts one tick's beats as a batch and counts the per-beat results.
async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    batch: &[serde_json::Value],
    counts: &Counts,
) {
    let response = match client.post(url).bearer_auth(key).json(batch).send().await {
        Ok(response) => response,
        Err(error) => {
            counts
                .unreachable
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::warn!(%error, "gateway unreachable");
            return;
        }
    };
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    let accepted = answer["accepted"].as_u64().unwrap_or(0);
    counts.accepted.fetch_add(accepted, Ordering::Relaxed);
    counts
        .refused
        .fetch_add(batch.len() as u64 - accepted, Ordering::Relaxed);
    if accepted < batch.len() as u64 {
        tracing::warn!(%status, %answer, "beats refused");
    }
}

fn report(counts: &Counts) {
    tracing::info!(
        accepted = counts.accepted.load(Ordering::Relaxed),
        refused = counts.refused.load(Ordering::Relaxed),
        unreachable = counts.unreachable.load(Ordering::Relaxed),
        "beats posted so far"
    );
}
