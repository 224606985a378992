//! The rule library on the real broker: every starter rule opens exactly one alert on a scripted
//! bad stretch and resolves it when the beats turn good; alerts are routed by contract tier
//! (Basic: support only; Gold: the customer too; opted out: nothing evaluated); and an edited
//! rule file takes effect without a restart, while an invalid one is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use ucx_e2e::{
    add_installation, example_beat, fault_example_beat, metrics_text, post_with_key, put_customer,
    read_topic, set_telemetry, start_gateway, start_processors, unique, wait_until, Services,
    Stage,
};
use ucx_processors::rules::library::{RuleLibrary, When, BUILT_IN};
use ucx_schemas::{decode_alert, decode_change, Alert, AlertState, Category, ChangeKind};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const GIB: i64 = 1 << 30;

/// `count` beats of `category` from `node`, an hour apart and ending three hours ago, each
/// changed by `change(k, data)`: a scripted history for baseline and forecast rules. Each such
/// scenario has a node of its own, so histories do not mix.
fn history(
    category: Category,
    installation: &str,
    node: &str,
    count: i64,
    change: impl Fn(i64, &mut Value),
) -> Vec<Value> {
    let now = ucx_common::now_ms();
    (0..count)
        .map(|k| {
            let mut beat = example_beat(category, installation);
            beat["node_id"] = json!(node);
            beat["sent_at"] = json!(now - (count + 3 - k) * HOUR_MS);
            change(k, &mut beat["data"]);
            beat
        })
        .collect()
}

/// The beat after a history: one hour later, from the same node.
fn next(history: Vec<Value>, change: impl Fn(&mut Value)) -> (Vec<Value>, Value) {
    let mut beat = history.last().expect("a history").clone();
    beat["sent_at"] = json!(beat["sent_at"].as_i64().unwrap() + HOUR_MS);
    change(&mut beat["data"]);
    (history, beat)
}

/// A beat of `category` with `change` applied to its data.
fn beat(category: Category, installation: &str, change: impl Fn(&mut Value)) -> Value {
    let mut beat = example_beat(category, installation);
    change(&mut beat["data"]);
    beat
}

