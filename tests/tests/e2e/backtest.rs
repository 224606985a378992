//! The backtest is exact: a simulated fleet posts a day of beats with labelled faults through
//! the real gateway and broker, the live processors judge them with the library in force, and
//! `ucx-backtest` replays the stored beats with that library and with a candidate whose disk
//! threshold is raised. Then the candidate is enabled on processors of their own that read the
//! same beats: the alerts they publish are the backtest's candidate alerts (same ids, states,
//! event times, summaries), the live alerts are the backtest's in-force alerts, and the
//! differences the backtest reported are the differences between the two live runs. The report
//! is stored in ClickHouse `backtest_results`.

use std::collections::BTreeSet;
use std::time::Duration;

use ucx_e2e::{
    alerts_on, metric_sum, query, start_pipeline_adjusted, start_processors, unique, wait_until,
    Services, ADMIN_TOKEN,
};
use ucx_processors::backtest::cli::{Args, BacktestConfig};
use ucx_processors::backtest::episodes::{compare, episodes};
use ucx_processors::config::PerTier;
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_schemas::{Alert, AlertState};

/// What makes two alert records the same decision (not when it was computed: `raised_at`).
type Decision = (
    String,
    &'static str,
    i64,
    String,
    String,
    i32,
    String,
    String,
    i32,
);

fn decisions(alerts: &[Alert]) -> BTreeSet<Decision> {
    alerts
        .iter()
        .filter(|alert| matches!(alert.state, AlertState::Open | AlertState::Resolved))
        .map(|a| {
            (
                a.alert_id.clone(),
                a.state.as_str(),
                a.event_at,
                a.severity.as_str().to_string(),
                a.rule_id.clone(),
                a.rule_version,
                a.summary.clone(),
                a.incident_id.clone(),
                a.library_version,
            )
        })
        .collect()
}

