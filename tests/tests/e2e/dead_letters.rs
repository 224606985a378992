//! A record that cannot be decoded goes to the dead-letter topic with its reason and origin;
//! the sink keeps going.

use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use ucx_common::kafka::header_value;
use ucx_e2e::{example_beat, post_beat, query, read_topic, start_pipeline, wait_until, Services};
use ucx_schemas::Category;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_dead_lettered_and_the_sink_keeps_going() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "dlq").await;
    let kafka = &pipeline.kafka;

    let producer = ucx_common::kafka::Producer::new(kafka).unwrap();
    let poison = producer
        .produce(
            &kafka.beats_topic,
            b"inst-dlq",
            b"{\"not\": \"avro\"}",
            OwnedHeaders::new(),
        )
        .await
        .unwrap();

    let beat = example_beat(Category::UcxSuiteAcd, "inst-dlq");
    assert_eq!(post_beat(&pipeline.gateway.url, &beat).await.status(), 202);
    wait_until(
        "the good beat after the poison one",
        Duration::from_secs(60),
        || async {
            query(&pipeline.clickhouse, "SELECT count() FROM ucx_acd")
                .await
                .is_ok_and(|n| n.trim() == "1")
        },
    )
    .await;

    // Both consumers of the beats topic (sink and processors) dead-letter it, each once.
    let letters = read_topic(
        &kafka.brokers,
        &kafka.dead_letter_topic,
        3,
        Duration::from_secs(10),
    );
    let mut stages: Vec<String> = letters
        .iter()
        .map(|l| header_value(l, "ucx-dlq-stage").unwrap().to_string())
        .collect();
    stages.sort();
    assert_eq!(stages, ["processors", "sinks"]);
    for letter in &letters {
        assert_eq!(
            rdkafka::Message::payload(letter).unwrap(),
            b"{\"not\": \"avro\"}"
        );
        assert!(header_value(letter, "ucx-dlq-reason")
            .unwrap()
            .contains("not an Avro single-object record"));
        assert_eq!(
            header_value(letter, "ucx-dlq-source-topic").unwrap(),
            kafka.beats_topic
        );
        assert_eq!(
            header_value(letter, "ucx-dlq-source-partition").unwrap(),
            poison.partition.to_string()
        );
        assert_eq!(
            header_value(letter, "ucx-dlq-source-offset").unwrap(),
            poison.offset.to_string()
        );
    }
    let metrics = ucx_e2e::metrics_text(&pipeline.sinks.url).await;
    assert!(
        metrics.contains(&format!(
            "ucx_dead_letters_total{{reason=\"undecodable\",stage=\"sinks\",topic=\"{}\"}} 1",
            kafka.beats_topic
        )),
        "{metrics}"
    );
}

/// Rows ClickHouse refuses for good (here a table that lost a column the rows carry) are not
/// retried forever: their records go to the dead-letter topic with ClickHouse's reason, and the
/// other tables of the same batch are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_clickhouse_refuses_are_dead_lettered_and_the_rest_written() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "dlq-refused").await;
    let kafka = &pipeline.kafka;
    query(
        &pipeline.clickhouse,
        "ALTER TABLE ucx_ivr DROP COLUMN active_calls",
    )
    .await
    .unwrap();

    let ivr = example_beat(Category::UcxSuiteIvr, "inst-dlq");
    let acd = example_beat(Category::UcxSuiteAcd, "inst-dlq");
    let batch = serde_json::json!([ivr, acd]);
    assert_eq!(post_beat(&pipeline.gateway.url, &batch).await.status(), 202);
    wait_until("the ACD beat stored", Duration::from_secs(60), || async {
        query(&pipeline.clickhouse, "SELECT count() FROM ucx_acd")
            .await
            .is_ok_and(|n| n.trim() == "1")
    })
    .await;

    let letters = read_topic(
        &kafka.brokers,
        &kafka.dead_letter_topic,
        1,
        Duration::from_secs(30),
    );
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(header_value(letter, "ucx-dlq-stage").unwrap(), "sinks");
    let reason = header_value(letter, "ucx-dlq-reason").unwrap();
    assert!(
        reason.contains("ucx_ivr") && reason.contains("No such column active_calls"),
        "{reason}"
    );
    let record = ucx_schemas::decode_beat(rdkafka::Message::payload(letter).unwrap()).unwrap();
    assert_eq!(record.envelope.beat_id, ivr["beat_id"].as_str().unwrap());
    let metrics = ucx_e2e::metrics_text(&pipeline.sinks.url).await;
    assert!(
        metrics.contains(&format!(
            "ucx_dead_letters_total{{reason=\"refused_by_clickhouse\",stage=\"sinks\",topic=\"{}\"}} 1",
            kafka.beats_topic
        )),
        "{metrics}"
    );
}
