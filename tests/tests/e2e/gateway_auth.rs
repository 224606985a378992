//! Installation keys and the customer registry: a key posts only its own installation's beats,
//! revocation and opt-out take effect on every gateway without a restart, and the registry is
//! rebuilt from its topic when a gateway starts.

use std::time::{Duration, Instant};

use reqwest::Method;
use ucx_e2e::{
    add_installation, admin, admin_client, example_beat, post_with_key, put_customer, query,
    read_topic, set_telemetry, start_gateway, start_pipeline, wait_until, Services,
};
use ucx_schemas::{decode_beat, decode_registry, Category, RegistryRecord};

fn gateway_config(kafka: &ucx_common::config::KafkaSettings) -> ucx_ingest::IngestConfig {
    ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_works_only_for_its_own_installation() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-keys");
    let gateway = start_gateway(gateway_config(&kafka)).await;
    let url = &gateway.url;
    put_customer(url, "cust-a", "BASIC", true).await;
    let key_a = add_installation(url, "cust-a", "inst-a").await;
    let key_b = add_installation(url, "cust-a", "inst-b").await;
    let beat_a = example_beat(Category::UcxSuiteIvr, "inst-a");
    let beat_b = example_beat(Category::UcxSuiteIvr, "inst-b");

    let response = post_with_key(url, Some(&key_a), &beat_a).await;
    assert_eq!(response.status(), 202);

    let response = post_with_key(url, Some(&key_a), &beat_b).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "wrong_installation", "{body}");
    assert!(body["error"].as_str().unwrap().contains("inst-b"), "{body}");

    let response = post_with_key(url, None, &beat_a).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    // The right key id with another secret, and a key of the wrong shape.
    let forged = format!("{}{}", &key_a[..key_a.len() - 64], "0".repeat(64));
    for bad in [forged.as_str(), "ucx_nonsense", key_b.as_str()] {
        let status = post_with_key(url, Some(bad), &beat_a).await.status();
        let expected = if bad == key_b { 403 } else { 401 };
        assert_eq!(status, expected, "key {bad}");
    }

    // In a batch, the beat of the other installation is the one refused, and says why.
    let batch = serde_json::json!([
        example_beat(Category::UcxSuiteIvr, "inst-a"),
        example_beat(Category::UcxSuiteIvr, "inst-b"),
    ]);
    let response = post_with_key(url, Some(&key_a), &batch).await;
    assert_eq!(response.status(), 207);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["results"][0]["status"], 202, "{answer}");
    assert_eq!(answer["results"][1]["status"], 403, "{answer}");
    assert_eq!(
        answer["results"][1]["code"], "wrong_installation",
        "{answer}"
    );

    // Exactly the two beats of inst-a reached Kafka, with nothing of inst-b.
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        3,
        Duration::from_secs(5),
    );
    let installations: Vec<String> = records
        .iter()
        .map(|record| {
            let payload = rdkafka::Message::payload(record).unwrap();
            decode_beat(payload).unwrap().envelope.installation_id
        })
        .collect();
    assert_eq!(installations, ["inst-a", "inst-a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_or_rotating_a_key_takes_effect_on_every_gateway_without_restart() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-revoke");
    let first = start_gateway(gateway_config(&kafka)).await;
    let second = start_gateway(gateway_config(&kafka)).await;
    put_customer(&first.url, "cust-r", "GOLD", true).await;
    let key = add_installation(&first.url, "cust-r", "inst-r").await;
    // The second gateway learns of the new installation from the registry topic.
    wait_until(
        "the second gateway to accept the new key",
        Duration::from_secs(10),
        || async {
            let beat = example_beat(Category::HardwareInfoMemory, "inst-r");
            post_with_key(&second.url, Some(&key), &beat).await.status() == 202
        },
    )
    .await;

    let revoked = admin_client(&first.url).revoke("inst-r").await.unwrap();
    assert_eq!(revoked.status, ucx_schemas::InstallationStatus::Revoked);
    let revoked_at = Instant::now();
    let beat = example_beat(Category::HardwareInfoMemory, "inst-r");
    let response = post_with_key(&first.url, Some(&key), &beat).await;
    assert_eq!(
        response.status(),
        401,
        "the revoking gateway refuses at once"
    );
    assert!(response.text().await.unwrap().contains("revoked"));
    wait_until(
        "the second gateway to refuse the revoked key",
        Duration::from_secs(5),
        || async {
            let beat = example_beat(Category::HardwareInfoMemory, "inst-r");
            post_with_key(&second.url, Some(&key), &beat).await.status() == 401
        },
    )
    .await;
    println!(
        "revocation reached the second gateway after {:?}",
        revoked_at.elapsed()
    );

    // A new key re-activates the installation; the old key stays dead.
    let new_key = admin_client(&first.url)
        .rotate_key("inst-r")
        .await
        .unwrap()
        .key;
    let beat = example_beat(Category::HardwareInfoMemory, "inst-r");
    assert_eq!(
        post_with_key(&first.url, Some(&new_key), &beat)
            .await
            .status(),
        202
    );
    let beat = example_beat(Category::HardwareInfoMemory, "inst-r");
    assert_eq!(
        post_with_key(&first.url, Some(&key), &beat).await.status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_rebuilds_the_registry_from_the_topic() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-restart");
    let gateway = start_gateway(gateway_config(&kafka)).await;
    put_customer(&gateway.url, "cust-s", "PLATINUM", true).await;
    let mut keys = Vec::new();
    for index in 0..40 {
        let installation = format!("inst-s{index}");
        keys.push((
            installation.clone(),
            add_installation(&gateway.url, "cust-s", &installation).await,
        ));
    }
    let revoked = &keys[0].0;
    admin_client(&gateway.url).revoke(revoked).await.unwrap();
    gateway.stop().await.unwrap();

    // Ready means loaded to the end: every key works (or not) on the first try.
    let restarted = start_gateway(gateway_config(&kafka)).await;
    for (index, (installation, key)) in keys.iter().enumerate() {
        let beat = example_beat(Category::UcxSuiteIvr, installation);
        let status = post_with_key(&restarted.url, Some(key), &beat)
            .await
            .status();
        let expected = if index == 0 { 401 } else { 202 };
        assert_eq!(status, expected, "{installation} after the restart");
    }
    let (status, body) = admin(
        &restarted.url,
        Method::GET,
        &ucx_admin_api::paths::with_id(ucx_admin_api::paths::CUSTOMER, "cust-s"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["contract_tier"], "PLATINUM");
    assert_eq!(body["installations"].as_array().unwrap().len(), 40);
    assert!(
        body["installations"][0].get("key_sha256").is_none(),
        "hashes are never shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_customer_is_refused_and_none_of_its_beats_are_stored() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "opt-out").await;
    let url = &pipeline.gateway.url;
    put_customer(url, "cust-out", "GOLD", true).await;
    put_customer(url, "cust-in", "BASIC", true).await;
    let key_out = add_installation(url, "cust-out", "inst-out").await;
    let key_in = add_installation(url, "cust-in", "inst-in").await;
    let before = example_beat(Category::HardwareInfoDisks, "inst-out");
    assert_eq!(
        post_with_key(url, Some(&key_out), &before).await.status(),
        202
    );

    let body = set_telemetry(url, "cust-out", false).await;
    assert!(!body.customer.telemetry_enabled);
    let mut refused_ids = Vec::new();
    for category in [
        Category::HardwareInfoDisks,
        Category::ProcessesRunningProcesses,
    ] {
        let beat = example_beat(category, "inst-out");
        refused_ids.push(beat["beat_id"].as_str().unwrap().to_string());
        let response = post_with_key(url, Some(&key_out), &beat).await;
        assert_eq!(response.status(), 403);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "telemetry_disabled", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("stop sending"),
            "{body}"
        );
    }
    let batch = serde_json::json!([example_beat(Category::HardwareInfoDisks, "inst-out")]);
    refused_ids.push(batch[0]["beat_id"].as_str().unwrap().to_string());
    assert_eq!(
        post_with_key(url, Some(&key_out), &batch).await.status(),
        403
    );

    // Another customer's beat, posted last, marks how far the sink has got.
    let marker = example_beat(Category::HardwareInfoDisks, "inst-in");
    assert_eq!(
        post_with_key(url, Some(&key_in), &marker).await.status(),
        202
    );
    let marker_id = marker["beat_id"].as_str().unwrap().to_string();
    wait_until(
        "the marker beat to be stored",
        Duration::from_secs(30),
        || async {
            query(
                &pipeline.clickhouse,
                &format!(
                    "SELECT count() FROM hardware_disks WHERE toString(beat_id) = '{marker_id}'"
                ),
            )
            .await
            .is_ok_and(|count| count.trim() != "0")
        },
    )
    .await;
    // The sink carries out the purge request; then not even the beat from before is left.
    wait_until(
        "the sink to report the purge done",
        Duration::from_secs(30),
        || async {
            query(
                &pipeline.clickhouse,
                "SELECT count() FROM purges WHERE customer_id = 'cust-out'",
            )
            .await
            .is_ok_and(|count| count.trim() == "1")
        },
    )
    .await;
    let stored = query(
        &pipeline.clickhouse,
        "SELECT DISTINCT toString(beat_id) FROM hardware_disks WHERE installation_id = 'inst-out'",
    )
    .await
    .unwrap();
    assert_eq!(
        stored.trim(),
        "",
        "nothing of the opted-out customer is stored"
    );
    let beats_on_kafka = read_topic(
        &pipeline.kafka.brokers,
        &pipeline.kafka.beats_topic,
        3,
        Duration::from_secs(3),
    );
    for record in &beats_on_kafka {
        let beat = decode_beat(rdkafka::Message::payload(record).unwrap()).unwrap();
        assert!(
            !refused_ids.contains(&beat.envelope.beat_id),
            "a refused beat reached kafka"
        );
    }
    assert_eq!(beats_on_kafka.len(), 2);

    // Switching off published a purge request naming the customer's installations.
    let registry = read_topic(
        &pipeline.kafka.brokers,
        &pipeline.kafka.registry_topic,
        100,
        Duration::from_secs(3),
    );
    let purges: Vec<_> = registry
        .iter()
        .filter_map(
            |record| match decode_registry(rdkafka::Message::payload(record)?) {
                Ok(RegistryRecord::Purge(purge)) => Some(purge),
                _ => None,
            },
        )
        .collect();
    assert_eq!(purges.len(), 1, "{purges:?}");
    assert_eq!(purges[0].customer_id, "cust-out");
    assert_eq!(purges[0].installation_ids, ["inst-out"]);

    // Switched on again, the same key sends again.
    set_telemetry(url, "cust-out", true).await;
    let after = example_beat(Category::HardwareInfoDisks, "inst-out");
    assert_eq!(
        post_with_key(url, Some(&key_out), &after).await.status(),
        202
    );
    let metrics = ucx_e2e::metrics_text(url).await;
    assert!(
        metrics.contains("ingest_requests_total{outcome=\"telemetry_disabled\"} 3"),
        "{metrics}"
    );
}

/// A registry record nobody can read (a newer writer, a bug) may be a revocation: the gateway
/// and every stage reading the registry stop being ready, saying why, instead of going on as if
/// it was applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_registry_record_stops_readiness() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-unreadable");
    let gateway = start_gateway(gateway_config(&kafka)).await;
    let processors = ucx_e2e::start_processors(ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let ready = |url: String| async move {
        let response = reqwest::get(format!("{url}/ready")).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(ready(gateway.admin_url.clone()).await.0, 200);
    let producer = ucx_common::kafka::Producer::new(&kafka).unwrap();
    producer
        .produce(
            &kafka.registry_topic,
            b"inst-from-the-future",
            b"\xc3\x01 a record of a schema this version does not know",
            rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .unwrap();
    wait_until(
        "the gateway not ready because of the registry",
        Duration::from_secs(15),
        || async {
            ready(gateway.admin_url.clone()).await == (503, "not ready: registry\n".into())
        },
    )
    .await;
    wait_until(
        "the processors not ready, naming the record",
        Duration::from_secs(15),
        || async {
            let (status, body) = ready(processors.url.clone()).await;
            status == 503
                && body.contains("registry: registry record at offset")
                && body.contains("upgrade")
        },
    )
    .await;
}

/// A revocation on one gateway and a licence change on another, at the same moment: every
/// gateway writes the whole installation record, so without a compare-and-set the later write,
/// built from a view without the revocation, would make the key active again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_revoke_and_licence_change_on_two_gateways_ends_revoked() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-concurrent");
    let first = start_gateway(gateway_config(&kafka)).await;
    let second = start_gateway(gateway_config(&kafka)).await;
    put_customer(&first.url, "cust-c", "GOLD", true).await;
    let installations: Vec<String> = (0..8).map(|index| format!("inst-c{index}")).collect();
    for installation in &installations {
        add_installation(&first.url, "cust-c", installation).await;
    }
    let (one, two) = (admin_client(&first.url), admin_client(&second.url));
    wait_until(
        "the second gateway to know every installation",
        Duration::from_secs(10),
        || async {
            two.customer("cust-c")
                .await
                .is_ok_and(|customer| customer.installations.len() == installations.len())
        },
    )
    .await;
    for (index, installation) in installations.iter().enumerate() {
        let licence = ucx_admin_api::LicenceInput {
            licensed_users: Some(100 + index as i32),
            licensed_devices: None,
        };
        let (revoked, licensed) = tokio::join!(
            one.revoke(installation),
            two.set_licence(installation, &licence)
        );
        revoked.unwrap();
        licensed.unwrap();
    }
    for gateway in [&one, &two] {
        wait_until(
            "every installation revoked, with its new licence, on both gateways",
            Duration::from_secs(10),
            || async {
                let customer = gateway.customer("cust-c").await.unwrap();
                customer.installations.iter().all(|installation| {
                    let index: i32 = installation.installation_id["inst-c".len()..]
                        .parse()
                        .unwrap();
                    installation.status == ucx_schemas::InstallationStatus::Revoked
                        && installation.licensed_users == Some(100 + index)
                })
            },
        )
        .await;
    }
}

/// Telemetry switched off on one gateway while another updates the customer's name at the same
/// moment: the customer ends opted out with the new name (an opt-out is never undone by a
/// concurrent edit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_opt_out_and_customer_edit_on_two_gateways_ends_opted_out() {
    let services = Services::from_env();
    let kafka = services.kafka("auth-concurrent-customer");
    let first = start_gateway(gateway_config(&kafka)).await;
    let second = start_gateway(gateway_config(&kafka)).await;
    let (one, two) = (admin_client(&first.url), admin_client(&second.url));
    let customers: Vec<String> = (0..6).map(|index| format!("cust-cc{index}")).collect();
    for customer in &customers {
        put_customer(&first.url, customer, "GOLD", true).await;
    }
    wait_until(
        "the second gateway to know every customer",
        Duration::from_secs(10),
        || async {
            two.customers().await.is_ok_and(|known| {
                customers
                    .iter()
                    .all(|c| known.iter().any(|k| &k.customer_id == c))
            })
        },
    )
    .await;
    for customer in &customers {
        let edit = ucx_admin_api::CustomerInput {
            name: format!("{customer} renamed"),
            region: ucx_schemas::Region::EU,
            contract_tier: ucx_schemas::ContractTier::Gold,
            care_end_date: None,
            alert_contacts: Vec::new(),
            telemetry_enabled: None,
        };
        let (off, edited) = tokio::join!(
            one.set_telemetry(customer, false),
            two.put_customer(customer, &edit)
        );
        off.unwrap();
        edited.unwrap();
    }
    for gateway in [&one, &two] {
        wait_until(
            "every customer opted out, with its new name, on both gateways",
            Duration::from_secs(10),
            || async {
                let known = gateway.customers().await.unwrap();
                customers.iter().all(|customer| {
                    known.iter().any(|k| {
                        &k.customer_id == customer
                            && !k.telemetry_enabled
                            && k.name == format!("{customer} renamed")
                    })
                })
            },
        )
        .await;
    }
}
