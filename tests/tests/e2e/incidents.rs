//! Correlation on the whole pipeline with the real broker, ClickHouse and SMTP server: a Gold
//! server whose disk D: runs full and whose Express database nears its 10 GB limit at once
//! (rules of the `storage` group) gets one incident: the alerts share its `incident_id`, the
//! alerts dashboard's incident panel shows them as one row with both findings as evidence, and
//! the contact gets one mail listing both instead of two. A finding of a rule of no group on the
//! same server is an incident, and a mail, of its own.

use std::time::Duration;

use serde_json::json;
use ucx_e2e::{
    add_installation, example_beat, fault_example_beat, post_with_key, put_customer_mailing, query,
    start_notifier, start_pipeline, wait_until, OwnSmtp, Services,
};
use ucx_schemas::Category;

const INSTALLATION: &str = "inst-incident";
const CONTACT: &str = "ops@incident.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn related_findings_on_one_server_are_one_incident_and_one_mail() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "incidents").await;
    put_customer_mailing(
        &pipeline.gateway.url,
        "cust-incident",
        "GOLD",
        CONTACT,
        true,
    )
    .await;
    let key = add_installation(&pipeline.gateway.url, "cust-incident", INSTALLATION).await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = pipeline.notifier_config(&smtp);
    // findings raised within the settle time of the first go out together
    config.notifier.fleet_settle_s = 8;
    let _notifier = start_notifier(config).await;

    let post = |beat: serde_json::Value| {
        let gateway = pipeline.gateway.url.clone();
        let key = key.clone();
        async move {
            let response = post_with_key(&gateway, Some(&key), &beat).await;
            assert_eq!(response.status(), 202);
        }
    };
    // SQL Server Express: the database's size counts against 10 GB
    post(example_beat(Category::UcxSuiteDatabaseServer, INSTALLATION)).await;
    // D: at 5 % free (disk_free_low), the database at 90 % of the limit
    // (database_near_edition_limit): one storage incident
    post(fault_example_beat(
        Category::HardwareInfoDisks,
        INSTALLATION,
    ))
    .await;
    let mut database = example_beat(Category::UcxSuiteDatabase, INSTALLATION);
    database["data"]["size_bytes"] = json!(9_663_676_416_i64);
    database["data"]["last_maintenance_at"] = json!(ucx_common::now_ms());
    post(database).await;
    // the private firewall profile off: a rule of no group, an incident of its own
    post(fault_example_beat(
        Category::SoftwareInfoWindowsFirewall,
        INSTALLATION,
    ))
    .await;

    let opened = || async {
        query(
            &pipeline.clickhouse,
            "SELECT rule_id, incident_id = alert_id FROM alerts FINAL WHERE state = 'OPEN' \
             ORDER BY rule_id FORMAT TSV",
        )
        .await
        .unwrap_or_default()
    };
    wait_until(
        "the three alerts stored",
        Duration::from_secs(60),
        || async { opened().await.lines().count() == 3 },
    )
    .await;
    let incidents = query(
        &pipeline.clickhouse,
        "SELECT groupArray(rule_id) FROM (SELECT incident_id, rule_id FROM alerts FINAL \
         WHERE state = 'OPEN' ORDER BY rule_id) GROUP BY incident_id ORDER BY count() DESC",
    )
    .await
    .unwrap();
    assert_eq!(
        incidents.trim(),
        "['database_near_edition_limit','disk_free_low']\n['firewall_disabled']",
        "{}",
        opened().await
    );

    // the dashboard's incident panel: one row with two findings, one with one
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../../dashboards/alerts.json")).unwrap();
    let panel_sql = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|panel| panel["title"] == "Open incidents (related findings grouped)")
        .expect("the incident panel")["targets"][0]["rawSql"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = query(&pipeline.clickhouse, &panel_sql).await.unwrap();
    let findings: Vec<&str> = rows
        .lines()
        .map(|row| row.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(findings, ["2", "1"], "{rows}");
    assert!(
        rows.contains("disk D:") && rows.contains("ApolloDb"),
        "{rows}"
    );

    // one mail for the storage incident, listing both findings; one for the firewall
    wait_until("two mails", Duration::from_secs(40), || {
        std::future::ready(smtp.received().len() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = smtp.received();
    assert_eq!(mails.len(), 2, "one mail per incident");
    let storage = mails
        .iter()
        .find(|mail| mail.body.contains("disk D:"))
        .expect("the storage incident's mail");
    assert!(storage.body.contains("ApolloDb"), "{}", storage.body);
    assert!(
        storage
            .header("Subject")
            .is_some_and(|subject| subject.contains("2 related findings")),
        "{:?}",
        storage.header("Subject")
    );
    assert!(mails.iter().all(|mail| mail.recipients == [CONTACT]));
    let statuses = query(
        &pipeline.clickhouse,
        "SELECT groupArray(status) FROM (SELECT status FROM notifications FINAL ORDER BY rule_id)",
    )
    .await
    .unwrap();
    assert_eq!(statuses.trim(), "['SENT','SENT','SENT']");
}
