//! The rule library's quality gate: the library in the repository (`processors/rules.toml`)
//! is backtested on a committed, labelled scenario of the simulator and must not fall below the
//! committed baseline (`processors/quality-baseline.json`) in precision or recall. A change
//! that lowers either fails here with the difference printed; a change that improves them
//! should raise the baseline (`UCX_UPDATE_QUALITY_BASELINE=1 cargo test -p ucx-processors
//! --test rule_gate`).

use serde::{Deserialize, Serialize};
use ucx_processors::backtest;
use ucx_processors::backtest::report::{Quality, Report};
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_simulator::offline::Scenario;

#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    installations: usize,
    hours: f64,
    tick_s: u64,
    fault_share: f64,
    seed: u64,
    start_ms: i64,
    precision: f64,
    recall: f64,
    alerts: usize,
    faults: usize,
}

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/quality-baseline.json");

/// What keeps `quality` from passing the gate; empty when it passes.
fn gate(baseline: &Baseline, quality: &Quality) -> Vec<String> {
    let (precision, recall) = (
        quality.precision.unwrap_or(1.0),
        quality.recall.unwrap_or(0.0),
    );
    let mut failures = Vec::new();
    if precision < baseline.precision - 1e-9 {
        failures.push(format!(
            "precision fell from {:.1} % to {:.1} % ({} of {} alerts true)",
            100.0 * baseline.precision,
            100.0 * precision,
            quality.true_alerts,
            quality.alerts
        ));
    }
    if recall < baseline.recall - 1e-9 {
        failures.push(format!(
            "recall fell from {:.1} % to {:.1} % ({} of {} faults detected)",
            100.0 * baseline.recall,
            100.0 * recall,
            quality.detected,
            quality.faults
        ));
    }
    failures
}

#[tokio::test]
async fn the_rule_library_keeps_its_precision_and_recall() {
    let baseline: Baseline =
        serde_json::from_str(&std::fs::read_to_string(BASELINE).unwrap()).unwrap();
    let scenario = Scenario {
        installations: baseline.installations,
        tick_s: baseline.tick_s,
        hours: baseline.hours,
        fault_share: baseline.fault_share,
        seed: baseline.seed,
        start_ms: baseline.start_ms,
    };
    let library = RuleLibrary::parse(BUILT_IN).unwrap();
    // the candidate: the library without its firewall rule, which the gate must refuse
    let start = BUILT_IN.find("id = \"firewall_disabled\"").unwrap();
    let end = start + BUILT_IN[start..].find("[[rule]]").unwrap();
    let degraded = format!(
        "{}\n{}",
        &BUILT_IN[..start].trim_end().trim_end_matches("[[rule]]"),
        &BUILT_IN[end..]
    );
    let degraded = RuleLibrary::parse(&degraded).unwrap();
    let started = std::time::Instant::now();
    let (outcomes, run, faults) = backtest::simulated(scenario, library, degraded).await;
    let report = Report::new(
        &outcomes,
        scenario.start_ms,
        scenario.end_ms(),
        started.elapsed().as_secs_f64(),
    )
    .with_labels(&outcomes, &run, &faults);
    println!("{}", report.render());
    let [quality, candidate] = report.quality.clone().unwrap();
    if std::env::var_os("UCX_UPDATE_QUALITY_BASELINE").is_some() {
        let updated = Baseline {
            precision: quality.precision.unwrap_or(1.0),
            recall: quality.recall.unwrap_or(0.0),
            alerts: quality.alerts,
            faults: quality.faults,
            ..baseline
        };
        std::fs::write(
            BASELINE,
            serde_json::to_string_pretty(&updated).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let failures = gate(&baseline, &quality);
    assert!(
        failures.is_empty(),
        "the rule library is worse than its committed baseline on the labelled scenario: {}; \
         the table above shows which rules",
        failures.join("; ")
    );
    // the gate refuses the degraded candidate, and the report says what it loses
    let refused = gate(&baseline, &candidate);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("recall fell from 100.0 %"),
        "{refused:?}"
    );
    let gone: Vec<&str> = report
        .findings
        .iter()
        .map(|finding| finding.episode().rule_id.as_str())
        .collect();
    assert_eq!(gone, ["firewall_disabled"], "{:?}", report.findings);
    assert_eq!(
        report
            .differences
            .get(&ucx_processors::backtest::episodes::Difference::Gone),
        Some(&1)
    );
}
