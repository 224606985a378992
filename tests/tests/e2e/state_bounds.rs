//! One server cannot stop alerting for everyone: a beat listing 10,000 distinct process names
//! (a valid body) and a stream of beats with thousands of names in all neither wedge the
//! processor nor push its state record over the broker's limit; another installation's alert
//! still comes as fast as usual, and the processor stays ready.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ucx_e2e::{
    add_installation, example_beat, metrics_text, post_with_key, put_customer, start_gateway,
    start_processors, unique, wait_until, Services, Stage,
};
use ucx_schemas::{AlertState, Category};

fn processes(installation: &str, names: impl Iterator<Item = String>) -> Value {
    let mut beat = example_beat(Category::ProcessesRunningProcesses, installation);
    beat["data"]["processes"] = names
        .enumerate()
        .map(|(index, name)| {
            json!({"pid": 10 + index, "name": name, "memory_bytes": 50_000_000 + index,
                   "handle_count": 300, "thread_count": 8, "cpu_percent": 0.5})
        })
        .collect();
    beat
}

async fn post(gateway: &Stage, key: &str, beat: &Value) {
    let response = post_with_key(&gateway.url, Some(key), beat).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
}

/// Posts a disk beat of `installation` at 1 % free and waits for its alert; how long it took.
async fn disk_alert_latency(
    kafka: &ucx_common::config::KafkaSettings,
    gateway: &Stage,
    key: &str,
    installation: &str,
) -> Duration {
    let mut disks = example_beat(Category::HardwareInfoDisks, installation);
    disks["data"]["disks"] = json!([{"name": "C:", "model": "m", "size_bytes": 100_000,
                                     "free_bytes": 1_000}]);
    let started = Instant::now();
    post(gateway, key, &disks).await;
    wait_until(
        &format!("the disk alert of {installation}"),
        Duration::from_secs(60),
        || {
            let opened = ucx_e2e::alerts_on(kafka, Duration::from_secs(1))
                .iter()
                .any(|alert| {
                    alert.installation_id == installation
                        && alert.rule_id == "disk_free_low"
                        && alert.state == AlertState::Open
                });
            std::future::ready(opened)
        },
    )
    .await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beat_with_ten_thousand_process_names_stops_nobody_alerting() {
    let kafka = Services::from_env().kafka("bounds");
    let mut gateway_config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    gateway_config.ingest.max_body_bytes = 8 * 1024 * 1024;
    let gateway = start_gateway(gateway_config).await;
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique("bounds");
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    let processors = start_processors(config).await;
    put_customer(&gateway.url, "cust-bounds", "GOLD", true).await;
    let noisy = add_installation(&gateway.url, "cust-bounds", "inst-noisy").await;
    let first = add_installation(&gateway.url, "cust-bounds", "inst-calm-1").await;
    let second = add_installation(&gateway.url, "cust-bounds", "inst-calm-2").await;
    let normal = disk_alert_latency(&kafka, &gateway, &first, "inst-calm-1").await;

    // Thousands of short-lived names over a few beats, then one beat of 10,000 names.
    for round in 0..6 {
        let names = (0..1_000).map(|index| format!("job-{round}-{index}.exe"));
        post(&gateway, &noisy, &processes("inst-noisy", names)).await;
    }
    let names = (0..10_000).map(|index| format!("worker-{index:05}.exe"));
    post(&gateway, &noisy, &processes("inst-noisy", names)).await;
    let metric = |name: &'static str| {
        let url = processors.url.clone();
        async move {
            metrics_text(&url)
                .await
                .lines()
                .filter(|line| line.starts_with(name))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        }
    };
    wait_until(
        "the noisy beats judged",
        Duration::from_secs(60),
        || async {
            metric("processor_state_bounded_total{what=\"series_not_remembered\"}").await > 0.0
        },
    )
    .await;

    let after = disk_alert_latency(&kafka, &gateway, &second, "inst-calm-2").await;
    eprintln!("another installation's alert: {normal:?} before, {after:?} after the noisy beats");
    assert!(
        after < normal + Duration::from_secs(10),
        "alerting slowed down: {after:?} against {normal:?}"
    );
    wait_until("the states written", Duration::from_secs(30), || async {
        metric("processor_state_documents_written_total").await >= 3.0
    })
    .await;
    assert_eq!(
        metric("processor_state_bounded_total{what=\"state_not_written\"}").await,
        0.0,
        "every state fits the broker's record limit"
    );
    let ready = reqwest::get(format!("{}/ready", processors.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
}
