//! Switching a customer's telemetry off purges its stored data: every table loses that
//! customer's rows (beats, alerts, the notifier's deliveries with the contacts' addresses),
//! other customers keep theirs, the sink records the
//! completion, and records still on their way are dropped on arrival.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::Message;

use ucx_e2e::{
    add_installation, example_beat, metrics_text, post_with_key, put_customer, query,
    set_telemetry, start_pipeline, wait_until, Services,
};
use ucx_schemas::Category;

const TABLES: [&str; 5] = [
    "hardware_disks",
    "running_processes",
    "ucx_acd",
    "software_os",
    "alerts",
];

async fn rows_of(
    clickhouse: &ucx_common::config::ClickHouseSettings,
    installation: &str,
) -> Vec<u64> {
    let mut counts = Vec::new();
    for table in TABLES {
        let answer = query(
            clickhouse,
            &format!("SELECT count() FROM {table} WHERE installation_id = '{installation}'"),
        )
        .await
        .unwrap();
        counts.push(answer.trim().parse().unwrap());
    }
    counts
}

/// Waits until the sink reported `count` completed purges of `customer`.
async fn purges_reported(
    clickhouse: &ucx_common::config::ClickHouseSettings,
    customer: &str,
    count: usize,
) {
    wait_until(
        &format!("the sink to report purge {count} of {customer} done"),
        Duration::from_secs(60),
        || async {
            query(
                clickhouse,
                &format!("SELECT count() FROM purges WHERE customer_id = '{customer}'"),
            )
            .await
            .is_ok_and(|reported| reported.trim() == count.to_string())
        },
    )
    .await;
}

