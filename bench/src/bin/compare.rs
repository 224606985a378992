//! `ucx-bench-compare`: the regression guard of the benchmark. Compares a run's figures
//! (`.local/bench/figures.json`, written by `scripts/bench.sh`) with the committed baseline
//! (`bench/baseline.json`): each stage's CPU-ms per 1,000 beats, and their sum, must stay within
//! the noise band (default 15 %) above the baseline. Throughput and latency are printed beside
//! them for the reader, not judged (they depend on the machine's other load).
//!
//! Exit 0: within the band; 1: a stage costs more than the band allows; 2: unreadable input.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Section → figure → value, as `ucx-bench --json` writes them.
type Figures = BTreeMap<String, BTreeMap<String, f64>>;

const STAGES: [&str; 3] = ["gateway", "processors", "sinks"];

/// Shown for the reader; not judged.
const CONTEXT: [(&str, &str); 5] = [
    ("e2e", "rows_per_second"),
    ("e2e", "beats_per_second_stored"),
    ("e2e", "beat_to_queryable_p99_ms"),
    ("e2e", "beat_to_alert_p99_ms"),
    ("quiet", "beat_to_alert_p99_ms"),
];

#[derive(Parser)]
#[command(
    version,
    about = "Compares a benchmark run's CPU per beat with the committed baseline"
)]
struct Args {
    /// The run to judge.
    #[arg(default_value = ".local/bench/figures.json")]
    run: PathBuf,
    /// The figures it is compared with.
    #[arg(long, default_value = "bench/baseline.json")]
    baseline: PathBuf,
    /// How much more CPU per beat than the baseline counts as noise, percent.
    #[arg(long, default_value_t = 15.0)]
    band_percent: f64,
}

fn read(path: &PathBuf) -> Result<Figures, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read {}: {error} (run scripts/bench.sh first)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|error| {
        format!(
            "{} is not a figures file of ucx-bench: {error}",
            path.display()
        )
    })
}

fn figure(figures: &Figures, section: &str, name: &str) -> Option<f64> {
    figures.get(section)?.get(name).copied()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (run, baseline) = match (read(&args.run), read(&args.baseline)) {
        (Ok(run), Ok(baseline)) => (run, baseline),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("ucx-bench-compare: {error}");
            return ExitCode::from(2);
        }
    };
    let limit = 1.0 + args.band_percent / 100.0;
    println!(
        "CPU-ms per 1,000 beats (end to end), run {} against baseline {} (band +{}%)",
        args.run.display(),
        args.baseline.display(),
        args.band_percent
    );
    println!(
        "  {:<12} {:>10} {:>10} {:>8}",
        "stage", "baseline", "run", "ratio"
    );
    let mut over = Vec::new();
    let (mut run_total, mut baseline_total) = (0.0, 0.0);
    let rows = STAGES
        .iter()
        .map(|stage| (stage.to_string(), format!("{stage}_cpu_ms_per_1000_beats")));
    for (stage, name) in rows {
        let (Some(now), Some(before)) =
            (figure(&run, "cpu", &name), figure(&baseline, "cpu", &name))
        else {
            eprintln!("ucx-bench-compare: cpu.{name} is missing from one of the files");
            return ExitCode::from(2);
        };
        run_total += now;
        baseline_total += before;
        let verdict = if now > before * limit {
            over.push(stage.clone());
            "  over the band"
        } else {
            ""
        };
        println!(
            "  {stage:<12} {before:>10.2} {now:>10.2} {:>7.2}×{verdict}",
            now / before
        );
    }
    let verdict = if run_total > baseline_total * limit {
        over.push("together".into());
        "  over the band"
    } else {
        ""
    };
    println!(
        "  {:<12} {baseline_total:>10.2} {run_total:>10.2} {:>7.2}×{verdict}",
        "together",
        run_total / baseline_total
    );
    println!("for the reader (not judged):");
    for (section, name) in CONTEXT {
        let show = |figures: &Figures| {
            figure(figures, section, name).map_or_else(|| "-".to_string(), |v| format!("{v:.0}"))
        };
        println!(
            "  {:<34} {:>10} {:>10}",
            format!("{section}.{name}"),
            show(&baseline),
            show(&run)
        );
    }
    if over.is_empty() {
        println!("within the band");
        ExitCode::SUCCESS
    } else {
        println!(
            "over the band: {} — profile it (scripts/bench.sh --profile DIR, BENCHMARKS.md) before landing",
            over.join(", ")
        );
        ExitCode::from(1)
    }
}
