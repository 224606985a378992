//! The processors' state on the real broker: a crashed processor comes back without re-opening
//! or losing open alerts; two processors in one group split the installations without double
//! alerts, also when one of them dies; a silent server raises a heartbeat alert, a paused
//! pipeline does not.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use ucx_common::config::KafkaSettings;
use ucx_e2e::{
    add_installation, example_beat, metrics_text, post_with_key, put_customer, read_topic,
    start_gateway, start_processors, unique, wait_until, Services, Stage,
};
use ucx_processors::ProcessorConfig;
use ucx_schemas::{decode_alert, Alert, AlertState, Category};

fn processor_config(kafka: &KafkaSettings, test: &str) -> ProcessorConfig {
    let mut config = ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique(test);
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    config
}

async fn gateway(kafka: &KafkaSettings) -> Stage {
    start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await
}

/// Registers `installations` under one Gold customer; their keys.
async fn register(gateway: &Stage, customer: &str, installations: &[String]) -> Vec<String> {
    put_customer(&gateway.url, customer, "GOLD", true).await;
    let mut keys = Vec::new();
    for installation in installations {
        keys.push(add_installation(&gateway.url, customer, installation).await);
    }
    keys
}

/// A disks beat with one disk, C:, at `free_percent`.
fn disk_beat(installation: &str, free_percent: i64) -> Value {
    let mut beat = example_beat(Category::HardwareInfoDisks, installation);
    let size: i64 = 100 << 30;
    beat["data"]["disks"] = json!([{ "name": "C:", "model": "m", "size_bytes": size,
                                     "free_bytes": free_percent * size / 100 }]);
    beat
}

async fn post(gateway: &Stage, key: &str, beat: &Value) {
    let response = post_with_key(&gateway.url, Some(key), beat).await;
    assert_eq!(response.status(), 202);
}

fn alerts_of(kafka: &KafkaSettings, expected: usize, timeout: Duration) -> Vec<Alert> {
    read_topic(&kafka.brokers, &kafka.alerts_topic, expected, timeout)
        .iter()
        .map(|record| decode_alert(rdkafka::Message::payload(record).unwrap()).unwrap())
        .collect()
}

/// Per installation, the distinct (alert id, state) pairs of `rule`'s alerts: a record
/// redelivered after a crash repeats a pair, a re-opened alert would add one.
fn episodes(alerts: &[Alert], rule: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut by_installation: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for alert in alerts.iter().filter(|a| a.rule_id == rule) {
        by_installation
            .entry(alert.installation_id.clone())
            .or_default()
            .insert((alert.alert_id.clone(), format!("{:?}", alert.state)));
    }
    by_installation
}

/// One open and one resolved record of the same alert.
fn assert_one_episode(pairs: &BTreeSet<(String, String)>) {
    let ids: BTreeSet<&String> = pairs.iter().map(|(id, _)| id).collect();
    let states: Vec<&String> = pairs.iter().map(|(_, state)| state).collect();
    assert_eq!(ids.len(), 1, "one alert id: {pairs:?}");
    assert_eq!(states, ["Open", "Resolved"], "{pairs:?}");
}

async fn metric(stage: &Stage, name: &str) -> f64 {
    metrics_text(&stage.url)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_default()
}

/// Waits until `processors` owns every beats partition (the broker's first group join is slow:
/// ≈ 5 s idle, far longer beside the suite's other stages joining theirs; a processor stopped
/// before it joined would hold the group up until its session expires). Waiting for it apart
/// leaves an alert's own timeout to the processing alone.
async fn wait_assigned(processors: &Stage, kafka: &KafkaSettings) {
    let partitions = kafka.topic_partitions as f64;
    wait_until(
        "the processor assigned",
        Duration::from_secs(120),
        || async { metric(processors, "processor_assigned_partitions").await == partitions },
    )
    .await;
}

