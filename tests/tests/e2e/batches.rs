//! A request may carry a batch of beats (a JSON array): each beat gets its own result, and only
//! the accepted ones reach Kafka.

use std::time::Duration;

use ucx_e2e::{example_beat, post_beat, read_topic, start_gateway, Services};
use ucx_schemas::Category;

async fn post_json(gateway: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = post_beat(gateway, body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_beat_of_a_batch_gets_its_own_result() {
    let services = Services::from_env();
    let kafka = services.kafka("batches");
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.max_batch_beats = 5;
    let gateway = start_gateway(config).await;

    let good = example_beat(Category::UcxSuiteIvr, "inst-batch");
    let mut negative = example_beat(Category::UcxSuiteIvr, "inst-batch");
    negative["data"]["active_calls"] = (-1).into();
    let mut wrong_type = example_beat(Category::UcxSuiteIvr, "inst-batch");
    wrong_type["data"]["active_calls"] = "seven".into();
    let (status, answer) = post_json(
        &gateway.url,
        &serde_json::json!([good, negative, wrong_type]),
    )
    .await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["refused"].as_u64()),
        (Some(1), Some(2))
    );
    let statuses: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 400]);
    assert_eq!(answer["results"][0]["beat_id"], good["beat_id"]);
    assert_eq!(
        answer["results"][1]["violations"][0]["path"],
        "data.active_calls"
    );
    assert!(
        answer["results"][2]["error"]
            .as_str()
            .unwrap()
            .contains("data.active_calls"),
        "{answer}"
    );

    let all_good: Vec<serde_json::Value> = Category::ALL
        .iter()
        .take(3)
        .map(|&category| example_beat(category, "inst-batch"))
        .collect();
    let (status, answer) = post_json(&gateway.url, &serde_json::json!(all_good)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 3);

    let too_long: Vec<serde_json::Value> = (0..6)
        .map(|_| example_beat(Category::UcxSuiteIvr, "inst-batch"))
        .collect();
    let (status, answer) = post_json(&gateway.url, &serde_json::json!(too_long)).await;
    assert_eq!(status, 413);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("at most 5 beats, this one 6"),
        "{answer}"
    );

    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        5,
        Duration::from_secs(10),
    );
    assert_eq!(records.len(), 4, "the accepted beats, and only them");
}
