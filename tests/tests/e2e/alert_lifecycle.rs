//! The alert lifecycle through the admin API on the real broker and ClickHouse: an open alert is
//! reminded after the tier's interval until support acknowledges it, then resolves; a maintenance
//! window opens nothing until it is ended; a silence records the alert for support but withholds
//! the customer notification; what changed on a server lands in `installation_changes`; bad
//! silence requests get a 4xx with a reason.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use ucx_common::config::KafkaSettings;
use ucx_e2e::{
    add_installation, admin, example_beat, post_with_key, put_customer, query, read_topic,
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
        config.processors.checkpoint_interval_ms = 200;
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
    let silence = |body: Value| {
        admin(
            &gateway.url,
            Method::PUT,
            "/v1/admin/silences/s-bad",
            Some(body),
        )
    };
    let (status, body) = silence(json!({"customer_id": customer, "duration_minutes": 10,
                                        "comment": "", "created_by": "anna"}))
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("comment"),
        "{body}"
    );
    let (status, body) = silence(
        json!({"customer_id": customer, "comment": "c", "created_by": "a",
                                        "starts_at": "2026-11-24T10:00:00Z",
                                        "ends_at": "2026-11-24T09:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    let (status, body) = silence(json!({"customer_id": "nobody", "duration_minutes": 10,
                                        "comment": "c", "created_by": "a"}))
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("unknown_customer")),
        "{body}"
    );
    let (status, body) = admin(
        &gateway.url,
        Method::POST,
        "/v1/admin/alerts/not-an-alert/acknowledge",
        Some(json!({"by": "anna"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // A maintenance window for one server, a silence of disk alerts for another.
    let (status, body) = admin(
        &gateway.url,
        Method::PUT,
        "/v1/admin/silences/mw-1",
        Some(json!({"kind": "maintenance", "customer_id": customer,
                    "installation_id": "inst-maintained", "duration_minutes": 60,
                    "comment": "replacing disks", "created_by": "anna"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["active"], json!(true));
    let (status, body) = admin(
        &gateway.url,
        Method::PUT,
        "/v1/admin/silences/quiet-1",
        Some(
            json!({"customer_id": customer, "installation_id": "inst-silenced",
                    "rule_id": "disk_free_low", "duration_minutes": 60,
                    "comment": "known, customer informed by phone", "created_by": "anna"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");

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
    let (status, body) = admin(
        &gateway.url,
        Method::POST,
        &format!("/v1/admin/alerts/{alert_id}/acknowledge"),
        Some(json!({"by": "anna", "comment": "ordering a disk"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
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
    let (status, body) = admin(
        &gateway.url,
        Method::DELETE,
        "/v1/admin/silences/mw-1",
        None,
    )
    .await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
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

    let (_, listed) = admin(&gateway.url, Method::GET, "/v1/admin/silences", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

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
        if alerts.lines().count() == 8 && changes.lines().count() == 1 {
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
    assert_eq!(stored.matches("\tREMINDER\t").count(), 3, "{stored}");
    assert!(
        stored.contains("inst-reminded\tSUITE_UPGRADED\t2024.Winter.1\t2025.Spring.1"),
        "{stored}"
    );
}