/// What the processor had done, for a failure's message.
async fn progress(processors: &Stage) -> String {
    let mut lines = String::new();
    for line in metrics_text(&processors.url).await.lines() {
        if line.starts_with("processor_assigned_partitions")
            || line.starts_with("ucx_records_received_total")
            || line.starts_with("ucx_rebalances_total")
        {
            lines.push_str(line);
            lines.push('\n');
        }
    }
    format!("the processor's progress:\n{lines}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_processor_neither_reopens_nor_loses_open_alerts() {
    let kafka = Services::from_env().kafka("state-crash");
    let gateway = gateway(&kafka).await;
    let installation = "inst-state".to_string();
    let key =
        register(&gateway, "cust-state", std::slice::from_ref(&installation)).await[0].clone();
    let config = processor_config(&kafka, "state-crash");

    let processors = start_processors(config.clone()).await;
    wait_assigned(&processors, &kafka).await;
    post(&gateway, &key, &disk_beat(&installation, 3)).await;
    let opened = alerts_of(&kafka, 1, Duration::from_secs(60));
    assert_eq!(
        opened.len(),
        1,
        "{opened:?} {}",
        progress(&processors).await
    );
    assert_eq!(opened[0].state, AlertState::Open);
    wait_until(
        "the state checkpointed",
        Duration::from_secs(30),
        || async { metric(&processors, "processor_state_documents_written_total").await >= 1.0 },
    )
    .await;
    processors.crash().await;

    let processors = start_processors(config).await;
    wait_assigned(&processors, &kafka).await;
    post(&gateway, &key, &disk_beat(&installation, 3)).await;
    post(&gateway, &key, &disk_beat(&installation, 60)).await;
    let alerts = alerts_of(&kafka, 2, Duration::from_secs(60));
    assert_eq!(
        alerts.len(),
        2,
        "{alerts:?} {}",
        progress(&processors).await
    );
    assert_one_episode(&episodes(&alerts, "disk_free_low")[&installation]);
    assert_eq!(
        alerts_of(&kafka, 3, Duration::from_secs(3)).len(),
        2,
        "nothing re-opened"
    );
    assert!(metric(&processors, "processor_state_restores_total").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processors_share_the_partitions_without_double_alerts() {
    let kafka = Services::from_env().kafka("state-pair");
    let gateway = gateway(&kafka).await;
    let installations: Vec<String> = (0..8).map(|i| format!("inst-pair-{i}")).collect();
    let keys = register(&gateway, "cust-pair", &installations).await;
    let config = processor_config(&kafka, "state-pair");
    let first = start_processors(config.clone()).await;
    let second = start_processors(config).await;
    wait_until(
        "the partitions split between both",
        Duration::from_secs(60),
        || async {
            let (a, b) = (
                metric(&first, "processor_assigned_partitions").await,
                metric(&second, "processor_assigned_partitions").await,
            );
            a > 0.0 && b > 0.0 && a + b == kafka.topic_partitions as f64
        },
    )
    .await;

    for (installation, key) in installations.iter().zip(&keys) {
        post(&gateway, key, &disk_beat(installation, 3)).await;
    }
    let opened = alerts_of(&kafka, installations.len(), Duration::from_secs(60));
    assert_eq!(opened.len(), installations.len());
    for stage in [&first, &second] {
        assert!(
            metric(
                stage,
                &format!(
                    "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}}",
                    kafka.beats_topic
                )
            )
            .await
                > 0.0,
            "both processors did part of the work"
        );
    }

    // One dies; the other takes over its partitions and their state.
    second.crash().await;
    for (installation, key) in installations.iter().zip(&keys) {
        post(&gateway, key, &disk_beat(installation, 3)).await;
        post(&gateway, key, &disk_beat(installation, 60)).await;
    }
    // Beats the dead one had not checkpointed are evaluated again by the survivor: their alerts
    // come again under the same ids, so records are not counted; every episode must close.
    let mut alerts = Vec::new();
    wait_until(
        "every installation's alert resolved",
        Duration::from_secs(90),
        || {
            alerts = alerts_of(&kafka, usize::MAX, Duration::from_secs(3));
            let resolved = episodes(&alerts, "disk_free_low")
                .values()
                .filter(|pairs| pairs.iter().any(|(_, state)| state == "Resolved"))
                .count();
            std::future::ready(resolved == installations.len())
        },
    )
    .await;
    let episodes = episodes(&alerts, "disk_free_low");
    assert_eq!(episodes.len(), installations.len(), "{alerts:#?}");
    for pairs in episodes.values() {
        assert_one_episode(pairs);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_alerted_and_a_paused_pipeline_is_not() {
    let kafka = Services::from_env().kafka("heartbeat");
    let gateway = gateway(&kafka).await;
    let installations = ["inst-hb-quiet".to_string(), "inst-hb-steady".to_string()];
    let keys = register(&gateway, "cust-hb", &installations).await;
    let mut config = processor_config(&kafka, "heartbeat");
    config.processors.heartbeat_timeout_ms = 2_000;
    let send = |who: Vec<usize>, seconds: u64| {
        let (gateway, keys, installations) = (&gateway, &keys, &installations);
        async move {
            let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
            while tokio::time::Instant::now() < until {
                // Posted together: one after the other, a post slowed by a loaded machine
                // would leave one server's last beat a whole post behind the watermark that
                // the other's moved, and a 2 s timeout would call that silence.
                futures::future::join_all(who.iter().map(|&index| {
                    let beat = example_beat(Category::HardwareInfoMemory, &installations[index]);
                    async move { post(gateway, &keys[index], &beat).await }
                }))
                .await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    let heartbeat_alerts = |timeout| {
        alerts_of(&kafka, 1, timeout)
            .into_iter()
            .filter(|a| a.rule_id == "heartbeat_lost")
            .collect::<Vec<_>>()
    };

    let processors = start_processors(config.clone()).await;
    wait_assigned(&processors, &kafka).await;
    send(vec![0, 1], 2).await;
    // The whole fleet (or the gateway) goes quiet: no beats, no watermark progress.
    tokio::time::sleep(Duration::from_secs(5)).await;
    send(vec![0, 1], 2).await;
    // The processors are away while beats keep coming: they catch up in event time.
    processors.stop().await.unwrap();
    send(vec![0, 1], 4).await;
    let processors = start_processors(config).await;
    wait_assigned(&processors, &kafka).await;
    send(vec![0, 1], 2).await;
    let last_sent_s = (ucx_common::now_ms() / 1000 - 1) as f64;
    wait_until("the backlog processed", Duration::from_secs(30), || async {
        metric(&processors, "processor_watermark_seconds").await >= last_sent_s
    })
    .await;
    assert!(
        heartbeat_alerts(Duration::from_secs(3)).is_empty(),
        "no heartbeat alert while everyone paused"
    );

    // One server falls silent while the other keeps sending.
    send(vec![1], 6).await;
    let lost = heartbeat_alerts(Duration::from_secs(30));
    assert_eq!(lost.len(), 1, "{lost:#?}");
    assert_eq!(lost[0].installation_id, "inst-hb-quiet");
    assert_eq!(lost[0].state, AlertState::Open);
    assert!(lost[0].observed_value > 2.0 / 60.0, "{:?}", lost[0]);

    send(vec![0, 1], 1).await;
    let heartbeat: Vec<Alert> = alerts_of(&kafka, 2, Duration::from_secs(30))
        .into_iter()
        .filter(|a| a.rule_id == "heartbeat_lost")
        .collect();
    assert_eq!(heartbeat.len(), 2, "{heartbeat:#?}");
    assert_eq!(heartbeat[1].state, AlertState::Resolved);
    assert_eq!(heartbeat[1].alert_id, heartbeat[0].alert_id);
}
