//! Liveness per node and per kind of beat: a cluster node that goes silent is alerted on its
//! own (its peer keeps the installation's other beats coming), an inventory that stops while
//! the measurements flow is noticed as overdue without a heartbeat alarm, and a heartbeat alert
//! can be acknowledged like any other and resolves when the node is back.

use std::time::Duration;

use serde_json::Value;
use ucx_admin_api::AcknowledgementInput;
use ucx_e2e::{
    add_installation, admin_client, example_beat, post_with_key, put_customer, start_gateway,
    start_processors, unique, wait_until, Services, Stage,
};
use ucx_schemas::{Alert, AlertState, Category};

fn beat(category: Category, installation: &str, node: &str) -> Value {
    let mut beat = example_beat(category, installation);
    beat["node_id"] = node.into();
    beat
}

async fn post(gateway: &Stage, key: &str, beat: &Value) {
    assert_eq!(
        post_with_key(&gateway.url, Some(key), beat).await.status(),
        202
    );
}

fn alerts_of(kafka: &ucx_common::config::KafkaSettings) -> Vec<Alert> {
    ucx_e2e::alerts_on(kafka, Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_cluster_node_and_an_overdue_inventory_are_each_alerted() {
    let kafka = Services::from_env().kafka("liveness");
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique("liveness");
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    config.processors.heartbeat_timeout_ms = 2_000;
    let _processors = start_processors(config).await;
    put_customer(&gateway.url, "cust-live", "PLATINUM", true).await;
    let cluster = add_installation(&gateway.url, "cust-live", "inst-cluster").await;
    let steady = add_installation(&gateway.url, "cust-live", "inst-steady").await;

    // Measurements every 250 ms from both nodes and another server; node-1's inventory
    // every second. Then node-2 and node-1's inventory stop while the rest goes on.
    let send = |seconds: u64, node_2: bool, inventory: bool| {
        let (gateway, cluster, steady) = (&gateway, &cluster, &steady);
        async move {
            for tick in 0..seconds * 4 {
                let memory = Category::HardwareInfoMemory;
                post(gateway, cluster, &beat(memory, "inst-cluster", "node-1")).await;
                if node_2 {
                    post(gateway, cluster, &beat(memory, "inst-cluster", "node-2")).await;
                }
                post(gateway, steady, &beat(memory, "inst-steady", "node-1")).await;
                if inventory && tick % 4 == 0 {
                    let os = beat(Category::SoftwareInfoOs, "inst-cluster", "node-1");
                    post(gateway, cluster, &os).await;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    send(6, true, true).await;
    send(8, false, false).await;

    let mut alerts = Vec::new();
    wait_until("both silences alerted", Duration::from_secs(30), || {
        alerts = alerts_of(&kafka);
        let opened = |rule: &str| {
            alerts
                .iter()
                .any(|a| a.rule_id == rule && a.state == AlertState::Open)
        };
        std::future::ready(opened("heartbeat_lost") && opened("beats_overdue"))
    })
    .await;
    let opened: Vec<(&str, &str, &str, &str)> = alerts
        .iter()
        .filter(|a| a.state == AlertState::Open)
        .map(|a| {
            (
                a.installation_id.as_str(),
                a.node_id.as_str(),
                a.rule_id.as_str(),
                a.subject.as_str(),
            )
        })
        .collect();
    // only node-2 is lost, only node-1's inventory is overdue
    let mut opened = opened;
    opened.sort();
    assert_eq!(
        opened,
        [
            ("inst-cluster", "node-1", "beats_overdue", "inventory beats"),
            ("inst-cluster", "node-2", "heartbeat_lost", "heartbeat"),
        ]
    );
    let lost = alerts
        .iter()
        .find(|a| a.rule_id == "heartbeat_lost")
        .unwrap()
        .clone();

    // Support takes the heartbeat alert on; then node-2 comes back.
    admin_client(&gateway.url)
        .acknowledge(
            &lost.alert_id,
            &AcknowledgementInput {
                by: "anna".into(),
                comment: "node-2 is being rebooted".into(),
            },
        )
        .await
        .unwrap();
    let states_of_lost = || {
        alerts_of(&kafka)
            .iter()
            .filter(|a| a.alert_id == lost.alert_id)
            .map(|a| a.state)
            .collect::<Vec<AlertState>>()
    };
    wait_until(
        "node-2's alert acknowledged",
        Duration::from_secs(30),
        || std::future::ready(states_of_lost().contains(&AlertState::Acknowledged)),
    )
    .await;
    send(2, true, true).await;
    wait_until("node-2's alert resolved", Duration::from_secs(30), || {
        std::future::ready(states_of_lost().contains(&AlertState::Resolved))
    })
    .await;
}
