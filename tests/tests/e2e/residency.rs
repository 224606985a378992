//! Data residency: two regions on one machine, each its own gateway, processors, sinks, topics
//! and ClickHouse database (the same binaries, configured per region), sharing the customer
//! registry. An EU installation's beat sent to the US gateway is refused with 421 naming the EU
//! endpoint, and nothing of it reaches the US topics or tables; sent to the EU gateway it is
//! stored there with the region the registry holds, whatever the beat claimed.

use std::time::Duration;

use ucx_common::config::KafkaSettings;
use ucx_e2e::{
    add_installation, admin_client, example_beat, post_with_key, query, read_topic,
    start_pipeline_on, wait_until, Services,
};
use ucx_schemas::{Category, Region};

const EU_ENDPOINT: &str = "https://eu.telemetry.example.com/v1/beats";
const US_ENDPOINT: &str = "https://us.telemetry.example.com/v1/beats";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eu_beat_posted_to_the_us_gateway_is_refused_and_stored_nowhere_in_the_us() {
    let services = Services::from_env();
    let eu_kafka = services.kafka("residency-eu");
    // the US region: topics of its own, the registry shared
    let us_kafka = KafkaSettings {
        registry_topic: eu_kafka.registry_topic.clone(),
        ..services.kafka("residency-us")
    };
    let serving = |region: Region| {
        move |config: &mut ucx_ingest::IngestConfig| {
            config.ingest.region = Some(region);
            config.ingest.region_endpoints = [("EU", EU_ENDPOINT), ("US", US_ENDPOINT)]
                .into_iter()
                .map(|(name, url)| (name.to_string(), url.to_string()))
                .collect();
        }
    };
    let eu = start_pipeline_on(
        eu_kafka.clone(),
        services.clickhouse("residency_eu"),
        |_| {},
        serving(Region::EU),
    )
    .await;
    let us = start_pipeline_on(
        us_kafka.clone(),
        services.clickhouse("residency_us"),
        |_| {},
        serving(Region::US),
    )
    .await;
    for (customer, region) in [("cust-eu", Region::EU), ("cust-us", Region::US)] {
        let input = ucx_admin_api::CustomerInput {
            name: format!("{customer} Ltd"),
            region,
            contract_tier: ucx_schemas::registry::ContractTier::Gold,
            care_end_date: None,
            alert_contacts: vec![],
            telemetry_enabled: Some(true),
        };
        admin_client(&eu.gateway.url)
            .put_customer(customer, &input)
            .await
            .unwrap();
    }
    let eu_key = add_installation(&eu.gateway.url, "cust-eu", "inst-eu").await;
    let us_key = add_installation(&eu.gateway.url, "cust-us", "inst-us").await;
    // the US gateway follows the shared registry too
    let us_knows = || async {
        let beat = example_beat(Category::HardwareInfoMemory, "inst-us");
        post_with_key(&us.gateway.url, Some(&us_key), &beat)
            .await
            .status()
            == 202
    };
    wait_until(
        "the US gateway knows inst-us",
        Duration::from_secs(30),
        us_knows,
    )
    .await;

    // An EU server that claims to be in the US, posting to the US gateway: refused, the EU
    // endpoint named, for a single beat and a batch alike.
    let mut astray = example_beat(Category::HardwareInfoMemory, "inst-eu");
    astray["region"] = "US".into();
    let batch = serde_json::json!([astray.clone(), astray.clone()]);
    for body in [&astray, &batch] {
        let refused = post_with_key(&us.gateway.url, Some(&eu_key), body).await;
        assert_eq!(refused.status(), 421);
        let answer: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(answer["code"], "wrong_region", "{answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains(EU_ENDPOINT) && message.contains("EU"),
            "{message}"
        );
    }
    // The same beat to the EU gateway: stored in the EU, as EU.
    let accepted = post_with_key(&eu.gateway.url, Some(&eu_key), &astray).await;
    assert_eq!(accepted.status(), 202);
    wait_until("the EU row", Duration::from_secs(30), || async {
        query(
            &eu.clickhouse,
            "SELECT count() FROM hardware_memory WHERE installation_id = 'inst-eu'",
        )
        .await
        .is_ok_and(|count| count.trim() == "1")
    })
    .await;
    let region = query(
        &eu.clickhouse,
        "SELECT region FROM hardware_memory WHERE installation_id = 'inst-eu'",
    )
    .await
    .unwrap();
    assert_eq!(
        region.trim(),
        "EU",
        "the registry's region, not the beat's claim"
    );

    // Nothing of inst-eu in the US: its beats topic holds the US server's beats only, its
    // tables no EU row.
    let us_beats = read_topic(
        &us_kafka.brokers,
        &us_kafka.beats_topic,
        1000,
        Duration::from_secs(3),
    );
    assert!(!us_beats.is_empty());
    for record in &us_beats {
        let beat = ucx_schemas::decode_beat(rdkafka::Message::payload(record).unwrap()).unwrap();
        assert_eq!(beat.envelope.installation_id, "inst-us");
        assert_eq!(beat.envelope.region, Region::US);
    }
    wait_until("the US rows", Duration::from_secs(30), || async {
        query(&us.clickhouse, "SELECT count() FROM hardware_memory")
            .await
            .is_ok_and(|count| count.trim() != "0")
    })
    .await;
    let in_us = query(
        &us.clickhouse,
        "SELECT countIf(installation_id = 'inst-eu') FROM hardware_memory",
    )
    .await
    .unwrap();
    assert_eq!(in_us.trim(), "0");
}
