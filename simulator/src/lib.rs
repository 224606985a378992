//! A simulated fleet of UCX Suite servers posting beats through the real gateway, with
//! injected, labelled faults (`run`), and the detection-quality report that compares the alerts
//! the pipeline raised with those labels (`report`). The `ucx-sim` binary is their command line;
//! the end-to-end tests run the fleet in-process.

pub mod clock;
pub mod faults;
pub mod field;
pub mod fleet;
pub mod labels;
pub mod offline;
pub mod poster;
pub mod provision;
pub mod quality;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use clock::SimClock;
use fleet::Installation;
use labels::{LabelWriter, RunInfo};
use poster::{AckLog, Poster};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct RunArgs {
    /// The gateway's base URL (its public listener, where beats are posted).
    #[arg(long, env = "UCX_SIM_GATEWAY", default_value = "http://127.0.0.1:8080")]
    pub gateway: String,
    /// The gateway's admin listener (`ingest.admin_listen`), where the fleet is registered.
    #[arg(long, env = "UCX_ADMIN_URL", default_value = "http://127.0.0.1:8090")]
    pub admin_url: String,
    /// The gateway's admin token, used once at start to register the fleet.
    #[arg(long, env = "UCX_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// How many installations to simulate.
    #[arg(long, default_value_t = 10)]
    pub installations: usize,
    /// Simulated seconds between two ticks of an installation (measurements every tick,
    /// UCX Suite counters every 5th, inventory every 15th).
    #[arg(long, default_value_t = 60)]
    pub tick_s: u64,
    /// Start this many hours in the past and replay them `--speed` times faster than real time
    /// (the gateway takes beats up to 7 days old), then go on in real time.
    #[arg(long, default_value_t = 0.0)]
    pub history_h: f64,
    /// How much faster than real time the history is replayed.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Share of the installations that get a fault (kinds in turn), 0 for a healthy fleet.
    #[arg(long, default_value_t = 0.3)]
    pub fault_share: f64,
    /// Write the ground truth of the injected faults here (JSON lines).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Record every beat the gateway acknowledged here (beat id, installation, node, category).
    #[arg(long)]
    pub acks: Option<PathBuf>,
    /// Stop after this many real seconds (0: run until Ctrl-C or `--stop-at-present`).
    #[arg(long, default_value_t = 0)]
    pub duration_s: u64,
    /// Stop when the replayed history reaches the present.
    #[arg(long)]
    pub stop_at_present: bool,
    /// After being asked to stop, keep retrying beats the gateway has not accepted this long.
    #[arg(long, default_value_t = 30)]
    pub drain_s: u64,
    /// Seed of the fleet's randomness and fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args)]
pub struct QualityArgs {
    /// The label file the simulator wrote.
    #[arg(long)]
    pub labels: PathBuf,
    /// ClickHouse HTTP endpoint.
    #[arg(
        long,
        env = "UCX_CLICKHOUSE__URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,
    #[arg(long, env = "UCX_CLICKHOUSE__DATABASE", default_value = "ucx")]
    pub database: String,
    /// Wait until the alert count has not changed for this long (the pipeline drained).
    #[arg(long, default_value_t = 10)]
    pub settle_s: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the fleet until `shutdown` is cancelled (or `duration_s`, or the present with
/// `stop_at_present`); returns the counts of what the gateway made of its beats.
pub async fn run(args: RunArgs, shutdown: CancellationToken) -> anyhow::Result<poster::Totals> {
    let Some(token) = args.admin_token.as_deref() else {
        anyhow::bail!(
            "the admin token is needed to register the fleet: --admin-token or UCX_ADMIN_TOKEN"
        );
    };
    anyhow::ensure!(args.tick_s > 0, "--tick-s must be at least 1");
    anyhow::ensure!(
        args.history_h <= 24.0 * 6.5,
        "--history-h must stay within the 7 days the gateway accepts"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let clock = SimClock::new((args.history_h * 3_600_000.0) as i64, args.speed);
    if args.duration_s > 0 {
        let stop = shutdown.clone();
        let duration = Duration::from_secs(args.duration_s);
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.cancel();
        });
    }
    let abandon = CancellationToken::new();
    {
        let (shutdown, abandon, drain) = (shutdown.clone(), abandon.clone(), args.drain_s);
        tokio::spawn(async move {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_secs(drain)).await;
            abandon.cancel();
        });
    }

    let installations = plan(
        args.installations,
        clock.start_ms(),
        clock.caught_up_ms(),
        args.history_h > 0.0,
        args.fault_share,
        args.seed,
    );
    let run_info = RunInfo {
        installations: installations.iter().map(|i| i.id.clone()).collect(),
        sim_start_ms: clock.start_ms(),
        speed: clock.speed(),
        tick_s: args.tick_s,
    };
    let labels = match &args.labels {
        Some(path) => Some(Arc::new(LabelWriter::create(path, &run_info)?)),
        None => None,
    };
    let poster = Arc::new(Poster {
        client: client.clone(),
        url: format!("{}/v1/beats", args.gateway),
        counts: Default::default(),
        acks: args.acks.as_deref().map(AckLog::create).transpose()?,
        abandon: abandon.clone(),
    });

    tracing::info!(
        installations = args.installations,
        tick_s = args.tick_s,
        history_h = args.history_h,
        speed = clock.speed(),
        gateway = %args.gateway,
        "fleet starting"
    );
    let admin = provision::Admin {
        client: &client,
        url: &args.admin_url,
        token,
    };
    admin.wait_ready().await?;
    admin.ensure_customers(args.installations).await?;
    let stop_at = args.stop_at_present.then(|| clock.caught_up_ms());
    let fleet_size = installations.len() as i64;
    let tick_ms = args.tick_s as i64 * 1000;
    let mut tasks = Vec::new();
    for (index, mut installation) in installations.into_iter().enumerate() {
        let key = admin.key_for(index, &installation.id).await?;
        let (poster, labels, shutdown) = (poster.clone(), labels.clone(), shutdown.clone());
        // Spread the fleet over the tick so it does not post all at once.
        let offset = index as i64 * tick_ms / fleet_size;
        tasks.push(tokio::spawn(async move {
            let mut announced = 0;
            for tick in 0.. {
                let at = clock.start_ms() + tick * tick_ms + offset;
                if stop_at.is_some_and(|end| at >= end) {
                    break;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.instant_of(at)) => {}
                }
                for fault in installation.faults.iter_mut().skip(announced) {
                    if fault.started_at > at {
                        break;
                    }
                    fault.started_at_wall = clock.wall_ms_of(fault.started_at);
                    fault.speed = if at < clock.caught_up_ms() {
                        clock.speed()
                    } else {
                        1.0
                    };
                    tracing::info!(
                        fault = fault.fault_id,
                        installation = installation.id,
                        "fault injected"
                    );
                    if let Some(labels) = &labels {
                        if let Err(error) = labels.injected(fault) {
                            tracing::error!(%error, "writing a label");
                        }
                    }
                    announced += 1;
                }
                let beats = installation.tick(at);
                poster.deliver(&key, beats).await;
            }
        }));
    }
    let reporter = {
        let (poster, shutdown) = (poster.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(10));
            every.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = every.tick() => poster.counts.log(),
                }
            }
        })
    };
    for task in tasks {
        task.await?;
    }
    shutdown.cancel();
    reporter.await?;
    if let Some(acks) = &poster.acks {
        acks.flush()?;
    }
    poster.counts.log();
    Ok(poster.counts.totals())
}