/// The newest record of each key in the processors' state changelog: its value's length, or
/// `None` for a tombstone.
fn newest_states(kafka: &ucx_common::config::KafkaSettings) -> HashMap<String, Option<usize>> {
    let mut newest = HashMap::new();
    for record in ucx_e2e::read_topic(
        &kafka.brokers,
        &kafka.processor_state_topic,
        usize::MAX,
        Duration::from_secs(2),
    ) {
        let key = String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned();
        newest.insert(key, record.payload().map(<[u8]>::len));
    }
    newest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opting_out_purges_one_customers_rows_and_only_theirs() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "purge").await;
    let url = &pipeline.gateway.url;
    let mut keys = Vec::new();
    for (customer, installation) in [("cust-gone", "inst-gone"), ("cust-kept", "inst-kept")] {
        put_customer(url, customer, "GOLD", true).await;
        let key = add_installation(url, customer, installation).await;
        for category in [
            Category::HardwareInfoDisks,
            Category::ProcessesRunningProcesses,
            Category::UcxSuiteAcd,
            Category::SoftwareInfoOs,
        ] {
            let mut beat = example_beat(category, installation);
            if category == Category::HardwareInfoDisks {
                beat["data"]["disks"][1]["free_bytes"] = 2_147_483_648u64.into();
                // 1 %: an alert
            }
            assert_eq!(post_with_key(url, Some(&key), &beat).await.status(), 202);
        }
        keys.push(key);
    }
    let clickhouse = &pipeline.clickhouse;
    for installation in ["inst-gone", "inst-kept"] {
        wait_until(
            "every table to hold the installation's rows",
            Duration::from_secs(40),
            || async {
                rows_of(clickhouse, installation)
                    .await
                    .iter()
                    .all(|&count| count > 0)
            },
        )
        .await;
    }
    let kept_before = rows_of(clickhouse, "inst-kept").await;
    for table in TABLES {
        let customers = query(
            clickhouse,
            &format!(
                "SELECT DISTINCT customer_id FROM {table} WHERE installation_id = 'inst-kept'"
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            customers, "cust-kept\n",
            "every row of {table} names its customer"
        );
    }

    // the notifier's deliveries hold the contacts' addresses, keyed by customer only
    let deliveries = |customer: &str| {
        format!("SELECT count() FROM notification_deliveries WHERE customer_id = '{customer}'")
    };
    for customer in ["cust-gone", "cust-kept"] {
        query(
            clickhouse,
            &format!(
                "INSERT INTO notification_deliveries (delivery_id, notification_id, customer_id, \
                 recipient, kind, status, created_at, recorded_at, version) VALUES \
                 ('d-{customer}', 'n', '{customer}', 'it@{customer}.example', 'alert', 'SENT', \
                 now() - 60, now() - 60, 1)"
            ),
        )
        .await
        .unwrap();
    }

    set_telemetry(url, "cust-gone", false).await;
    purges_reported(clickhouse, "cust-gone", 1).await;
    assert_eq!(
        rows_of(clickhouse, "inst-gone").await,
        vec![0; TABLES.len()],
        "every row of the purged customer is gone"
    );
    assert_eq!(
        rows_of(clickhouse, "inst-kept").await,
        kept_before,
        "the other customer keeps all its rows"
    );
    // The processors' state of the opted-out installation is erased from its changelog: its
    // newest record is a tombstone (compaction then drops the key); the other's is a document.
    let newest_state = || newest_states(&pipeline.kafka);
    wait_until(
        "the opted-out installation's state tombstoned",
        Duration::from_secs(30),
        || std::future::ready(newest_state().get("inst-gone") == Some(&None)),
    )
    .await;
    assert!(
        matches!(newest_state().get("inst-kept"), Some(Some(bytes)) if *bytes > 0),
        "the other installation keeps its state"
    );
    let report = query(
        clickhouse,
        "SELECT installation_ids, length(tables) >= 5 FROM purges WHERE customer_id = 'cust-gone' FORMAT TSV",
    )
    .await
    .unwrap();
    assert_eq!(report.trim(), "['inst-gone']\t1");
    assert_eq!(
        query(clickhouse, &deliveries("cust-gone"))
            .await
            .unwrap()
            .trim(),
        "0"
    );
    assert_eq!(
        query(clickhouse, &deliveries("cust-kept"))
            .await
            .unwrap()
            .trim(),
        "1"
    );

    // A retried switch-off (its first answer lost, say, with the purge not yet stored) asks for
    // the purge again: every switch-off does, and a purge is harmless twice. This one says who
    // asks and why, and the purge report keeps it.
    let input = ucx_admin_api::TelemetryInput {
        enabled: false,
        by: Some("reseller-x".into()),
        reason: Some("contract ended".into()),
    };
    ucx_e2e::admin_client(url)
        .switch_telemetry("cust-gone", &input)
        .await
        .unwrap();
    purges_reported(clickhouse, "cust-gone", 2).await;
    let reasons = query(
        clickhouse,
        "SELECT groupArray(reason) FROM (SELECT reason FROM purges \
         WHERE customer_id = 'cust-gone' ORDER BY requested_at)",
    )
    .await
    .unwrap();
    assert_eq!(
        reasons.trim(),
        "['telemetry switched off by an unnamed admin API caller','telemetry switched off by reseller-x: contract ended']"
    );

    // A record of the purged period arriving late (a redelivery) is dropped, not stored.
    let records = ucx_e2e::read_topic(
        &pipeline.kafka.brokers,
        &pipeline.kafka.beats_topic,
        8,
        Duration::from_secs(5),
    );
    let late = records
        .iter()
        .find(|record| rdkafka::Message::key(*record) == Some(b"inst-gone".as_slice()))
        .expect("a record of the purged installation");
    // (records of the purged period still on their way when the purge ran were dropped too)
    let purged_metric = || async {
        metrics_text(&pipeline.sinks.url)
            .await
            .lines()
            .find_map(|line| line.strip_prefix("sink_records_purged_total "))
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let dropped_before = purged_metric().await;
    let producer = ucx_common::kafka::Producer::new(&pipeline.kafka).unwrap();
    producer
        .produce(
            &pipeline.kafka.beats_topic,
            b"inst-gone",
            rdkafka::Message::payload(late).unwrap(),
            rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .unwrap();
    wait_until(
        "the late record to be dropped",
        Duration::from_secs(30),
        || async { purged_metric().await > dropped_before },
    )
    .await;
    assert_eq!(
        rows_of(clickhouse, "inst-gone").await,
        vec![0; TABLES.len()]
    );

    // Switched on again, new beats are stored as usual.
    set_telemetry(url, "cust-gone", true).await;
    let beat = example_beat(Category::UcxSuiteAcd, "inst-gone");
    assert_eq!(
        post_with_key(url, Some(&keys[0]), &beat).await.status(),
        202
    );
    wait_until(
        "the new beat to be stored",
        Duration::from_secs(30),
        || async { rows_of(clickhouse, "inst-gone").await[2] == 1 },
    )
    .await;
    let metrics = metrics_text(&pipeline.sinks.url).await;
    assert!(
        metrics.contains("sink_purges_completed_total 2"),
        "{metrics}"
    );
    // The sink publishes its lag per partition (librdkafka statistics, every 5 s).
    let lag = format!(
        "ucx_consumer_lag{{partition=\"0\",stage=\"sinks\",topic=\"{}\"}}",
        pipeline.kafka.beats_topic
    );
    wait_until(
        "the consumer lag gauge",
        Duration::from_secs(15),
        || async { metrics_text(&pipeline.sinks.url).await.contains(&lag) },
    )
    .await;
}

/// Erasing a customer (not only switching its telemetry off): its rows purged, its processor
/// state tombstoned, and its registry records deleted — the customer with its contacts, its
/// installations (their keys stop working) — on every stage's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_customer_removes_it_from_the_registry_and_every_store() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "erasure").await;
    let url = &pipeline.gateway.url;
    ucx_e2e::put_customer_mailing(url, "cust-erased", "GOLD", "anna@erased.example", true).await;
    let key = add_installation(url, "cust-erased", "inst-erased").await;
    for category in [
        Category::HardwareInfoDisks,
        Category::ProcessesRunningProcesses,
    ] {
        let beat = example_beat(category, "inst-erased");
        assert_eq!(post_with_key(url, Some(&key), &beat).await.status(), 202);
    }
    let clickhouse = &pipeline.clickhouse;
    wait_until(
        "the beats stored and judged",
        Duration::from_secs(60),
        || async {
            rows_of(clickhouse, "inst-erased").await[..2] == [2, 2]
                && newest_states(&pipeline.kafka)
                    .get("inst-erased")
                    .is_some_and(Option::is_some)
        },
    )
    .await;

    // the erasure report before: everything still there, and it says what to do
    let report = || {
        ucx_admin_api::erasure_report::erasure_report(&pipeline.kafka, clickhouse, "cust-erased")
    };
    let before = report().await.unwrap();
    assert!(!before.erased, "{before:?}");
    assert!(
        before
            .left
            .iter()
            .any(|left| left.contains("erase it first")),
        "{:?}",
        before.left
    );
    assert!(before.registry.customer_record && before.registry.alert_contacts == 1);
    let rows_in = |report: &ucx_admin_api::erasure_report::ErasureReport, table: &str| {
        report
            .tables
            .iter()
            .find(|check| check.table == table)
            .unwrap_or_else(|| panic!("{table} checked: {report:?}"))
            .rows
    };

    let admin = ucx_e2e::admin_client(url);
    let refused = admin
        .erase_customer("cust-erased", &ucx_admin_api::ErasureInput::default())
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(422), "{refused}");
    let input = ucx_admin_api::ErasureInput {
        by: "the customer's DPO".into(),
        reason: "contract ended, erasure asked".into(),
    };
    let erased = admin.erase_customer("cust-erased", &input).await.unwrap();
    assert_eq!(erased.installation_ids, ["inst-erased"]);
    assert_eq!(
        erased.registry_records_deleted, 2,
        "the installation and the customer"
    );

    // the registry: no customer (its contacts with it), no installation, the key refused
    let gone = admin.customer("cust-erased").await.unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(404), "{gone}");
    let customers = serde_json::to_string(&admin.customers().await.unwrap()).unwrap();
    assert!(!customers.contains("anna@erased.example"), "{customers}");
    let beat = example_beat(Category::HardwareInfoDisks, "inst-erased");
    assert_eq!(post_with_key(url, Some(&key), &beat).await.status(), 401);
    // the stores: every row purged (the purge names who asked), the state tombstoned
    purges_reported(clickhouse, "cust-erased", 1).await;
    assert_eq!(
        rows_of(clickhouse, "inst-erased").await,
        vec![0; TABLES.len()]
    );
    let reason = query(
        clickhouse,
        "SELECT reason FROM purges WHERE customer_id = 'cust-erased'",
    )
    .await
    .unwrap();
    assert!(reason.contains("DPO: contract ended"), "{reason}");
    wait_until(
        "the erased installation's state tombstoned",
        Duration::from_secs(30),
        || std::future::ready(newest_states(&pipeline.kafka).get("inst-erased") == Some(&None)),
    )
    .await;
    // the erasure report after: nothing left but the topics' copies, each with its bound
    let after = report().await.unwrap();
    assert!(after.erased, "{:?}", after.left);
    assert_eq!(after.installation_ids, ["inst-erased"]);
    assert!(!after.registry.customer_record && after.registry.installations == 0);
    assert!(after
        .purge_requests
        .iter()
        .all(|purge| purge.completed_at.is_some()));
    assert!(
        after.tables.iter().all(|check| check.rows == 0),
        "{after:?}"
    );
    assert_eq!(rows_in(&before, "hardware_disks"), 2);
    assert_eq!(rows_in(&after, "notification_deliveries"), 0);
    let topic = |name: &str| {
        after
            .topics
            .iter()
            .find(|check| check.topic == name)
            .unwrap_or_else(|| panic!("{name} checked: {after:?}"))
    };
    let beats = topic(&pipeline.kafka.beats_topic);
    assert_eq!(beats.records, 2, "the two beats' copies, until retention");
    assert_eq!(
        beats.gone_by_ms.unwrap() - beats.newest_at_ms.unwrap(),
        i64::from(pipeline.kafka.retention_hours) * 3_600_000
    );
    assert_eq!(
        topic(&pipeline.kafka.processor_state_topic).live_keys,
        Some(0)
    );
    assert_eq!(topic(&pipeline.kafka.registry_topic).live_keys, Some(0));
    // erasing again: nothing left to erase
    let again = admin
        .erase_customer("cust-erased", &input)
        .await
        .unwrap_err();
    assert_eq!(again.status().map(|s| s.as_u16()), Some(404), "{again}");
}

