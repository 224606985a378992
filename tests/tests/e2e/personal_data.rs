//! The terms promise that nothing personal leaves a server except its own IP: personal data in
//! a beat is redacted (default) or the beat refused, and in neither case reaches Kafka. Fields
//! the contract does not know are accepted, ignored and counted.

use std::time::Duration;

use ucx_e2e::{example_beat, metrics_text, post_beat, read_topic, start_gateway, Services};
use ucx_schemas::{decode_beat, BeatPayload, Category, PiiPolicy};

/// A Windows services beat carrying an account name and a user-profile path, and an installed
/// application carrying an e-mail address and another profile path.
fn personal_beats(installation: &str) -> [serde_json::Value; 2] {
    let mut services = example_beat(Category::SoftwareInfoWindowsServices, installation);
    services["data"]["services"][0]["startup_identity"] = r"ACME\jdoe".into();
    services["data"]["services"][0]["exe_path"] =
        r"C:\Users\jdoe\AppData\Local\ucx-helper.exe".into();
    services["future_envelope_field"] = "from a newer server".into();
    services["data"]["services"][0]["future_item_field"] = 7.into();
    let mut applications = example_beat(Category::SoftwareInfoInstalledApplications, installation);
    applications["data"]["applications"][0]["vendor"] = "maria.rossi@acme.example".into();
    applications["data"]["applications"][0]["install_path"] = r"C:\Users\Maria Rossi\Tools".into();
    [services, applications]
}

const PERSONAL: [&str; 4] = ["jdoe", "maria", "Maria", "rossi"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_redacted_before_kafka_and_unknown_fields_are_counted() {
    let services = Services::from_env();
    let kafka = services.kafka("pii-redact");
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;

    for beat in personal_beats("inst-pii") {
        let response = post_beat(&gateway.url, &beat).await;
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    }
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        2,
        Duration::from_secs(30),
    );
    assert_eq!(records.len(), 2);
    for record in &records {
        let bytes = rdkafka::Message::payload(record).unwrap();
        let text = String::from_utf8_lossy(bytes);
        for personal in PERSONAL {
            assert!(!text.contains(personal), "{personal} reached kafka: {text}");
        }
        match decode_beat(bytes).unwrap().payload {
            BeatPayload::SoftwareInfoWindowsServices(data) => {
                assert_eq!(data.services[0].startup_identity, r"ACME\[redacted]");
                assert_eq!(
                    data.services[0].exe_path,
                    r"C:\Users\[redacted]\AppData\Local\ucx-helper.exe"
                );
            }
            BeatPayload::SoftwareInfoInstalledApplications(data) => {
                assert_eq!(data.applications[0].vendor, "[redacted]");
                assert_eq!(
                    data.applications[0].install_path,
                    r"C:\Users\[redacted]\Tools"
                );
            }
            other => panic!("unexpected {:?}", other.category()),
        }
    }

    let metrics = metrics_text(&gateway.url).await;
    for line in [
        "ingest_pii_findings_total{kind=\"account_name\"} 1",
        "ingest_pii_findings_total{kind=\"user_profile_path\"} 2",
        "ingest_pii_findings_total{kind=\"email_address\"} 1",
        "ingest_unknown_fields_total 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_reject_policy_a_beat_with_personal_data_is_refused_and_not_stored() {
    let services = Services::from_env();
    let kafka = services.kafka("pii-reject");
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.pii_policy = PiiPolicy::Reject;
    let gateway = start_gateway(config).await;

    let [services_beat, _] = personal_beats("inst-pii");
    let response = post_beat(&gateway.url, &services_beat).await;
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    let mut paths: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "data.services[0].exe_path",
            "data.services[0].startup_identity"
        ]
    );
    assert!(
        !body.to_string().contains("jdoe"),
        "the answer does not echo the personal data: {body}"
    );

    let clean = example_beat(Category::SoftwareInfoWindowsServices, "inst-pii");
    assert_eq!(post_beat(&gateway.url, &clean).await.status(), 202);
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        2,
        Duration::from_secs(5),
    );
    assert_eq!(records.len(), 1, "only the clean beat reached kafka");
}
