//! The detection-quality report against a real pipeline: six simulated servers replay two hours
//! at 120× with faults in half of them (a stopped service, a firewall switched off, an ACD queue
//! spike: faults the rules see within minutes), then `ucx-sim quality` compares the alerts in
//! ClickHouse with the labels. Every fault is found, by its own rule, and no alert is false.
//! (`scripts/quality.sh` is the long version: 20 servers, 8 hours, every fault kind.)

use ucx_e2e::{start_pipeline_adjusted, unique, Services, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_fault_is_detected_and_no_alert_is_false() {
    let services = Services::from_env();
    let pipeline = start_pipeline_adjusted(
        &services,
        "quality",
        // Ten simulated minutes of silence at 120×.
        |processors| processors.processors.heartbeat_timeout_ms = 5_000,
        // A replaying server sends 120 times more beats a second than a live one.
        |gateway| gateway.ingest.rate_limit_beats_per_second = 2_400,
    )
    .await;
    let (gateway, clickhouse) = (&pipeline.gateway, &pipeline.clickhouse);
    let dir = std::env::temp_dir().join(unique("quality"));
    std::fs::create_dir_all(&dir).unwrap();
    let labels = dir.join("labels.jsonl");
    let totals = ucx_simulator::run(
        ucx_simulator::RunArgs {
            gateway: gateway.url.clone(),
            admin_url: gateway.admin_url.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            installations: 6,
            tick_s: 60,
            history_h: 2.0,
            speed: 120.0,
            fault_share: 0.5,
            labels: Some(labels.clone()),
            acks: None,
            duration_s: 0,
            stop_at_present: true,
            drain_s: 30,
            seed: 3,
        },
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("the fleet ran");
    assert_eq!((totals.refused, totals.abandoned), (0, 0), "{totals:?}");

    let report = ucx_simulator::report(ucx_simulator::QualityArgs {
        labels,
        clickhouse_url: clickhouse.url.clone(),
        database: clickhouse.database.clone(),
        settle_s: 3,
        json: None,
    })
    .await
    .expect("the report");
    let kinds: Vec<&String> = report.fault_kinds.keys().collect();
    assert_eq!(
        kinds,
        ["firewall_off", "queue_spike", "service_stopped"],
        "the schedule"
    );
    assert_eq!((report.faults, report.detected), (3, 3), "{report:#?}");
    assert_eq!(
        report.alerts, report.true_alerts,
        "false alerts: {:?}",
        report.false_alerts
    );
    for rule in [
        "required_service_stopped",
        "firewall_disabled",
        "acd_queue_high",
    ] {
        let quality = &report.rules[rule];
        assert_eq!(quality.recall, Some(1.0), "{rule}: {quality:?}");
        assert!(
            quality.minutes_to_detect[0] <= 20.0,
            "{rule} took {:?} simulated minutes",
            quality.minutes_to_detect
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