/// The gateway that switches telemetry off writes the customer record, then the purge request;
/// one that dies (or loses the broker) between the two writes leaves a switch-off without a
/// request. The pipeline derives the purge from the customer record after
/// `PURGE_FALLBACK_AFTER_MS`: the switch-off still ends purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_off_whose_purge_request_was_lost_still_ends_purged() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "purge-lost").await;
    let url = &pipeline.gateway.url;
    put_customer(url, "cust-lost", "GOLD", true).await;
    let key = add_installation(url, "cust-lost", "inst-lost").await;
    let disks = example_beat(Category::HardwareInfoDisks, "inst-lost");
    assert_eq!(post_with_key(url, Some(&key), &disks).await.status(), 202);
    let clickhouse = &pipeline.clickhouse;
    wait_until("the row stored", Duration::from_secs(30), || async {
        rows_of(clickhouse, "inst-lost").await[0] > 0
    })
    .await;

    // What a gateway that died after its first write leaves: telemetry off, no purge request.
    let customer = ucx_schemas::registry::Customer {
        customer_id: "cust-lost".into(),
        name: "cust-lost Ltd".into(),
        region: ucx_schemas::Region::EU,
        contract_tier: ucx_schemas::registry::ContractTier::Gold,
        care_end_date: None,
        telemetry_enabled: false,
        alert_contacts: vec![],
        updated_at: ucx_common::now_ms(),
    };
    let record = ucx_schemas::registry::RegistryRecord::Customer(customer);
    let producer = ucx_common::kafka::Producer::new(&pipeline.kafka).unwrap();
    producer
        .produce(
            &pipeline.kafka.registry_topic,
            record.key().as_bytes(),
            &ucx_schemas::encode_registry(&record).unwrap(),
            rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .unwrap();
    // refused once the gateway read it, purged once the fallback's wait is over
    let admin = ucx_e2e::admin_client(url);
    wait_until(
        "the gateway sees telemetry off",
        Duration::from_secs(10),
        || async {
            admin
                .customer("cust-lost")
                .await
                .is_ok_and(|view| !view.customer.telemetry_enabled)
        },
    )
    .await;
    assert_eq!(post_with_key(url, Some(&key), &disks).await.status(), 403);
    wait_until(
        "the derived purge done",
        Duration::from_millis(ucx_common::registry::PURGE_FALLBACK_AFTER_MS as u64 + 60_000),
        || async {
            query(
                clickhouse,
                "SELECT reason FROM purges WHERE customer_id = 'cust-lost'",
            )
            .await
            .is_ok_and(|reason| reason.contains("derived"))
        },
    )
    .await;
    assert_eq!(
        rows_of(clickhouse, "inst-lost").await,
        vec![0; TABLES.len()]
    );
}

