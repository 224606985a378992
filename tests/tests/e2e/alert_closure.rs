//! Alerts close when what they were about goes away, not only when a finding for their subject
//! clears: a process that exits resolves its alert (`subject_gone`), a rule removed from the
//! library resolves its alerts (`rule_retired`), and a revoked installation's open alerts
//! resolve (`installation_inactive`) while it raises nothing more, heartbeat loss included.

use std::time::Duration;

use serde_json::{json, Value};
use ucx_e2e::{
    add_installation, admin_client, example_beat, post_with_key, put_customer, start_gateway,
    start_processors, unique, wait_until, Services, Stage,
};
use ucx_processors::rules::library::BUILT_IN;
use ucx_schemas::{Alert, AlertState, Category};

fn alerts_of(kafka: &ucx_common::config::KafkaSettings) -> Vec<Alert> {
    ucx_e2e::alerts_on(kafka, Duration::from_secs(1))
}

/// A running-processes beat listing `processes` as (name, handles).
fn processes(installation: &str, processes: &[(&str, i64)]) -> Value {
    let mut beat = example_beat(Category::ProcessesRunningProcesses, installation);
    beat["data"]["processes"] = processes
        .iter()
        .enumerate()
        .map(|(index, (name, handles))| {
            json!({"pid": 1000 + index, "name": name, "memory_bytes": 100_000_000,
                   "handle_count": handles, "thread_count": 10, "cpu_percent": 1.0})
        })
        .collect();
    beat
}

async fn post(gateway: &Stage, key: &str, beat: &Value) {
    assert_eq!(
        post_with_key(&gateway.url, Some(key), beat).await.status(),
        202
    );
}

/// Waits until an alert record of `rule` on `installation` in `state` arrived; returns it.
async fn wait_for(
    kafka: &ucx_common::config::KafkaSettings,
    installation: &str,
    rule: &str,
    state: AlertState,
) -> Alert {
    let mut found = None;
    wait_until(
        &format!("{rule} {state:?} on {installation}"),
        Duration::from_secs(40),
        || {
            found = alerts_of(kafka).into_iter().find(|alert| {
                alert.installation_id == installation
                    && alert.rule_id == rule
                    && alert.state == state
            });
            std::future::ready(found.is_some())
        },
    )
    .await;
    found.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_close_when_their_process_rule_or_installation_goes_away() {
    let kafka = Services::from_env().kafka("closure");
    let rules_file = std::env::temp_dir().join(format!("{}.toml", unique("closure-rules")));
    std::fs::write(&rules_file, BUILT_IN).unwrap();
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique("closure");
    config.processors.rules_file = Some(rules_file.clone());
    config.processors.rules_reload_interval_ms = Duration::from_millis(200);
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    config.processors.heartbeat_timeout_ms = 3_000;
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let _processors = start_processors(config).await;
    put_customer(&gateway.url, "cust-closure", "GOLD", true).await;
    let exiting = add_installation(&gateway.url, "cust-closure", "inst-exiting").await;
    let retired = add_installation(&gateway.url, "cust-closure", "inst-retired").await;
    let revoked = add_installation(&gateway.url, "cust-closure", "inst-revoked").await;

    // A process holding too many handles opens its alert; then it exits.
    for _ in 0..2 {
        let beat = processes(
            "inst-exiting",
            &[("Leaky.exe", 60_000), ("sqlservr.exe", 900)],
        );
        post(&gateway, &exiting, &beat).await;
    }
    let opened = wait_for(
        &kafka,
        "inst-exiting",
        "handle_count_high",
        AlertState::Open,
    )
    .await;
    assert_eq!(opened.subject, "process Leaky.exe");
    post(
        &gateway,
        &exiting,
        &processes("inst-exiting", &[("sqlservr.exe", 900)]),
    )
    .await;
    let gone = wait_for(
        &kafka,
        "inst-exiting",
        "handle_count_high",
        AlertState::Resolved,
    )
    .await;
    assert_eq!(
        (gone.alert_id.as_str(), gone.resolution.as_str()),
        (opened.alert_id.as_str(), "subject_gone")
    );

    // A disk alert; then its rule leaves the library.
    let mut disks = example_beat(Category::HardwareInfoDisks, "inst-retired");
    disks["data"]["disks"] = json!([{"name": "C:", "model": "m", "size_bytes": 100_000,
                                     "free_bytes": 1_000}]);
    post(&gateway, &retired, &disks).await;
    let opened = wait_for(&kafka, "inst-retired", "disk_free_low", AlertState::Open).await;
    let without = BUILT_IN.replacen("id = \"disk_free_low\"", "id = \"disk_free_low_v2\"", 1);
    assert_ne!(without, BUILT_IN);
    std::fs::write(&rules_file, without).unwrap();
    let retired_alert = wait_for(
        &kafka,
        "inst-retired",
        "disk_free_low",
        AlertState::Resolved,
    )
    .await;
    assert_eq!(
        (
            retired_alert.alert_id.as_str(),
            retired_alert.resolution.as_str()
        ),
        (opened.alert_id.as_str(), "rule_retired")
    );

    // An open alert, then the installation is revoked: the alert resolves, and the silence
    // that follows (the server can no longer send) raises no heartbeat alert.
    let mut firewall = example_beat(Category::SoftwareInfoWindowsFirewall, "inst-revoked");
    firewall["data"]["public_enabled"] = json!(false);
    post(&gateway, &revoked, &firewall).await;
    let opened = wait_for(
        &kafka,
        "inst-revoked",
        "firewall_disabled",
        AlertState::Open,
    )
    .await;
    admin_client(&gateway.url)
        .revoke("inst-revoked")
        .await
        .unwrap();
    // every alert open on it resolves, none of them mailed
    let mut closed = Vec::new();
    wait_until(
        "the revoked installation's alerts resolved",
        Duration::from_secs(40),
        || {
            let alerts = alerts_of(&kafka);
            let opened: Vec<&Alert> = alerts
                .iter()
                .filter(|a| a.installation_id == "inst-revoked" && a.state == AlertState::Open)
                .collect();
            closed = alerts
                .iter()
                .filter(|a| a.installation_id == "inst-revoked" && a.state == AlertState::Resolved)
                .cloned()
                .collect();
            let all_closed = opened
                .iter()
                .all(|open| closed.iter().any(|c| c.alert_id == open.alert_id));
            std::future::ready(all_closed && !closed.is_empty())
        },
    )
    .await;
    assert!(closed.iter().any(|c| c.alert_id == opened.alert_id));
    for alert in &closed {
        assert_eq!(alert.resolution, "installation_inactive", "{alert:?}");
        assert!(
            !alert.notify_customer,
            "nobody is mailed about a revoked server"
        );
    }
    // The others keep sending well past the heartbeat timeout.
    for _ in 0..12 {
        post(
            &gateway,
            &exiting,
            &processes("inst-exiting", &[("sqlservr.exe", 900)]),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lost: Vec<String> = alerts_of(&kafka)
        .into_iter()
        .filter(|alert| alert.rule_id == "heartbeat_lost")
        .map(|alert| alert.installation_id)
        .collect();
    assert!(
        !lost.contains(&"inst-revoked".to_string()),
        "no heartbeat alert for a revoked installation: {lost:?}"
    );
    let _ = std::fs::remove_file(rules_file);
}