/// Per rule: the beats that set the scene, the bad beat, the good beat.
fn scenarios(installation: &str, now: i64) -> Vec<Scenario> {
    use Category::*;
    let b = |category, change: &dyn Fn(&mut Value)| beat(category, installation, change);
    let database = |size: i64, maintained_days_ago: i64, catalog: &str| {
        b(UcxSuiteDatabase, &|d| {
            d["size_bytes"] = json!(size);
            d["last_maintenance_at"] = json!(now - maintained_days_ago * DAY_MS);
            d["full_text_catalog_status"] = json!(catalog);
        })
    };
    let gib = 1 << 30;
    vec![
        (
            "disk_free_low",
            vec![],
            // the fault example's D: (5 % free)
            b(HardwareInfoDisks, &|d| {
                d["disks"][1]["free_bytes"] = json!(10 * gib)
            }),
            b(HardwareInfoDisks, &|d| {
                d["disks"][1]["free_bytes"] = json!(100 * gib)
            }),
        ),
        (
            "memory_low",
            vec![],
            b(HardwareInfoMemory, &|d| {
                d["available_bytes"] = json!(gib / 2)
            }),
            b(HardwareInfoMemory, &|_| {}),
        ),
        (
            "cpu_pinned",
            vec![],
            b(ProcessesRunningProcesses, &|d| {
                d["processes"][0]["cpu_percent"] = json!(99.0)
            }),
            b(ProcessesRunningProcesses, &|_| {}),
        ),
        (
            "handle_count_high",
            vec![],
            b(ProcessesRunningProcesses, &|d| {
                d["processes"][1]["handle_count"] = json!(20_000)
            }),
            b(ProcessesRunningProcesses, &|_| {}),
        ),
        (
            "required_service_stopped",
            vec![],
            b(ProcessesWindowsServices, &|d| {
                d["services"][0]["status"] = json!("Stopped")
            }),
            b(ProcessesWindowsServices, &|_| {}),
        ),
        (
            "firewall_disabled",
            vec![],
            b(SoftwareInfoWindowsFirewall, &|d| {
                d["private_enabled"] = json!(false)
            }),
            b(SoftwareInfoWindowsFirewall, &|d| {
                d["private_enabled"] = json!(true)
            }),
        ),
        (
            "windows_updates_stale",
            vec![],
            b(SoftwareInfoWindowsUpdates, &|d| {
                d["hotfixes"][0]["installed_at"] = json!(now - 100 * DAY_MS)
            }),
            b(SoftwareInfoWindowsUpdates, &|d| {
                d["hotfixes"][0]["installed_at"] = json!(now - DAY_MS)
            }),
        ),
        (
            "database_near_edition_limit",
            vec![b(UcxSuiteDatabaseServer, &|_| {})],
            database(9 * gib, 1, "Healthy"),
            database(4 * gib, 1, "Healthy"),
        ),
        (
            "database_maintenance_overdue",
            vec![],
            database(4 * gib, 40, "Healthy"),
            database(4 * gib, 1, "Healthy"),
        ),
        (
            "full_text_catalog_unhealthy",
            vec![],
            database(4 * gib, 1, "Corrupted"),
            database(4 * gib, 1, "Healthy"),
        ),
        (
            "logging_disabled",
            vec![],
            b(UcxSuiteLogging, &|d| d["enabled"] = json!(false)),
            b(UcxSuiteLogging, &|_| {}),
        ),
        (
            "log_retention_short",
            vec![],
            b(UcxSuiteLogging, &|d| d["retention_days"] = json!(3)),
            b(UcxSuiteLogging, &|_| {}),
        ),
        (
            "cluster_node_missing",
            vec![b(UcxSuiteCluster, &|_| {})],
            b(UcxSuiteCluster, &|d| d["nodes"] = json!(["node-1"])),
            b(UcxSuiteCluster, &|_| {}),
        ),
        (
            "acd_queue_high",
            vec![],
            b(UcxSuiteAcd, &|d| d["fifo_queued_calls"] = json!(30)),
            b(UcxSuiteAcd, &|_| {}),
        ),
        (
            "fax_backlog",
            vec![],
            b(UcxSuiteDigitalFax, &|d| d["faxes_transmitting"] = json!(30)),
            b(UcxSuiteDigitalFax, &|_| {}),
        ),
        (
            "suite_version_unsupported",
            vec![],
            b(UcxSuiteSuiteInfo, &|d| {
                d["version"] = json!("2022.Summer.3")
            }),
            b(UcxSuiteSuiteInfo, &|_| {}),
        ),
        (
            // after 2024.Winter.1 above: back to an older (still supported) release, then again
            "suite_downgraded",
            vec![],
            b(UcxSuiteSuiteInfo, &|d| {
                d["version"] = json!("2024.Summer.2")
            }),
            b(UcxSuiteSuiteInfo, &|_| {}),
        ),
        (
            // licences for 1,000 users and 1,500 devices (set below); the example has 850 / 1,200
            "cucm_users_near_licence",
            vec![],
            b(UcxSuiteVoipArchitecture, &|d| d["cucm_users"] = json!(950)),
            b(UcxSuiteVoipArchitecture, &|_| {}),
        ),
        (
            "cucm_devices_near_licence",
            vec![],
            b(UcxSuiteVoipArchitecture, &|d| {
                d["cucm_devices"] = json!(1400)
            }),
            b(UcxSuiteVoipArchitecture, &|_| {}),
        ),
        trend_scenario(
            "disk_full_forecast",
            // C: loses a point of its 100 GiB an hour from 60 % free: full in about two days
            history(HardwareInfoDisks, installation, "node-disk", 12, |k, d| {
                let size = 100 * GIB;
                d["disks"] = json!([{ "name": "C:", "model": "m", "size_bytes": size,
                                      "free_bytes": (60 - k) * size / 100 }]);
            }),
            |k, d| d["disks"][0]["free_bytes"] = json!((60 - k) * GIB),
            |d| d["disks"][0]["free_bytes"] = json!(95 * GIB),
        ),
        trend_scenario(
            "database_full_forecast",
            // an Express database growing by 1 % of its 10 GB limit an hour from half of it
            [b(UcxSuiteDatabaseServer, &|_| {})]
                .into_iter()
                .chain(history(
                    UcxSuiteDatabase,
                    installation,
                    "node-db",
                    12,
                    |k, d| {
                        d["size_bytes"] = json!((50 + k) * 10 * GIB / 100);
                        d["last_maintenance_at"] = json!(now - DAY_MS);
                        d["full_text_catalog_status"] = json!("Healthy");
                    },
                ))
                .collect(),
            |k, d| d["size_bytes"] = json!((50 + k) * 10 * GIB / 100),
            |d| d["size_bytes"] = json!(3 * GIB),
        ),
        trend_scenario(
            "cucm_users_licence_forecast",
            // 1,000 licensed users (set below), 20 more every hour from 500: full in a day
            history(
                UcxSuiteVoipArchitecture,
                installation,
                "node-licence",
                12,
                |k, d| d["cucm_users"] = json!(500 + 20 * k),
            ),
            |k, d| d["cucm_users"] = json!(500 + 20 * k),
            |d| d["cucm_users"] = json!(300),
        ),
        trend_scenario(
            "process_memory_leak",
            // ApolloService.exe gains 1/4 GiB of 16 an hour: at 80 % in about a day
            [{
                let mut memory = b(HardwareInfoMemory, &|_| {});
                memory["node_id"] = json!("node-leak");
                memory
            }]
            .into_iter()
            .chain(history(
                ProcessesRunningProcesses,
                installation,
                "node-leak",
                12,
                |k, d| d["processes"][1]["memory_bytes"] = json!(2 * GIB + k * GIB / 4),
            ))
            .collect(),
            |k, d| d["processes"][1]["memory_bytes"] = json!(2 * GIB + k * GIB / 4),
            |d| d["processes"][1]["memory_bytes"] = json!(GIB / 2),
        ),
        trend_scenario(
            "handle_leak",
            // 500 more handles an hour, far below the fixed 10 000 yet 50 000 in under 4 days
            history(
                ProcessesRunningProcesses,
                installation,
                "node-handles",
                12,
                |k, d| d["processes"][1]["handle_count"] = json!(930 + 500 * k),
            ),
            |k, d| d["processes"][1]["handle_count"] = json!(930 + 500 * k),
            |d| d["processes"][1]["handle_count"] = json!(900),
        ),
        baseline_scenario(
            "acd_queue_abnormal",
            history(UcxSuiteAcd, installation, "node-acd", 20, |k, d| {
                d["fifo_queued_calls"] = json!([1, 2, 3, 2][k as usize % 4]);
                d["camp_on_queued_calls"] = json!(0);
            }),
            // usual ≈ 2, so 14 is abnormal here while the fixed rule (20) stays quiet
            |d| d["fifo_queued_calls"] = json!(14),
            |d| d["fifo_queued_calls"] = json!(2),
        ),
        baseline_scenario(
            "fax_backlog_abnormal",
            history(UcxSuiteDigitalFax, installation, "node-fax", 20, |k, d| {
                d["faxes_transmitting"] = json!([0, 1, 2, 1][k as usize % 4])
            }),
            |d| d["faxes_transmitting"] = json!(12),
            |d| d["faxes_transmitting"] = json!(1),
        ),
    ]
}

