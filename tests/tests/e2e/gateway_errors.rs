//! Bad requests are refused with a 4xx and a message that says what is wrong, and nothing of
//! them reaches Kafka.

use std::time::Duration;

use ucx_e2e::{example_beat, installation_key, read_topic, start_gateway, Services};
use ucx_schemas::Category;

/// Posts as installation `inst-1`, whose beats all these are.
async fn post_raw(
    gateway: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let key = installation_key(gateway, "inst-1").await;
    let response = reqwest::Client::new()
        .post(format!("{gateway}/v1/beats"))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.expect("error bodies are JSON");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_4xx_that_says_what_is_wrong() {
    let services = Services::from_env();
    let kafka = services.kafka("gateway-errors");
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.max_body_bytes = 4096;
    let gateway = start_gateway(config).await;
    let url = &gateway.url;
    let json = "application/json";

    let (status, body) = post_raw(url, json, "{\"beat_id\": ").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("invalid JSON"),
        "{body}"
    );

    let mut unknown = example_beat(Category::UcxSuiteAcd, "inst-1");
    unknown["category"] = "ucx_suite.teleport".into();
    let (status, body) = post_raw(url, json, unknown.to_string()).await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("unknown variant `ucx_suite.teleport`")
            && message.contains("ucx_suite.acd"),
        "{message}"
    );

    let mut missing = example_beat(Category::UcxSuiteAcd, "inst-1");
    missing.as_object_mut().unwrap().remove("node_id");
    let (status, body) = post_raw(url, json, missing.to_string()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `node_id`"),
        "{body}"
    );

    let mut negative = example_beat(Category::UcxSuiteAcd, "inst-1");
    negative["data"]["fifo_queued_calls"] = (-3).into();
    let (status, body) = post_raw(url, json, negative.to_string()).await;
    assert_eq!(status, 422);
    assert_eq!(body["violations"][0]["path"], "data.fifo_queued_calls");
    assert_eq!(body["violations"][0]["found"], "-3");

    let (status, body) = post_raw(url, json, vec![b' '; 10_000]).await;
    assert_eq!(status, 413);
    assert!(
        body["error"].as_str().unwrap().contains("4096 bytes"),
        "{body}"
    );

    let (status, body) = post_raw(url, "text/plain", "hello").await;
    assert_eq!(status, 415);
    assert!(
        body["error"].as_str().unwrap().contains("text/plain"),
        "{body}"
    );

    let response = reqwest::get(format!("{url}/v2/beats")).await.unwrap();
    assert_eq!(response.status(), 404);

    // None of it was produced: a good beat afterwards is the only record on the topic.
    let good = example_beat(Category::UcxSuiteAcd, "inst-1");
    let (status, _) = post_raw(url, json, good.to_string()).await;
    assert_eq!(status, 202);
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        2,
        Duration::from_secs(5),
    );
    assert_eq!(records.len(), 1, "only the good beat reached kafka");

    let metrics = ucx_e2e::metrics_text(url).await;
    for reason in [
        "malformed\"} 3",
        "invalid\"} 1",
        "body_too_large\"} 1",
        "unsupported_media_type\"} 1",
    ] {
        assert!(
            metrics.contains(&format!("ingest_beats_rejected_total{{reason=\"{reason}")),
            "{reason} in\n{metrics}"
        );
    }
}
