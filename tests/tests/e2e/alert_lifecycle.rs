//! The alert lifecycle through the admin API on the real broker and ClickHouse: an open alert is
//! reminded after the tier's interval until support acknowledges it, then resolves; a maintenance
//! window opens nothing until it is ended; a silence records the alert for support but withholds
//! the customer notification; what changed on a server lands in `installation_changes`; bad
//! silence requests get a 4xx with a reason.

use std::time::Duration;

use serde_json::{json, Value};
use ucx_admin_api::{AcknowledgementInput, SilenceInput, SilenceKindInput};
use ucx_common::config::KafkaSettings;
use ucx_e2e::{
    add_installation, admin_client, example_beat, post_with_key, put_customer, query, read_topic,
    start_pipeline_with, wait_until, Services, Stage,
};
use ucx_schemas::{decode_alert, Alert, AlertState, Category};

/// A disks beat whose only disk, C:, has `free_percent` free.
fn disk_beat(installation: &str, free_percent: i64) -> Value {
    let mut beat = example_beat(Category::HardwareInfoDisks, installation);
    let size: i64 = 100 << 30;
    beat["data"]["disks"] = json!([{ "name": "C:", "model": "m", "size_bytes": size,
                                     "free_bytes": free_percent * size / 100 }]);
    beat["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
    beat["sent_at"] = json!(ucx_common::now_ms());
    beat
}

async fn post(gateway: &Stage, key: &str, beat: &Value) {
    let response = post_with_key(&gateway.url, Some(key), beat).await;
    assert_eq!(response.status(), 202);
}

/// The disk alerts of `installation` so far, in order (what the topic holds after reading it
/// from the start for `timeout`: long enough for this test's few hundred records).
fn disk_alerts(kafka: &KafkaSettings, installation: &str, timeout: Duration) -> Vec<Alert> {
    read_topic(&kafka.brokers, &kafka.alerts_topic, usize::MAX, timeout)
        .iter()
        .map(|record| decode_alert(rdkafka::Message::payload(record).unwrap()).unwrap())
        .filter(|alert| alert.installation_id == installation && alert.rule_id == "disk_free_low")
        .collect()
}

fn states(alerts: &[Alert]) -> Vec<AlertState> {
    alerts.iter().map(|alert| alert.state).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_acknowledgements_silences_and_maintenance_windows() {
    let pipeline = start_pipeline_with(&Services::from_env(), "lifecycle", |config| {
        config.processors.checkpoint_interval_ms = Duration::from_millis(200);
        config.processors.reminder_interval_s.gold = 1;
    })
    .await;
    let (kafka, clickhouse, gateway) = (&pipeline.kafka, &pipeline.clickhouse, &pipeline.gateway);
    let customer = "cust-life";
    put_customer(&gateway.url, customer, "GOLD", true).await;
    let reminded = add_installation(&gateway.url, customer, "inst-reminded").await;
    let maintained = add_installation(&gateway.url, customer, "inst-maintained").await;
    let silenced = add_installation(&gateway.url, customer, "inst-silenced").await;

    // Refusals say what is wrong.
    let client = admin_client(&gateway.url);
    let input = |customer_id: &str| SilenceInput {
        kind: None,
        customer_id: customer_id.to_string(),
        installation_id: None,
        rule_id: None,
        starts_at: None,
        ends_at: None,
        duration_minutes: Some(10),
        comment: "c".into(),
        created_by: "anna".into(),
    };
    let refusal = client
        .put_silence(
            "s-bad",
            &SilenceInput {
                comment: String::new(),
                ..input(customer)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refusal.status().map(|s| s.as_u16()), Some(422), "{refusal}");
    assert!(refusal.to_string().contains("comment"), "{refusal}");
    let backwards = SilenceInput {
        starts_at: Some("2026-11-24T10:00:00Z".into()),
        ends_at: Some("2026-11-24T09:00:00Z".into()),
        duration_minutes: None,
        ..input(customer)
    };
    let refusal = client.put_silence("s-bad", &backwards).await.unwrap_err();
    assert_eq!(refusal.code(), Some("invalid"), "{refusal}");
    let refusal = client
        .put_silence("s-bad", &input("nobody"))
        .await
        .unwrap_err();
    assert_eq!(
        (refusal.status().map(|s| s.as_u16()), refusal.code()),
        (Some(404), Some("unknown_customer")),
        "{refusal}"
    );
    let ack = |by: &str, comment: &str| AcknowledgementInput {
        by: by.into(),
        comment: comment.into(),
    };
    let refusal = client
        .acknowledge("not-an-alert", &ack("anna", ""))
        .await
        .unwrap_err();
    assert_eq!(refusal.status().map(|s| s.as_u16()), Some(422), "{refusal}");

    // A maintenance window for one server, a silence of disk alerts for another.
    let window = SilenceInput {
        kind: Some(SilenceKindInput::Maintenance),
        installation_id: Some("inst-maintained".into()),
        duration_minutes: Some(60),
        comment: "replacing disks".into(),
        ..input(customer)
    };
    let declared = client.put_silence("mw-1", &window).await.unwrap();
    assert!(declared.created && declared.value.active, "{declared:?}");
    let quiet = SilenceInput {
        installation_id: Some("inst-silenced".into()),
        rule_id: Some("disk_free_low".into()),
        duration_minutes: Some(60),
        comment: "known, customer informed by phone".into(),
        ..input(customer)
    };
    let declared = client.put_silence("quiet-1", &quiet).await.unwrap();
    assert!(declared.created, "{declared:?}");

    // Open, then reminded every second of event time while still bad.
    for (installation, key) in [
        ("inst-reminded", &reminded),
        ("inst-maintained", &maintained),
        ("inst-silenced", &silenced),
    ] {
        post(gateway, key, &disk_beat(installation, 10)).await;
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        post(gateway, &reminded, &disk_beat("inst-reminded", 10)).await;
    }
    let mut alerts = Vec::new();
    wait_until("an opening and reminders", Duration::from_secs(60), || {
        alerts = disk_alerts(kafka, "inst-reminded", Duration::from_secs(3));
        std::future::ready(alerts.len() >= 4)
    })
    .await;
    assert_eq!(
        states(&alerts),
        [
            AlertState::Open,
            AlertState::Reminder,
            AlertState::Reminder,
            AlertState::Reminder
        ]
    );
    let alert_id = alerts[0].alert_id.clone();
    assert!(alerts
        .iter()
        .all(|a| a.alert_id == alert_id && a.reaches_customer()));

    // Acknowledged: recorded once, no more reminders, and it still resolves.
    client
        .acknowledge(&alert_id, &ack("anna", "ordering a disk"))
        .await
        .unwrap();
    wait_until(
        "the acknowledgement recorded",
        Duration::from_secs(30),
        || {
            alerts = disk_alerts(kafka, "inst-reminded", Duration::from_secs(3));
            std::future::ready(alerts.len() >= 5)
        },
    )
    .await;
    assert_eq!(alerts[4].state, AlertState::Acknowledged);
    assert_eq!(alerts[4].acknowledged_by, "anna");
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        post(gateway, &reminded, &disk_beat("inst-reminded", 10)).await;
    }
    post(gateway, &reminded, &disk_beat("inst-reminded", 60)).await;
    wait_until("the resolution", Duration::from_secs(30), || {
        alerts = disk_alerts(kafka, "inst-reminded", Duration::from_secs(3));
        std::future::ready(alerts.len() >= 6)
    })
    .await;
    assert_eq!(alerts[5].state, AlertState::Resolved, "{alerts:#?}");
    assert_eq!(
        alerts.len(),
        6,
        "no reminder after the acknowledgement: {alerts:#?}"
    );

    // The silenced server's alert is recorded for support, withheld from the customer.
    let quiet = disk_alerts(kafka, "inst-silenced", Duration::from_secs(3));
    assert_eq!(states(&quiet), [AlertState::Open]);
    assert_eq!(quiet[0].suppressed_by, "silence:quiet-1");
    assert!(quiet[0].notify_customer && !quiet[0].reaches_customer());

    // Nothing opened in maintenance; ended, the next bad beat opens the alert.
    assert!(disk_alerts(kafka, "inst-maintained", Duration::from_secs(3)).is_empty());
    let ended = client.end_silence("mw-1").await.unwrap();
    assert!(!ended.active, "{ended:?}");
    // (the processors apply the ended window when their registry view reads it, a fetch away
    // like the beats: the server goes on sending, as servers do)
    let mut after = Vec::new();
    wait_until(
        "the alert after the window",
        Duration::from_secs(30),
        || {
            let (gateway, maintained) = (&gateway, &maintained);
            after = disk_alerts(kafka, "inst-maintained", Duration::from_secs(3));
            let opened = !after.is_empty();
            async move {
                if !opened {
                    post(gateway, maintained, &disk_beat("inst-maintained", 10)).await;
                }
                opened
            }
        },
    )
    .await;
    assert_eq!(states(&after), [AlertState::Open]);
    assert!(after[0].reaches_customer());

    // What changed on a server lands in ClickHouse.
    let mut suite = example_beat(Category::UcxSuiteSuiteInfo, "inst-reminded");
    post(gateway, &reminded, &suite).await;
    suite["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
    suite["data"]["version"] = json!("2025.Spring.1");
    post(gateway, &reminded, &suite).await;

    let listed = client.silences().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");

    // The sinks stored every state change with its new columns, and the change.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let alerts = query(
            clickhouse,
            "SELECT installation_id, state, suppressed_by, acknowledged_by FROM alerts FINAL \
             WHERE rule_id = 'disk_free_low' ORDER BY installation_id, raised_at, state \
             FORMAT TSV",
        )
        .await
        .unwrap_or_default();
        let changes = query(
            clickhouse,
            "SELECT installation_id, kind, before, after FROM installation_changes FINAL \
             FORMAT TSV",
        )
        .await
        .unwrap_or_default();
        let stored = format!("{alerts}--\n{changes}");
        // (reminders come with event time, so the open alert left after the window is
        // reminded too; how often depends on how long the test runs)
        let expected = [
            "inst-reminded\tRESOLVED",
            "inst-maintained\tOPEN\t\t",
            "inst-silenced\tOPEN\tsilence:quiet-1\t",
            "inst-reminded\tACKNOWLEDGED\t\tanna",
        ];
        if expected.iter().all(|row| alerts.contains(row)) && changes.lines().count() == 1 {
            break stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all stored: {stored}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        stored.contains("inst-silenced\tOPEN\tsilence:quiet-1\t"),
        "{stored}"
    );
    assert!(
        stored.contains("inst-reminded\tACKNOWLEDGED\t\tanna"),
        "{stored}"
    );
    assert_eq!(
        stored.matches("inst-reminded\tREMINDER\t").count(),
        3,
        "reminded three times, then acknowledged: {stored}"
    );
    assert!(
        stored.contains("inst-reminded\tSUITE_UPGRADED\t2024.Winter.1\t2025.Spring.1"),
        "{stored}"
    );
}