type Scenario = (&'static str, Vec<Value>, Value, Value);

/// A forecast rule's scenario: the history, the next point on the same line (bad), and a point
/// that breaks the line (good: space freed, a service restarted).
fn trend_scenario(
    rule: &'static str,
    history: Vec<Value>,
    on_the_line: impl Fn(i64, &mut Value),
    off_the_line: impl Fn(&mut Value),
) -> Scenario {
    let points = history.len() as i64;
    let (history, bad) = next(history, |d| on_the_line(points, d));
    let (_, good) = next(vec![bad.clone()], off_the_line);
    (rule, history, bad, good)
}

/// A baseline rule's scenario: usual values, one far above them, a usual one again.
fn baseline_scenario(
    rule: &'static str,
    history: Vec<Value>,
    abnormal: impl Fn(&mut Value),
    usual: impl Fn(&mut Value),
) -> Scenario {
    let (history, bad) = next(history, abnormal);
    let (_, good) = next(vec![bad.clone()], usual);
    (rule, history, bad, good)
}

fn fresh(mut beat: Value) -> Value {
    beat["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
    beat
}

/// The alerts on the topic: waits up to `timeout` for `expected` of them.
fn alerts_of(
    kafka: &ucx_common::config::KafkaSettings,
    expected: usize,
    timeout: Duration,
) -> Vec<Alert> {
    read_topic(&kafka.brokers, &kafka.alerts_topic, expected, timeout)
        .iter()
        .map(|record| decode_alert(rdkafka::Message::payload(record).unwrap()).unwrap())
        .collect()
}

/// A gateway and processors on topics of their own, the processors following `rules_file`
/// (checked every 200 ms) or the built-in library.
async fn gateway_and_processors(
    test: &str,
    rules_file: Option<std::path::PathBuf>,
) -> (ucx_common::config::KafkaSettings, Stage, Stage) {
    let kafka = Services::from_env().kafka(test);
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique(test);
    config.processors.rules_file = rules_file;
    config.processors.rules_reload_interval_ms = Duration::from_millis(200);
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let processors = start_processors(config).await;
    (kafka, gateway, processors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_starter_rule_fires_once_and_resolves() {
    let (kafka, gateway, _processors) = gateway_and_processors("rules", None).await;
    put_customer(&gateway.url, "cust-gold", "GOLD", true).await;
    let key = add_installation(&gateway.url, "cust-gold", "inst-rules").await;
    let licence = ucx_admin_api::LicenceInput {
        licensed_users: Some(1000),
        licensed_devices: Some(1500),
    };
    ucx_e2e::admin_client(&gateway.url)
        .set_licence("inst-rules", &licence)
        .await
        .unwrap();

    let library = RuleLibrary::parse(BUILT_IN).unwrap();
    let now = ucx_common::now_ms();
    let scenarios = scenarios("inst-rules", now);
    let scripted: Vec<&str> = scenarios.iter().map(|s| s.0).collect();
    // a peer rule needs a fleet: a_server_far_above_its_peers_is_alerted_with_the_peer_figures
    let judged: Vec<_> = library
        .rules
        .iter()
        .filter(|r| r.when != When::AbovePeers)
        .collect();
    let shipped: Vec<&str> = judged.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        scripted, shipped,
        "a scenario per starter rule, in the library's order"
    );
    for ((rule_id, scene, bad, good), rule) in scenarios.into_iter().zip(&judged) {
        let mut beats = scene;
        beats.extend((0..rule.for_beats).map(|_| fresh(bad.clone())));
        beats.extend((0..rule.clear_beats).map(|_| fresh(good.clone())));
        for beat in beats {
            let response = post_with_key(&gateway.url, Some(&key), &beat).await;
            assert_eq!(response.status(), 202, "{rule_id}");
        }
    }

    let alerts = alerts_of(&kafka, 2 * judged.len(), Duration::from_secs(90));
    let mut by_rule: BTreeMap<&str, Vec<AlertState>> = BTreeMap::new();
    for alert in &alerts {
        by_rule.entry(&alert.rule_id).or_default().push(alert.state);
        assert_eq!(alert.customer_id, "cust-gold");
        assert_eq!(alert.contract_tier, "GOLD");
        assert!(alert.notify_customer, "Gold: Proactive Support");
        assert!(!alert.explanation.is_empty());
        assert!(
            alert.dashboard_url.contains("inst-rules"),
            "{}",
            alert.dashboard_url
        );
    }
    for rule in &judged {
        assert_eq!(
            by_rule.get(rule.id.as_str()).map(Vec::as_slice),
            Some([AlertState::Open, AlertState::Resolved].as_slice()),
            "{}: {alerts:#?}",
            rule.id
        );
    }
    assert_eq!(alerts.len(), 2 * judged.len());

    // the suite versions above, as change events: 2022 → 2024 → older 2024 → back (all were
    // published before the alerts above were)
    let suite_changes: Vec<(ChangeKind, String, String)> = read_topic(
        &kafka.brokers,
        &kafka.changes_topic,
        usize::MAX,
        Duration::from_secs(5),
    )
    .iter()
    .map(|record| decode_change(rdkafka::Message::payload(record).unwrap()).unwrap())
    .filter(|change| change.subject == "UCX Suite")
    .map(|change| (change.kind, change.before, change.after))
    .collect();
    assert_eq!(
        suite_changes,
        [
            (
                ChangeKind::SuiteUpgraded,
                "2022.Summer.3".into(),
                "2024.Winter.1".into()
            ),
            (
                ChangeKind::SuiteDowngraded,
                "2024.Winter.1".into(),
                "2024.Summer.2".into()
            ),
            (
                ChangeKind::SuiteUpgraded,
                "2024.Summer.2".into(),
                "2024.Winter.1".into()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_routed_by_contract_tier_and_opted_out_customers_are_not_evaluated() {
    let (kafka, gateway, processors) = gateway_and_processors("routing", None).await;
    let mut keys = Vec::new();
    for (customer, tier, installation) in [
        ("cust-basic", "BASIC", "inst-basic"),
        ("cust-gold", "GOLD", "inst-gold"),
        ("cust-out", "PLATINUM", "inst-out"),
    ] {
        put_customer(&gateway.url, customer, tier, true).await;
        keys.push(add_installation(&gateway.url, customer, installation).await);
    }
    // A disk at 5 % free is a warning for everyone (the fault example's D:).
    for (key, installation) in keys.iter().zip(["inst-basic", "inst-gold"]) {
        let disks = fault_example_beat(Category::HardwareInfoDisks, installation);
        assert_eq!(
            post_with_key(&gateway.url, Some(key), &disks)
                .await
                .status(),
            202
        );
    }
    let alerts = alerts_of(&kafka, 2, Duration::from_secs(60));
    let routed: BTreeMap<&str, (&str, bool)> = alerts
        .iter()
        .map(|a| {
            (
                a.installation_id.as_str(),
                (a.contract_tier.as_str(), a.notify_customer),
            )
        })
        .collect();
    assert_eq!(
        routed["inst-basic"],
        ("BASIC", false),
        "Enhanced Support: support only"
    );
    assert_eq!(
        routed["inst-gold"],
        ("GOLD", true),
        "Proactive Support: the customer too"
    );

    // Beats already on their way when a customer opts out are not evaluated.
    set_telemetry(&gateway.url, "cust-out", false).await;
    // The registry record reaches the processors' view within milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let producer = ucx_common::kafka::Producer::new(&kafka).unwrap();
    let beat = ucx_schemas::parse_beat_json(
        fault_example_beat(Category::HardwareInfoDisks, "inst-out")
            .to_string()
            .as_bytes(),
        ucx_common::now_ms(),
    )
    .unwrap();
    let record = ucx_schemas::encode_beat(&beat).unwrap();
    producer
        .produce(&kafka.beats_topic, b"inst-out", &record, Default::default())
        .await
        .unwrap();
    wait_until(
        "the opted-out beat to be skipped",
        Duration::from_secs(30),
        || async {
            metrics_text(&processors.url)
                .await
                .contains("processor_beats_skipped_total{reason=\"telemetry_disabled\"} 1")
        },
    )
    .await;
    assert_eq!(
        alerts_of(&kafka, 3, Duration::from_secs(3)).len(),
        2,
        "no alert for the opted-out customer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_rule_file_takes_effect_without_a_restart() {
    let file = std::env::temp_dir().join(format!("{}.toml", unique("rules")));
    // the lenient library is one version behind the shipped one
    let shipped = RuleLibrary::parse(BUILT_IN).unwrap().library_version;
    let lenient = BUILT_IN
        .replace(
            "warning = { basic = 15, gold = 15, platinum = 20 }\ncritical = 5",
            "warning = 3\ncritical = 1",
        )
        .replace(
            &format!("library_version = {shipped}"),
            &format!("library_version = {}", shipped - 1),
        );
    assert_ne!(lenient, BUILT_IN);
    std::fs::write(&file, &lenient).unwrap();
    let (kafka, gateway, processors) = gateway_and_processors("reload", Some(file.clone())).await;
    put_customer(&gateway.url, "cust-reload", "GOLD", true).await;
    let key = add_installation(&gateway.url, "cust-reload", "inst-reload").await;
    let post_disks = || async {
        let disks = fault_example_beat(Category::HardwareInfoDisks, "inst-reload");
        assert_eq!(
            post_with_key(&gateway.url, Some(&key), &disks)
                .await
                .status(),
            202
        );
    };

    // 5 % free is fine under the lenient file.
    post_disks().await;
    wait_until("the beat evaluated", Duration::from_secs(30), || async {
        metrics_text(&processors.url).await.contains(&format!(
            "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}} 1",
            kafka.beats_topic
        ))
    })
    .await;
    assert!(alerts_of(&kafka, 1, Duration::from_secs(3)).is_empty());

    // An invalid edit is refused and changes nothing.
    std::fs::write(&file, "library_version = 2\n[[rule]]\nid = \"broken\"\n").unwrap();
    wait_until("the refusal", Duration::from_secs(10), || async {
        metrics_text(&processors.url)
            .await
            .contains("processor_rules_reloads_total{outcome=\"refused\"} 1")
    })
    .await;

    // The shipped thresholds and version: the same disk now raises a warning.
    std::fs::write(&file, BUILT_IN).unwrap();
    wait_until(
        "the new library in force",
        Duration::from_secs(10),
        || async {
            metrics_text(&processors.url)
                .await
                .contains(&format!("processor_rules_library_version {shipped}"))
        },
    )
    .await;
    post_disks().await;
    let alerts = alerts_of(&kafka, 1, Duration::from_secs(30));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, "disk_free_low");
    assert_eq!(alerts[0].threshold, 15.0);
    let _ = std::fs::remove_file(&file);
}

/// A busy call centre's morning queue, seen at the same hour on the earlier weekdays, is its
/// normal: no alert; a surge far above that peak at the same hour alerts. Beats carry their
/// event times (within the gateway's 7 days), so the days are replayed in seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_peak_seen_on_earlier_weekdays_gives_no_alert_and_a_surge_does() {
    let (kafka, gateway, processors) = gateway_and_processors("seasonal", None).await;
    put_customer(&gateway.url, "cust-seasonal", "GOLD", true).await;
    let key = add_installation(&gateway.url, "cust-seasonal", "inst-seasonal").await;
    let weekday = |day: i64| (day + 3).rem_euclid(7) < 5; // 1970-01-01 was a Thursday

    // the newest weekday whose morning (to 10:30 UTC) has passed (a beat from the future is
    // refused), and the two weekdays before it
    let now = ucx_common::now_ms();
    let mut days: Vec<i64> = (0..8)
        .map(|back| now.div_euclid(DAY_MS) - back)
        .filter(|&day| weekday(day) && day * DAY_MS + 10 * HOUR_MS + 1_800_000 < now)
        .take(3)
        .collect();
    days.reverse();
    let minute = 60_000;
    // 08:30–10:00 every 5 minutes, `queued(k)` callers, then quiet (3) until 10:30
    let a_morning = |day: i64, queued: &dyn Fn(i64) -> i64| -> Value {
        let beats: Vec<Value> = (0..25)
            .map(|k| {
                let mut beat = example_beat(Category::UcxSuiteAcd, "inst-seasonal");
                beat["sent_at"] = json!(day * DAY_MS + 8 * HOUR_MS + (30 + 5 * k) * minute);
                let calls = if k < 19 { queued(k) } else { 3 };
                beat["data"]["fifo_queued_calls"] = json!(calls);
                beat["data"]["camp_on_queued_calls"] = json!(calls / 5);
                beat
            })
            .collect();
        Value::Array(beats)
    };
    let post = |batch: Value| {
        let (gateway, key) = (gateway.url.clone(), key.clone());
        async move {
            let status = post_with_key(&gateway, Some(&key), &batch).await.status();
            assert_eq!(status, 202);
        }
    };
    let peak = |k: i64| 22 + k % 5; // 22–26 callers
    for &day in &days[..2] {
        post(a_morning(day, &peak)).await;
    }
    post(a_morning(days[2], &peak)).await;
    wait_until(
        "the three mornings judged",
        Duration::from_secs(30),
        || async {
            metrics_text(&processors.url).await.contains(&format!(
                "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}} 75",
                kafka.beats_topic
            ))
        },
    )
    .await;
    let opened_on = |alerts: &[Alert], day: i64| -> Vec<String> {
        alerts
            .iter()
            .filter(|a| a.state == AlertState::Open && a.event_at.div_euclid(DAY_MS) == day)
            .filter(|a| a.rule_id.starts_with("acd_"))
            .map(|a| a.rule_id.clone())
            .collect()
    };
    let alerts = alerts_of(&kafka, 1000, Duration::from_secs(3));
    // the first morning alerts (nothing is known yet); the third is this server's normal
    assert!(
        opened_on(&alerts, days[0]).contains(&"acd_queue_high".to_string()),
        "{alerts:?}"
    );
    assert_eq!(opened_on(&alerts, days[2]), Vec::<String>::new());

    // 45 callers at the same hour, far above the usual 22–26: a surge, alerted
    let mut surge = a_morning(days[2], &|_| 45);
    let surge_beats = surge.as_array_mut().unwrap();
    surge_beats.truncate(2);
    for (k, beat) in surge_beats.iter_mut().enumerate() {
        beat["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
        beat["sent_at"] = json!(days[2] * DAY_MS + 10 * HOUR_MS + (35 + 5 * k as i64) * minute);
    }
    post(surge).await;
    let mut surged = Vec::new();
    for _ in 0..20 {
        surged = opened_on(&alerts_of(&kafka, 1000, Duration::from_secs(2)), days[2]);
        if !surged.is_empty() {
            break;
        }
    }
    assert!(surged.contains(&"acd_queue_high".to_string()), "{surged:?}");
}

/// A disk that sits at its threshold (15 % free on Gold, ± half a point from beat to beat) is one
/// episode: opened once, never resolved and reopened with every good reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stable_disk_at_the_threshold_is_one_episode() {
    let (kafka, gateway, processors) = gateway_and_processors("steady-disk", None).await;
    put_customer(&gateway.url, "cust-steady", "GOLD", true).await;
    let key = add_installation(&gateway.url, "cust-steady", "inst-steady-disk").await;
    let readings = [
        14.7, 15.3, 14.9, 15.4, 14.6, 15.2, 15.1, 14.8, 15.5, 14.9, 15.3, 14.7,
    ];
    for percent in readings {
        let mut disks = example_beat(Category::HardwareInfoDisks, "inst-steady-disk");
        let size = disks["data"]["disks"][1]["size_bytes"].as_i64().unwrap();
        disks["data"]["disks"][1]["free_bytes"] = json!((size as f64 * percent / 100.0) as i64);
        let status = post_with_key(&gateway.url, Some(&key), &disks)
            .await
            .status();
        assert_eq!(status, 202);
    }
    wait_until("the readings judged", Duration::from_secs(30), || async {
        metrics_text(&processors.url).await.contains(&format!(
            "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}} {}",
            kafka.beats_topic,
            readings.len()
        ))
    })
    .await;
    let alerts = alerts_of(&kafka, 1000, Duration::from_secs(3));
    let states: Vec<(String, AlertState)> = alerts
        .iter()
        .filter(|a| a.rule_id == "disk_free_low")
        .map(|a| (a.alert_id.clone(), a.state))
        .collect();
    assert_eq!(states.len(), 1, "one opening, no flapping: {states:?}");
    assert_eq!(states[0].1, AlertState::Open);
}

/// Six servers of one peer group (UCX Suite 2024.Winter, 16 GiB): five use about 40 % of their
/// memory, one 85 % from its first beat on — normal for itself, far above its peers. Only that
/// one gets `memory_above_peers`, with the peers' figures and the group in its summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_far_above_its_peers_is_alerted_with_the_peer_figures() {
    let (kafka, gateway, processors) = gateway_and_processors("peers", None).await;
    put_customer(&gateway.url, "cust-peers", "GOLD", true).await;
    let servers: Vec<String> = (0..6).map(|i| format!("inst-peer-{i}")).collect();
    let mut keys = Vec::new();
    for server in &servers {
        let key = add_installation(&gateway.url, "cust-peers", server).await;
        let info = example_beat(Category::UcxSuiteSuiteInfo, server);
        assert_eq!(
            post_with_key(&gateway.url, Some(&key), &info)
                .await
                .status(),
            202
        );
        keys.push(key);
    }
    let used = |index: usize, round: usize| match index {
        5 => 85.0,
        _ => 38.0 + ((index + round) % 5) as f64, // 38–42 %
    };
    let post_memory = |index: usize, round: usize| {
        let (server, key, gateway) = (&servers[index], &keys[index], &gateway.url);
        async move {
            let mut memory = example_beat(Category::HardwareInfoMemory, server);
            let total = memory["data"]["total_bytes"].as_f64().unwrap();
            let available = total * (100.0 - used(index, round)) / 100.0;
            memory["data"]["available_bytes"] = json!(available as i64);
            assert_eq!(
                post_with_key(gateway, Some(key), &memory).await.status(),
                202
            );
        }
    };
    // the peers first, judged before the odd one (partitions are consumed in any order)
    for round in 0..4 {
        for index in 0..5 {
            post_memory(index, round).await;
        }
    }
    wait_until("the peers judged", Duration::from_secs(30), || async {
        metrics_text(&processors.url).await.contains(&format!(
            "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}} 26",
            kafka.beats_topic
        ))
    })
    .await;
    for round in 0..4 {
        post_memory(5, round).await;
    }
    let alerts = alerts_of(&kafka, 1, Duration::from_secs(30));
    let peers: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule_id == "memory_above_peers")
        .collect();
    assert_eq!(peers.len(), 1, "{alerts:?}");
    let alert = peers[0];
    assert_eq!(alert.installation_id, "inst-peer-5");
    assert_eq!(alert.state, AlertState::Open);
    assert!(
        alert.summary.contains("85% of the memory is in use")
            && alert
                .summary
                .contains("servers like this one (5 of them use 4")
            && alert
                .summary
                .contains("peer group: UCX Suite 2024.Winter, 16 GiB class"),
        "{}",
        alert.summary
    );
    // and nobody else: a peer's later alert would be on the topic by now
    let later = alerts_of(&kafka, 1000, Duration::from_secs(3));
    assert!(
        later.iter().all(|a| a.installation_id == "inst-peer-5"),
        "{later:?}"
    );
}
