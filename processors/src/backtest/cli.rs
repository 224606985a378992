//! `ucx-backtest`: the command line of a backtest. It reads the deployment's configuration like
//! the processors (`--config`, `UCX_…`), follows the customer registry for tiers and audiences,
//! replays the beats topic and prints the report (`--json`, `--store` for the other forms).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use tokio_util::sync::CancellationToken;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};

use super::report::Report;
use super::shards::Shards;
use super::{source, Outcomes};
use crate::routing::Router;
use crate::rules::library::{RuleLibrary, BUILT_IN};
use crate::ProcessorSettings;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Replay stored beats through the processors' rules: the library in force against a candidate, before it mails anyone"
)]
pub struct Args {
    /// The candidate rule library (a copy of processors/rules.toml with your change).
    #[arg(long, required_unless_present = "shadow")]
    pub rules: Option<PathBuf>,
    /// Instead of a candidate file: the library in force with its shadow rules enabled in place
    /// of the rules they shadow (`shadow_of`), against the library in force without them.
    #[arg(long, conflicts_with = "rules")]
    pub shadow: bool,
    /// The library to compare with. Default: `processors.rules_file` of the configuration, else
    /// the library built into this binary (the repository's processors/rules.toml).
    #[arg(long)]
    pub in_force: Option<PathBuf>,
    /// Start of the reported window: RFC 3339 (2026-11-29T00:00:00Z) or hours before now (24h).
    /// Beats before it are replayed too, to warm baselines and trends up. Default: 7 days ago.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (exclusive), same forms. Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Only these installations (comma separated). Default: every installation in the topic.
    #[arg(long, value_delimiter = ',')]
    pub installations: Vec<String>,
    /// The simulator's label file (`ucx-sim --labels`): adds precision, recall and time to
    /// detect of both libraries.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also store the report in ClickHouse `backtest_results` (the alerts dashboard's
    /// "Backtests" panel).
    #[arg(long)]
    pub store: bool,
    /// Deployment configuration (TOML), as the processors read it; `UCX_…` variables override.
    #[arg(long, env = "UCX_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The sections of the deployment's configuration a backtest reads.
#[derive(Debug, Deserialize)]
pub struct BacktestConfig {
    pub kafka: KafkaSettings,
    pub processors: ProcessorSettings,
    pub clickhouse: ClickHouseSettings,
}

impl BacktestConfig {
    /// The processors' default settings on these services.
    pub fn on(kafka: KafkaSettings, clickhouse: ClickHouseSettings) -> Self {
        BacktestConfig {
            kafka,
            processors: ProcessorSettings::default(),
            clickhouse,
        }
    }
}

/// The `ucx-backtest` binary.
pub async fn main() -> std::process::ExitCode {
    ucx_common::init_logging();
    let args = Args::parse();
    let result = async {
        let config: BacktestConfig = ucx_common::config::load(args.config.as_deref())?;
        run(&args, &config).await
    }
    .await;
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ucx-backtest: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a backtest; prints the table and writes the other forms asked for. Returns the report
/// and the alert changes of both libraries it was made of.
pub async fn run(args: &Args, config: &BacktestConfig) -> anyhow::Result<(Report, Outcomes)> {
    let library_in_force = match args
        .in_force
        .as_ref()
        .or(config.processors.rules_file.as_ref())
    {
        Some(path) => read_library(path)?,
        None => RuleLibrary::parse(BUILT_IN)?,
    };
    let (in_force, candidate, candidate_name) = match &args.rules {
        Some(path) => (
            library_in_force,
            read_library(path)?,
            path.display().to_string(),
        ),
        None => {
            let shadows = library_in_force
                .rules
                .iter()
                .filter(|rule| rule.mode == crate::rules::library::Mode::Shadow)
                .count();
            anyhow::ensure!(
                shadows > 0,
                "--shadow: the library in force has no rule of mode = \"shadow\"; add one (see processors/rules.toml) or pass --rules candidate.toml"
            );
            (
                library_in_force.live_only()?,
                library_in_force.shadows_enabled()?,
                "shadow rules enabled".to_string(),
            )
        }
    };
    let now = ucx_common::now_ms();
    let to = args
        .to
        .as_deref()
        .map(|t| moment(t, now))
        .transpose()?
        .unwrap_or(now);
    let from = match args.from.as_deref() {
        Some(text) => moment(text, now)?,
        None => to - 7 * 24 * 3_600_000,
    };
    anyhow::ensure!(from < to, "--from must be before --to");

    let shutdown = CancellationToken::new();
    let _stop_following = shutdown.clone().drop_guard();
    let registry = ucx_common::registry::follow(&config.kafka, shutdown.clone()).await?;
    anyhow::ensure!(
        registry.wait_loaded(Duration::from_secs(30)).await,
        "the customer registry ({}) could not be read within 30 s: is the broker at {} up?",
        config.kafka.registry_topic,
        config.kafka.brokers
    );
    let router = Arc::new(Router::new(registry, &config.processors));
    let only: Arc<HashSet<String>> = Arc::new(args.installations.iter().cloned().collect());
    let started = Instant::now();
    let mut shards = Shards::start(
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        (&in_force, &candidate),
        (from, to),
        router,
        only,
    );
    source::read_beats(
        &config.kafka,
        async |key, record| shards.push(key, record).await,
        |read, total| {
            eprintln!(
                "ucx-backtest: {read} of {total} records read ({:.0} %)",
                100.0 * read as f64 / total.max(1) as f64
            )
        },
    )
    .await?;
    let (outcomes, undecodable) = shards.finish().await?;
    if undecodable > 0 {
        eprintln!(
            "ucx-backtest: {undecodable} records of the beats topic are no beat this build can read; skipped (the processors dead-letter them)"
        );
    }
    let mut report = Report::new(&outcomes, from, to, started.elapsed().as_secs_f64());
    if let Some(path) = &args.labels {
        let (run, faults) = ucx_simulator::labels::read(path)?;
        report = report.with_labels(&outcomes, &run, &faults);
    }
    print!("{}", report.render());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .map_err(|error| anyhow::anyhow!("cannot write {}: {error}", path.display()))?;
    }
    if args.store {
        store(&report, &candidate_name, &config.clickhouse).await?;
    }
    Ok((report, outcomes))
}

/// A rule library file, checked as the processors check it.
pub fn read_library(path: &Path) -> anyhow::Result<RuleLibrary> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        anyhow::anyhow!("cannot read the rule library {}: {error}", path.display())
    })?;
    RuleLibrary::parse(&text).map_err(|error| {
        anyhow::anyhow!(
            "the rule library {} does not validate: {error}",
            path.display()
        )
    })
}

