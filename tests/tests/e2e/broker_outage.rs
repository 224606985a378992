//! While the broker is down the gateway answers 503 with Retry-After and stores nothing; the
//! same beat posted again after the broker is back is accepted and stored once.
//!
//! The gateway runs as a process of its own: the local broker comes back from a restart without
//! its topics (memory storage), so the gateway's registry reader fetches by a topic id the broker
//! no longer knows; librdkafka 2.12 then asks for that id, tansu answers with a nameless topic
//! and librdkafka dereferences the missing name (SIGSEGV in `rd_kafka_metadata_cache_find`,
//! seen in core dumps of about one run in two). Apache Kafka keeps topics and their ids across
//! a restart, so this is the local broker's limit; in its own process the crash cannot take the
//! other tests down, and the test says when it happened.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ucx_e2e::process::{StageConfig, StageProcess};
use ucx_e2e::{
    example_beat, forget_keys, installation_key, kafka_settings, post_with_key, read_topic, unique,
    OwnBroker, Services,
};
use ucx_schemas::{decode_beat, Category};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_beat_posted_while_the_broker_is_down_gets_503_and_succeeds_after_restart() {
    let services = Services::from_env();
    let mut broker = OwnBroker::start(&services.tansu_bin).await;
    let mut kafka = kafka_settings(&broker.brokers(), "outage");
    kafka.delivery_timeout_ms = Duration::from_secs(3);
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.retry_after_seconds = 7;
    config.ingest.admin_token = Some(ucx_e2e::ADMIN_TOKEN.into());
    let dir = std::env::temp_dir().join(unique("broker-outage"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut gateway = StageProcess::new(
        "gateway",
        env!("CARGO_BIN_EXE_ucx-e2e-ingest"),
        StageConfig::Gateway(config),
        &dir,
    );
    gateway.start();
    gateway.wait_ready(Duration::from_secs(30)).await;
    let url = gateway.url();
    let mut key = installation_key(&url, "inst-outage").await;
    let post = |key: String, beat: serde_json::Value| {
        let url = url.clone();
        async move { post_with_key(&url, Some(&key), &beat).await }
    };

    let warm_up = example_beat(Category::UcxSuiteAcd, "inst-outage");
    assert_eq!(post(key.clone(), warm_up).await.status(), 202);

    broker.stop();
    let beat = example_beat(Category::UcxSuiteAcd, "inst-outage");
    let started = Instant::now();
    let response = post(key.clone(), beat.clone()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("retry"), "{body}");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "503 after {waited:?}: not within the 3 s delivery timeout"
    );

    // The broker comes back empty (memory storage); the topics are created again as the
    // pipeline's stages do at start-up.
    broker.restart().await;
    ucx_common::kafka::ensure_pipeline_topics(&kafka)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut crashes = 0;
    loop {
        if let Some(status) = gateway.exited() {
            // The librdkafka crash described above, and nothing else, is tolerated.
            assert_eq!(
                status.signal(),
                Some(11),
                "the gateway ended ({status}); its log ends:\n{}",
                gateway.log_tail()
            );
            crashes += 1;
            assert!(crashes < 3, "the gateway crashed {crashes} times");
            eprintln!("broker outage: the gateway hit librdkafka's nameless-topic crash after the local broker's restart; started again");
            gateway.start();
            gateway.wait_ready(Duration::from_secs(30)).await;
            // Its registry went with the broker's memory: the installation is registered again.
            forget_keys(&url);
            key = installation_key(&url, "inst-outage").await;
        }
        let status = post(key.clone(), beat.clone()).await.status();
        if status == 202 {
            break;
        }
        assert!(
            status == 503 || gateway.exited().is_some() || crashes > 0,
            "only 503 while the producer reconnects, got {status}"
        );
        assert!(
            Instant::now() < deadline,
            "the gateway did not recover within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("broker outage: the gateway accepted the beat again after the broker's restart ({crashes} librdkafka crash(es) on the way)");

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
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stage started before its broker (a host boot, compose starting everything at once) stays
/// up, says on `/ready` what it waits for, and starts consuming once the broker answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_started_before_the_broker_waits_for_it() {
    let services = Services::from_env();
    let mut broker = OwnBroker::start(&services.tansu_bin).await;
    broker.stop();
    let config = ucx_processors::ProcessorConfig {
        kafka: kafka_settings(&broker.brokers(), "early"),
        ..Default::default()
    };
    let processors = ucx_e2e::start_processors(config).await;
    let ready = || async {
        let response = reqwest::get(format!("{}/ready", processors.url))
            .await
            .expect("the stage answers while it waits");
        (response.status().as_u16(), response.text().await.unwrap())
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let health = reqwest::get(format!("{}/health", processors.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("topics"), "{body}");

    broker.restart().await;
    ucx_e2e::wait_until(
        "the stage ready once the broker answers",
        Duration::from_secs(60),
        || async { ready().await.0 == 200 },
    )
    .await;
}
