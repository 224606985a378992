//! The advisory catalogue against live processors: a new advisory lists every affected
//! installation within seconds of the file's change, without waiting for their next inventory
//! beat, and none that is not affected; upgrading one resolves its alert; withdrawing the
//! advisory resolves the rest.

use std::time::{Duration, Instant};

use ucx_e2e::{
    add_installation, alerts_on, example_beat, metric_sum, post_with_key, put_customer,
    start_gateway, start_processors, unique, wait_until, Services,
};
use ucx_schemas::{Alert, AlertState, Category, Severity};

const RULE: &str = "advisory:winter-1-queue-stall";

fn catalogue(version: u32, advisory: bool) -> String {
    let mut text = format!("catalogue_version = {version}\n");
    if advisory {
        text.push_str(
            r#"
[[advisory]]
id = "winter-1-queue-stall"
version = 1
severity = "WARNING"
title = "ACD queues can stall after a database failover"
explanation = "Calls stay queued after the SQL Server instance fails over."
remedy = "Upgrade to UCX Suite 2024.Winter.2."
suite_version = { from = "2024.Winter.1", below = "2024.Winter.2" }
"#,
        );
    }
    text
}

fn advisory_alerts(kafka: &ucx_common::config::KafkaSettings) -> Vec<Alert> {
    alerts_on(kafka, Duration::from_secs(1))
        .into_iter()
        .filter(|alert| alert.rule_id == RULE)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_advisory_alerts_every_affected_installation_at_once_and_only_those() {
    let kafka = Services::from_env().kafka("advisories");
    let file = std::env::temp_dir().join(format!("{}.toml", unique("advisories")));
    std::fs::write(&file, catalogue(1, false)).unwrap();
    let mut config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.processors.group_id = unique("advisories");
    config.processors.advisories_file = Some(file.clone());
    config.processors.rules_reload_interval_ms = Duration::from_millis(200);
    config.processors.checkpoint_interval_ms = Duration::from_millis(200);
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    let processors = start_processors(config).await;
    put_customer(&gateway.url, "cust-advisories", "GOLD", true).await;
    let mut keys = Vec::new();
    for (installation, release) in [
        ("inst-winter-1a", "2024.Winter.1"),
        ("inst-winter-1b", "2024.Winter.1"),
        ("inst-spring", "2025.Spring.1"),
    ] {
        let key = add_installation(&gateway.url, "cust-advisories", installation).await;
        let mut suite = example_beat(Category::UcxSuiteSuiteInfo, installation);
        suite["data"]["version"] = release.into();
        assert_eq!(
            post_with_key(&gateway.url, Some(&key), &suite)
                .await
                .status(),
            202
        );
        keys.push((installation, key));
    }
    let received = format!(
        "ucx_records_received_total{{stage=\"processors\",topic=\"{}\"}}",
        kafka.beats_topic
    );
    wait_until(
        "the three inventories judged",
        Duration::from_secs(40),
        || async { metric_sum(&processors.url, &received).await >= 3.0 },
    )
    .await;
    assert!(advisory_alerts(&kafka).is_empty(), "no advisory yet");

    // The advisory is published: both servers on 2024.Winter.1, and only they, at once.
    let published = Instant::now();
    std::fs::write(&file, catalogue(2, true)).unwrap();
    wait_until(
        "both affected installations alerted",
        Duration::from_secs(30),
        || std::future::ready(advisory_alerts(&kafka).len() >= 2),
    )
    .await;
    let listed = published.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alerts = advisory_alerts(&kafka);
    let mut affected: Vec<&str> = alerts.iter().map(|a| a.installation_id.as_str()).collect();
    affected.sort();
    assert_eq!(
        affected,
        ["inst-winter-1a", "inst-winter-1b"],
        "{alerts:#?}"
    );
    for alert in &alerts {
        assert_eq!(alert.state, AlertState::Open);
        assert_eq!(alert.severity, Severity::Warning);
        assert_eq!(alert.contract_tier, "GOLD");
        assert!(alert.notify_customer, "routed like any Gold alert");
        assert!(
            alert.summary.contains("UCX Suite 2024.Winter.1"),
            "{}",
            alert.summary
        );
        assert!(
            alert.explanation.contains("Remedy: Upgrade"),
            "{}",
            alert.explanation
        );
    }
    eprintln!("advisory listed its 2 installations {listed:?} after the catalogue changed");
    assert!(listed < Duration::from_secs(10), "{listed:?}");

    // One is upgraded: its alert resolves, the other's stays open.
    let (installation, key) = &keys[0];
    let mut upgraded = example_beat(Category::UcxSuiteSuiteInfo, installation);
    upgraded["data"]["version"] = "2024.Winter.2".into();
    assert_eq!(
        post_with_key(&gateway.url, Some(key), &upgraded)
            .await
            .status(),
        202
    );
    wait_until(
        "the upgraded server's alert resolved",
        Duration::from_secs(30),
        || {
            std::future::ready(advisory_alerts(&kafka).iter().any(|alert| {
                alert.installation_id == *installation
                    && alert.state == AlertState::Resolved
                    && alert.resolution == "cleared"
            }))
        },
    )
    .await;
    assert!(!advisory_alerts(&kafka)
        .iter()
        .any(|alert| alert.installation_id == "inst-winter-1b"
            && alert.state == AlertState::Resolved));

    // The advisory is withdrawn: the remaining alert resolves.
    std::fs::write(&file, catalogue(3, false)).unwrap();
    wait_until(
        "the withdrawn advisory's alert resolved",
        Duration::from_secs(30),
        || {
            std::future::ready(advisory_alerts(&kafka).iter().any(|alert| {
                alert.installation_id == "inst-winter-1b"
                    && alert.state == AlertState::Resolved
                    && alert.resolution == "rule_retired"
            }))
        },
    )
    .await;
    let _ = std::fs::remove_file(&file);
}