/// `2026-11-29T00:00:00Z`, or `24h` (hours before `now_ms`), as UTC milliseconds.
fn moment(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    if let Some(hours) = text.strip_suffix('h') {
        if let Ok(hours) = hours.parse::<f64>() {
            return Ok(now_ms - (hours * 3_600_000.0) as i64);
        }
    }
    let at = time::OffsetDateTime::parse(text, &Rfc3339).map_err(|error| {
        anyhow::anyhow!(
            "{text:?} is no time: write 2026-11-29T00:00:00Z or 24h (hours ago) ({error})"
        )
    })?;
    Ok((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

async fn store(
    report: &Report,
    candidate: &str,
    settings: &ClickHouseSettings,
) -> anyhow::Result<()> {
    ucx_tables::migrations::apply(settings).await?;
    let client = ucx_common::clickhouse::client(settings);
    let run_at = ucx_common::now_ms();
    let run_id = uuid::Uuid::new_v4().to_string();
    let rows = report.rows(&run_id, run_at, candidate);
    let mut insert = client
        .insert::<ucx_tables::event_tables::BacktestRow>(ucx_tables::event_tables::BACKTEST_RESULTS)
        .await?;
    for row in &rows {
        insert.write(row).await?;
    }
    insert.end().await?;
    eprintln!(
        "ucx-backtest: stored as run {run_id} in {} ({} rows)",
        ucx_tables::event_tables::BACKTEST_RESULTS,
        rows.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_read_as_written() {
        assert_eq!(
            moment("24h", 100_000_000).unwrap(),
            100_000_000 - 86_400_000
        );
        assert_eq!(moment("1970-01-01T00:00:10Z", 0).unwrap(), 10_000);
        let error = moment("yesterday", 0).unwrap_err().to_string();
        assert!(error.contains("2026-11-29T00:00:00Z or 24h"), "{error}");
    }
}