/// Seconds from posting one disks beat of `installation` to its row in ClickHouse.
async fn seconds_to_queryable(
    url: &str,
    key: &str,
    installation: &str,
    clickhouse: &ucx_common::config::ClickHouseSettings,
) -> f64 {
    let beat = example_beat(Category::HardwareInfoDisks, installation);
    let beat_id = beat["beat_id"].as_str().unwrap().to_string();
    let posted = std::time::Instant::now();
    assert_eq!(post_with_key(url, Some(key), &beat).await.status(), 202);
    wait_until("the beat queryable", Duration::from_secs(60), || async {
        query(
            clickhouse,
            &format!("SELECT count() FROM hardware_disks WHERE beat_id = '{beat_id}'"),
        )
        .await
        .is_ok_and(|count| count.trim() != "0")
    })
    .await;
    posted.elapsed().as_secs_f64()
}

/// A purge that ClickHouse is slow to carry out does not hold up other customers' beats: with
/// the merges (which run ClickHouse's deletions) stopped on this test's tables, the purge waits
/// for its mutations while another customer's beats are stored as fast as before it began.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_purge_does_not_pause_the_sinks() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "purge-slow").await;
    let url = &pipeline.gateway.url;
    let clickhouse = &pipeline.clickhouse;
    put_customer(url, "cust-slow-gone", "GOLD", true).await;
    put_customer(url, "cust-busy", "GOLD", true).await;
    let gone_key = add_installation(url, "cust-slow-gone", "inst-slow-gone").await;
    let busy_key = add_installation(url, "cust-busy", "inst-busy").await;
    let gone_beat = example_beat(Category::HardwareInfoDisks, "inst-slow-gone");
    assert_eq!(
        post_with_key(url, Some(&gone_key), &gone_beat)
            .await
            .status(),
        202
    );
    let mut before = Vec::new();
    for _ in 0..5 {
        before.push(seconds_to_queryable(url, &busy_key, "inst-busy", clickhouse).await);
    }
    assert!(rows_of(clickhouse, "inst-slow-gone").await[0] > 0);

    let database = &clickhouse.database;
    let tables = query(
        clickhouse,
        &format!("SELECT name FROM system.tables WHERE database = '{database}' AND engine LIKE '%MergeTree'"),
    )
    .await
    .unwrap();
    let merges = |verb: &'static str| {
        let tables = tables.clone();
        async move {
            for table in tables.lines() {
                query(
                    clickhouse,
                    &format!("SYSTEM {verb} MERGES {database}.{table}"),
                )
                .await
                .unwrap();
            }
        }
    };
    merges("STOP").await;
    set_telemetry(url, "cust-slow-gone", false).await;
    let unfinished = format!(
        "SELECT count() FROM system.mutations WHERE database = '{database}' AND is_done = 0"
    );
    wait_until(
        "the purge's deletions issued and waiting",
        Duration::from_secs(30),
        || async {
            query(clickhouse, &unfinished)
                .await
                .is_ok_and(|count| count.trim() != "0")
        },
    )
    .await;
    let mut during = Vec::new();
    for _ in 0..10 {
        during.push(seconds_to_queryable(url, &busy_key, "inst-busy", clickhouse).await);
    }
    let purges_done = "SELECT count() FROM purges WHERE customer_id = 'cust-slow-gone'";
    assert_eq!(
        query(clickhouse, purges_done).await.unwrap().trim(),
        "0",
        "the purge was still under way while the other customer's beats were stored"
    );
    merges("START").await;
    purges_reported(clickhouse, "cust-slow-gone", 1).await;
    assert_eq!(rows_of(clickhouse, "inst-slow-gone").await[0], 0);
    let busy_beats = query(
        clickhouse,
        "SELECT uniqExact(beat_id) FROM hardware_disks WHERE installation_id = 'inst-busy'",
    )
    .await
    .unwrap();
    assert_eq!(
        busy_beats.trim(),
        "15",
        "every beat of the other customer kept"
    );

    let slowest = |seconds: &[f64]| seconds.iter().cloned().fold(0.0, f64::max);
    eprintln!(
        "slow purge: another customer's beat queryable after {:.2} s at most before the purge ({before:.2?}), {:.2} s at most while it waited ({during:.2?})",
        slowest(&before),
        slowest(&during)
    );
    // Paused sinks would store nothing until the merges restart: no beat would be queryable.
    assert!(
        slowest(&during) < slowest(&before) + 2.0,
        "beats waited for the purge: before {before:?}, during {during:?}"
    );
}

