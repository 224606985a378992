//! Detection quality on the field scenario (`ucx_simulator::field`): failures and harmless
//! look-alikes written from how they show on real servers, not from the rules, on 30 servers
//! for 24 h after 48 h of unscored history (so that daily habits are known), three seeds, judged in memory by the processors' engine with the library in
//! `processors/rules.toml` (silence included, as the processors' idle tick judges it). The
//! figures must not fall behind `processors/field-baseline.json` (recall, share of true alert
//! episodes, episodes per fault, false CRITICALs, forecasts before thresholds); after an
//! improvement `UCX_UPDATE_QUALITY_BASELINE=1 cargo test -p ucx-processors --test field_gate`
//! raises it. The README quotes these figures.

use serde::{Deserialize, Serialize};
use ucx_processors::backtest::judge::Judge;
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_simulator::field::{self, FieldScenario, FieldScore};

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    installations: usize,
    hours: f64,
    #[serde(default)]
    history_hours: f64,
    tick_s: u64,
    seeds: Vec<u64>,
    start_ms: i64,
    recall: f64,
    true_share: f64,
    episodes_per_fault: f64,
    false_critical: usize,
    forecast_first_share: f64,
}

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/field-baseline.json");
/// The processors' default (`processors.heartbeat_timeout_ms`).
const HEARTBEAT_TIMEOUT_MS: i64 = 300_000;

async fn score(scenario: FieldScenario) -> FieldScore {
    let library = RuleLibrary::parse(BUILT_IN).unwrap();
    // the registry (and the installations) come with the scenario: generate first, then judge
    let mut beats = Vec::new();
    let generated = field::play(scenario, |beat| beats.push(beat));
    let mut judge = Judge::new(
        library,
        generated.registry.clone(),
        &generated.installations,
        HEARTBEAT_TIMEOUT_MS,
    )
    .await;
    for beat in &beats {
        judge.beat(beat);
    }
    field::evaluate(&generated, &judge.alerts)
}

#[tokio::test]
async fn detection_holds_on_failures_it_was_not_written_for() {
    let baseline: Baseline =
        serde_json::from_str(&std::fs::read_to_string(BASELINE).unwrap()).unwrap();
    let mut total = FieldScore::default();
    for seed in &baseline.seeds {
        let scenario = FieldScenario {
            installations: baseline.installations,
            hours: baseline.hours,
            history_hours: baseline.history_hours,
            tick_s: baseline.tick_s,
            seed: *seed,
            start_ms: baseline.start_ms,
        };
        let run = score(scenario).await;
        println!("seed {seed}: {}", run.render());
        total.add(&run);
    }
    println!("all seeds: {}", total.render());
    let forecast_first_share = total.forecast_first as f64 / total.disks_seen.max(1) as f64;
    if std::env::var_os("UCX_UPDATE_QUALITY_BASELINE").is_some() {
        let updated = Baseline {
            recall: total.recall(),
            true_share: total.true_share(),
            episodes_per_fault: total.episodes_per_fault(),
            false_critical: total.false_critical,
            forecast_first_share,
            ..baseline
        };
        std::fs::write(
            BASELINE,
            serde_json::to_string_pretty(&updated).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let mut worse = Vec::new();
    let mut check = |name: &str, now: f64, then: f64, higher_is_better: bool| {
        let fell = if higher_is_better {
            now < then - 1e-9
        } else {
            now > then + 1e-9
        };
        if fell {
            worse.push(format!("{name} {then:.3} → {now:.3}"));
        }
    };
    check("recall", total.recall(), baseline.recall, true);
    check(
        "true episode share",
        total.true_share(),
        baseline.true_share,
        true,
    );
    check(
        "episodes per fault",
        total.episodes_per_fault(),
        baseline.episodes_per_fault,
        false,
    );
    check(
        "false CRITICALs",
        total.false_critical as f64,
        baseline.false_critical as f64,
        false,
    );
    check(
        "forecast before threshold",
        forecast_first_share,
        baseline.forecast_first_share,
        true,
    );
    assert!(
        worse.is_empty(),
        "detection on the field scenario is worse than its committed baseline: {}",
        worse.join("; ")
    );
    assert!(total.faults >= 60 && total.look_alikes >= 30, "{total:?}");
}
