//! Liveness per node and per kind of beat: a cluster node that goes silent is alerted on its
//! own (its peer keeps the installation's other beats coming), an inventory that stops while
//! the measurements flow is noticed as overdue without a heartbeat alarm, and a heartbeat alert
//! can be acknowledged like any other and resolves when the node is back. A required service
//! that vanishes from the running list alerts; a planned reboot in a maintenance window
//! (silent, then services `StartPending`) does not.

use std::time::Duration;

use serde_json::{json, Value};
use ucx_admin_api::{AcknowledgementInput, SilenceInput, SilenceKindInput};
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

/// A gateway and processors on topics of their own; a node silent for 2 s is lost.
async fn gateway_and_processors(test: &str) -> (ucx_common::config::KafkaSettings, Stage, Stage) {
    let kafka = Services::from_env().kafka(test);
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique(test);
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    config.processors.heartbeat_timeout_ms = 2_000;
    let processors = start_processors(config).await;
    (kafka, gateway, processors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_cluster_node_and_an_overdue_inventory_are_each_alerted() {
    let (kafka, gateway, _processors) = gateway_and_processors("liveness").await;
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

/// Three servers whose inventory says `ApolloService` starts automatically: on one it vanishes
/// from the running list (a crash: alerted); one reboots in a maintenance window (silent, then
/// `StartPending`: nothing); one reboots without a window (the silence is alerted, the
/// `StartPending` services are on their way, not stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_service_alerts_and_a_planned_reboot_does_not() {
    let (kafka, gateway, _processors) = gateway_and_processors("presence").await;
    let customer = "cust-presence";
    put_customer(&gateway.url, customer, "GOLD", true).await;
    let servers = ["inst-vanish", "inst-planned", "inst-unplanned"];
    let mut keys = Vec::new();
    for server in servers {
        keys.push(add_installation(&gateway.url, customer, server).await);
    }
    admin_client(&gateway.url)
        .put_silence(
            "reboot-planned",
            &SilenceInput {
                kind: Some(SilenceKindInput::Maintenance),
                customer_id: customer.into(),
                installation_id: Some("inst-planned".into()),
                rule_id: None,
                starts_at: None,
                ends_at: None,
                duration_minutes: Some(30),
                comment: "monthly patch reboot".into(),
                created_by: "e2e".into(),
            },
        )
        .await
        .unwrap();
    // What each server sends: `None` nothing (rebooting), else its running services' state
    // (`"gone"`: ApolloService is not in the list), with a memory beat.
    let send = |seconds: u64, states: [Option<&'static str>; 3]| {
        let (gateway, keys) = (&gateway, &keys);
        async move {
            for _ in 0..seconds * 4 {
                for ((server, key), state) in servers.iter().zip(keys).zip(states) {
                    let Some(state) = state else { continue };
                    let mut running = beat(Category::ProcessesWindowsServices, server, "node-1");
                    if state == "gone" {
                        running["data"]["services"] =
                            json!([{ "pid": 900, "name": "Spooler", "status": "Running" }]);
                    } else {
                        running["data"]["services"][0]["status"] = json!(state);
                    }
                    post(gateway, key, &running).await;
                    let memory = beat(Category::HardwareInfoMemory, server, "node-1");
                    post(gateway, key, &memory).await;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    for (server, key) in servers.iter().zip(&keys) {
        let inventory = beat(Category::SoftwareInfoWindowsServices, server, "node-1");
        post(&gateway, key, &inventory).await;
    }
    let running = Some("Running");
    send(2, [running, running, running]).await;
    send(5, [Some("gone"), None, None]).await;
    let starting = Some("StartPending");
    send(3, [Some("gone"), starting, starting]).await;
    send(1, [Some("gone"), running, running]).await;

    let opened_on = |alerts: &[Alert], server: &str| -> Vec<(String, String)> {
        let mut opened: Vec<(String, String)> = alerts
            .iter()
            .filter(|a| a.installation_id == server && a.state == AlertState::Open)
            .map(|a| (a.rule_id.clone(), a.subject.clone()))
            .collect();
        opened.sort();
        opened.dedup();
        opened
    };
    let mut alerts = Vec::new();
    wait_until(
        "the crash and the unplanned silence alerted",
        Duration::from_secs(30),
        || {
            alerts = alerts_of(&kafka);
            std::future::ready(
                !opened_on(&alerts, "inst-vanish").is_empty()
                    && !opened_on(&alerts, "inst-unplanned").is_empty(),
            )
        },
    )
    .await;
    let pair = |rule: &str, subject: &str| (rule.to_string(), subject.to_string());
    assert_eq!(
        opened_on(&alerts, "inst-vanish"),
        [pair("required_service_stopped", "service ApolloService")]
    );
    assert_eq!(
        opened_on(&alerts, "inst-unplanned"),
        [pair("heartbeat_lost", "heartbeat")]
    );
    assert_eq!(
        opened_on(&alerts, "inst-planned"),
        Vec::<(String, String)>::new()
    );
}