/// Copies of an erased customer's beats, alerts, changes and dead letters in the topics are
/// bounded by the topics' retention: the stages create them with `kafka.retention_hours`
/// (default 7 days), whatever the broker's default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_topics_keep_records_for_the_configured_retention_only() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let mut kafka = Services::from_env().kafka("retention-bound");
    assert_eq!(kafka.retention_hours, 168, "the default: 7 days");
    // a day here: the topics carry our setting, not a broker default that happens to match
    kafka.retention_hours = 24;
    ucx_common::kafka::ensure_pipeline_topics(&kafka)
        .await
        .unwrap();
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .create()
        .unwrap();
    let topics = [
        &kafka.beats_topic,
        &kafka.alerts_topic,
        &kafka.changes_topic,
        &kafka.dead_letter_topic,
    ];
    let resources: Vec<ResourceSpecifier> = topics
        .iter()
        .map(|topic| ResourceSpecifier::Topic(topic.as_str()))
        .collect();
    let described = admin
        .describe_configs(&resources, &AdminOptions::new())
        .await
        .unwrap();
    for (topic, resource) in topics.iter().zip(described) {
        let resource = resource.unwrap();
        let retention = resource
            .get("retention.ms")
            .and_then(|entry| entry.value.clone());
        assert_eq!(retention.as_deref(), Some("86400000"), "{topic}");
    }
}