/// Reads the alerts topic until two reads a few seconds apart agree.
fn settled_alerts(kafka: &ucx_common::config::KafkaSettings) -> Vec<Alert> {
    let mut alerts = alerts_on(kafka, Duration::from_secs(3));
    loop {
        let again = alerts_on(kafka, Duration::from_secs(3));
        if again.len() == alerts.len() {
            return again;
        }
        alerts = again;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_backtest_foresees_exactly_what_the_candidate_does_live() {
    let services = Services::from_env();
    // decisions between beats (silence, reminders) are not replayed: off, so the live alerts
    // are all decisions beats make
    let quiet = |settings: &mut ucx_processors::ProcessorSettings| {
        settings.heartbeat_timeout_ms = 0;
        settings.reminder_interval_s = PerTier {
            basic: 0,
            gold: 0,
            platinum: 0,
        };
    };
    let pipeline = start_pipeline_adjusted(
        &services,
        "backtest",
        |processors| quiet(&mut processors.processors),
        |gateway| gateway.ingest.rate_limit_beats_per_second = 100_000,
    )
    .await;
    let dir = std::env::temp_dir().join(unique("backtest"));
    std::fs::create_dir_all(&dir).unwrap();
    let labels = dir.join("labels.jsonl");
    let totals = ucx_simulator::run(
        ucx_simulator::RunArgs {
            gateway: pipeline.gateway.url.clone(),
            admin_url: pipeline.gateway.admin_url.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            installations: 4,
            tick_s: 300,
            history_h: 24.0,
            speed: 1440.0,
            fault_share: 0.5,
            labels: Some(labels.clone()),
            acks: None,
            duration_s: 0,
            stop_at_present: true,
            drain_s: 30,
            seed: 7,
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the fleet ran");
    assert_eq!((totals.refused, totals.abandoned), (0, 0), "{totals:?}");
    wait_until(
        "the live processors read every beat",
        Duration::from_secs(120),
        || async {
            metric_sum(&pipeline.processors.url, "ucx_records_received_total{").await
                >= totals.accepted as f64
                && metric_sum(&pipeline.processors.url, "ucx_consumer_lag{").await == 0.0
        },
    )
    .await;
    let live = settled_alerts(&pipeline.kafka);

    // the candidate: disks are low below 50 % free instead of 15/15/20 %, the next library version
    let shipped = RuleLibrary::parse(BUILT_IN).unwrap().library_version;
    let candidate = BUILT_IN
        .replacen(
            &format!("library_version = {shipped}"),
            &format!("library_version = {}", shipped + 1),
            1,
        )
        .replacen(
            "warning = { basic = 15, gold = 15, platinum = 20 }",
            "warning = 50",
            1,
        );
    assert_ne!(candidate, BUILT_IN);
    let candidate_file = dir.join("candidate.toml");
    std::fs::write(&candidate_file, &candidate).unwrap();
    let mut processors = ucx_processors::ProcessorSettings::default();
    quiet(&mut processors);
    let config = BacktestConfig {
        kafka: pipeline.kafka.clone(),
        processors: processors.clone(),
        clickhouse: pipeline.clickhouse.clone(),
    };
    let args = Args {
        rules: Some(candidate_file.clone()),
        shadow: false,
        in_force: None,
        from: Some("30h".into()),
        to: None,
        installations: Vec::new(),
        labels: Some(labels.clone()),
        json: Some(dir.join("report.json")),
        store: true,
        config: None,
    };
    let (report, outcomes) = ucx_processors::backtest::cli::run(&args, &config)
        .await
        .expect("the backtest runs");
    assert!(report.beats > 1_000, "{} beats replayed", report.beats);
    assert_eq!(report.installations, 4);

    // the library in force, replayed, decided what the live processors decided
    let (live_decisions, replayed) = (decisions(&live), decisions(&outcomes.in_force));
    assert!(!live_decisions.is_empty(), "the faults raised alerts");
    assert_eq!(
        replayed
            .symmetric_difference(&live_decisions)
            .collect::<Vec<_>>(),
        Vec::<&Decision>::new(),
        "the backtest of the library in force differs from the live processors"
    );

    // the candidate enabled on processors of its own, reading the same beats from the start
    let mut candidate_config = ucx_processors::ProcessorConfig {
        kafka: pipeline.kafka.clone(),
        processors: processors.clone(),
    };
    candidate_config.kafka.alerts_topic = format!("{}-candidate", pipeline.kafka.alerts_topic);
    candidate_config.kafka.processor_state_topic =
        format!("{}-candidate", pipeline.kafka.processor_state_topic);
    candidate_config.processors.group_id = unique("processors-candidate");
    candidate_config.processors.rules_file = Some(candidate_file.clone());
    let candidate_processors = start_processors(candidate_config.clone()).await;
    wait_until(
        "the candidate's processors read every beat",
        Duration::from_secs(180),
        || async {
            metric_sum(&candidate_processors.url, "ucx_records_received_total{").await
                >= report.beats as f64
                && metric_sum(&candidate_processors.url, "ucx_consumer_lag{").await == 0.0
        },
    )
    .await;
    let enabled = settled_alerts(&candidate_config.kafka);
    let (enabled_decisions, foreseen) = (decisions(&enabled), decisions(&outcomes.candidate));
    assert_eq!(
        foreseen
            .symmetric_difference(&enabled_decisions)
            .collect::<Vec<_>>(),
        Vec::<&Decision>::new(),
        "the backtest of the candidate differs from the candidate enabled"
    );
    assert!(
        enabled
            .iter()
            .all(|alert| alert.library_version == shipped as i32 + 1),
        "alerts carry the library version they were raised under"
    );

    // the differences reported are those between the two live runs
    let live_differences: Vec<_> = compare(&episodes(&live), &episodes(&enabled))
        .into_iter()
        .filter(|finding| {
            finding.difference != ucx_processors::backtest::episodes::Difference::Same
        })
        .collect();
    // (the order differs: the alerts topic is read across partitions)
    let by_id = |findings: &[ucx_processors::backtest::episodes::Compared]| {
        let mut sorted = findings.to_vec();
        sorted.sort_by_key(|f| (f.difference, f.episode().alert_id.clone()));
        sorted
    };
    assert_eq!(by_id(&report.findings), by_id(&live_differences));
    let new_disk_alerts = report
        .findings
        .iter()
        .filter(|f| f.difference == ucx_processors::backtest::episodes::Difference::New)
        .filter(|f| f.episode().rule_id == "disk_free_low")
        .count();
    assert!(
        new_disk_alerts > 0,
        "the raised threshold finds more low disks: {:?}",
        report.differences
    );
    let [now, then] = report.quality.clone().expect("labels were given");
    assert_eq!(now.recall, Some(1.0), "{now:?}");
    assert!(
        then.precision < now.precision,
        "the new disk alerts match no fault: {then:?}"
    );

    // stored for the dashboard
    let stored = query(
        &pipeline.clickhouse,
        "SELECT sum(new), sum(opened_candidate) - sum(opened_in_force) FROM backtest_results \
         WHERE rule_id = 'disk_free_low' FORMAT TSV",
    )
    .await
    .unwrap();
    assert_eq!(
        stored.trim(),
        format!("{new_disk_alerts}\t{new_disk_alerts}")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
