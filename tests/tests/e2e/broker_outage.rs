//! While the broker is down the gateway answers 503 with Retry-After and stores nothing; the
//! same beat posted again after the broker is back is accepted and stored once.

use std::time::{Duration, Instant};

use ucx_e2e::{
    example_beat, kafka_settings, post_beat, read_topic, start_gateway, OwnBroker, Services,
};
use ucx_schemas::{decode_beat, Category};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beat_posted_while_the_broker_is_down_gets_503_and_succeeds_after_restart() {
    let services = Services::from_env();
    let mut broker = OwnBroker::start(&services.tansu_bin).await;
    let mut kafka = kafka_settings(&broker.brokers(), "outage");
    kafka.delivery_timeout_ms = Duration::from_secs(3);
    // The restarted local broker has forgotten its topics (memory storage), so the registry
    // reader's next fetch names a topic id the broker no longer knows; librdkafka then asks for
    // that id's metadata, tansu answers with a nameless topic, and librdkafka 2.12 dereferences
    // the missing name (SIGSEGV in rd_kafka_metadata_cache_find, seen in this test). Apache
    // Kafka keeps topic ids across restarts. Requests of Kafka 2.8's protocol carry no topic
    // ids, so this gateway's clients speak that.
    kafka
        .client_options
        .insert("api.version.request".into(), "false".into());
    kafka
        .client_options
        .insert("broker.version.fallback".into(), "2.8.0".into());
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.retry_after_seconds = 7;
    let gateway = start_gateway(config).await;

    let warm_up = example_beat(Category::UcxSuiteAcd, "inst-outage");
    assert_eq!(post_beat(&gateway.url, &warm_up).await.status(), 202);

    broker.stop();
    let beat = example_beat(Category::UcxSuiteAcd, "inst-outage");
    let started = Instant::now();
    let response = post_beat(&gateway.url, &beat).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("retry"), "{body}");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "503 after {waited:?}: not within the 3 s delivery timeout"
    );

    // The broker comes back empty (memory storage); the topic is created again as the
    // pipeline's stages do at start-up.
    broker.restart().await;
    ucx_common::kafka::ensure_topics(&kafka, &[&kafka.beats_topic])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = post_beat(&gateway.url, &beat).await.status();
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "only 503 while the producer reconnects");
        assert!(
            Instant::now() < deadline,
            "the gateway did not recover within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Exactly one copy: the refused attempt was not delivered late behind the 503.
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        2,
        Duration::from_secs(5),
    );
    let ids: Vec<String> = records
        .iter()
        .map(|record| {
            decode_beat(rdkafka::Message::payload(record).unwrap())
                .unwrap()
                .envelope
                .beat_id
        })
        .collect();
    assert_eq!(ids, [beat["beat_id"].as_str().unwrap()]);
}