/// The fleet of a run with its faults scheduled: they strike between 40 % and 70 % of a replayed
/// history that ends at `caught_up_ms` (rules that learn a baseline or a trend have warmed up
/// by then), or in the first half hour of a live run.
pub fn plan(
    count: usize,
    start_ms: i64,
    caught_up_ms: i64,
    history: bool,
    fault_share: f64,
    seed: u64,
) -> Vec<Installation> {
    let mut installations: Vec<Installation> = (0..count)
        .map(|index| Installation::new(index, start_ms))
        .collect();
    let (from, to) = if history {
        let span = (caught_up_ms - start_ms) as f64;
        (
            start_ms + (0.4 * span) as i64,
            start_ms + (0.7 * span) as i64,
        )
    } else {
        (start_ms + 120_000, start_ms + 1_800_000)
    };
    let targets: Vec<faults::Target> = installations
        .iter()
        .map(|i| faults::Target {
            installation_id: &i.id,
            customer_id: &i.customer_id,
            nodes: i.nodes,
        })
        .collect();
    let schedule = faults::schedule(&targets, fault_share, from, to, seed);
    for fault in schedule {
        let installation = installations
            .iter_mut()
            .find(|i| i.id == fault.installation_id)
            .expect("faults are scheduled for the fleet's installations");
        installation.faults.push(fault);
    }
    installations
}

/// Prints the detection-quality report of a run; returns it.
pub async fn report(args: QualityArgs) -> anyhow::Result<quality::Report> {
    let (run, faults) = labels::read(&args.labels)?;
    let client = ucx_common::clickhouse::client(&ucx_common::config::ClickHouseSettings {
        url: args.clickhouse_url.clone(),
        database: args.database.clone(),
        ..Default::default()
    });
    // The pipeline may still be working through the end of the run: wait until it is quiet.
    let mut alerts = quality::opened_alerts(&client, &run).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        tokio::time::sleep(Duration::from_secs(args.settle_s)).await;
        let now = quality::opened_alerts(&client, &run).await?;
        let settled = now.len() == alerts.len();
        alerts = now;
        if settled || tokio::time::Instant::now() > deadline {
            break;
        }
    }
    let report = quality::evaluate(&run, &faults, &alerts);
    print!("{}", report.render(&run));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(report)
}
