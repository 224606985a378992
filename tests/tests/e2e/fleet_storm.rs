//! The fleet guard on the whole pipeline (gateway, processors, sinks, notifier) with the real
//! broker, ClickHouse and SMTP server: a rule opening on one server alone is mailed once its
//! settle time is over; the same rule tripping on 40 % of a fleet of ten Gold customers at once
//! is one fleet incident listing them (registry, admin API and the `fleet_incidents` table) and
//! no customer mail until support releases it; then every held mail goes out once. A fleet-wide
//! silence of the rule withholds the next server's mail (SILENCED in the ledger).

use std::time::{Duration, Instant};

use serde_json::json;
use ucx_admin_api::{FleetReleaseInput, FleetSilenceInput};
use ucx_e2e::{
    admin_client, example_beat, post_with_key, query, start_notifier, start_pipeline, wait_until,
    OwnSmtp, Pipeline, Services,
};
use ucx_schemas::{Category, FleetIncidentState};

const FLEET: usize = 10;
const SETTLE: Duration = Duration::from_secs(12);

fn installation(index: usize) -> String {
    format!("inst-fleet-{index}")
}

fn contact(index: usize) -> String {
    format!("ops@fleet-{index}.example")
}

/// Ten Gold customers with one installation and one WARNING contact each; returns the keys.
async fn register_fleet(pipeline: &Pipeline) -> Vec<String> {
    let client = admin_client(&pipeline.gateway.url);
    let mut keys = Vec::new();
    for index in 0..FLEET {
        let customer = format!("cust-fleet-{index}");
        let input = ucx_admin_api::CustomerInput {
            name: format!("Fleet {index}"),
            region: ucx_schemas::Region::EU,
            contract_tier: ucx_schemas::ContractTier::Gold,
            care_end_date: None,
            alert_contacts: vec![ucx_schemas::AlertContact {
                email: contact(index),
                min_severity: ucx_schemas::Severity::Warning,
            }],
            telemetry_enabled: None,
        };
        client.put_customer(&customer, &input).await.unwrap();
        let added = client
            .add_installation(
                &customer,
                &ucx_admin_api::InstallationInput {
                    installation_id: installation(index),
                    licensed_users: None,
                    licensed_devices: None,
                },
            )
            .await
            .unwrap();
        keys.push(added.key);
    }
    keys
}

/// A disks beat of `index`: drive D: at 5 % free trips `disk_free_low` (WARNING), at 60 % not.
async fn post_disks(pipeline: &Pipeline, keys: &[String], index: usize, full: bool) {
    let mut beat = example_beat(Category::HardwareInfoDisks, &installation(index));
    let free = if full {
        10_737_418_240_i64
    } else {
        128_849_018_880
    };
    beat["data"]["disks"][1]["free_bytes"] = json!(free);
    let response = post_with_key(&pipeline.gateway.url, Some(&keys[index]), &beat).await;
    assert_eq!(response.status(), 202);
}

fn mails_to(smtp: &OwnSmtp, index: usize) -> usize {
    smtp.received()
        .iter()
        .filter(|mail| mail.recipients.contains(&contact(index)))
        .count()
}

async fn ledger_status(pipeline: &Pipeline, index: usize) -> String {
    query(
        &pipeline.clickhouse,
        &format!(
            "SELECT groupArray(status) FROM (SELECT status FROM notifications FINAL \
             WHERE installation_id = '{}' AND rule_id = 'disk_free_low')",
            installation(index)
        ),
    )
    .await
    .unwrap()
    .trim()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rule_tripping_across_the_fleet_is_one_incident_and_no_mail_until_released() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "fleet_storm").await;
    let keys = register_fleet(&pipeline).await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = pipeline.notifier_config(&smtp);
    config.notifier.fleet_settle_s = SETTLE.as_secs();
    config.notifier.fleet_share = 0.3;
    config.notifier.fleet_min_installations = 3;
    let _notifier = start_notifier(config).await;
    // every server tells its version (the guard's census) and has room on its disks
    for index in 0..FLEET {
        let suite = example_beat(Category::UcxSuiteSuiteInfo, &installation(index));
        let response = post_with_key(&pipeline.gateway.url, Some(&keys[index]), &suite).await;
        assert_eq!(response.status(), 202);
        post_disks(&pipeline, &keys, index, false).await;
    }

    // one server alone: mailed, but only once its settle time is over
    let alone = Instant::now();
    post_disks(&pipeline, &keys, 9, true).await;
    wait_until("the lone server's mail", Duration::from_secs(60), || {
        std::future::ready(mails_to(&smtp, 9) == 1)
    })
    .await;
    let waited = alone.elapsed();
    assert!(
        waited >= SETTLE - Duration::from_secs(1),
        "mailed after {waited:?}, before the settle time of {SETTLE:?}"
    );

    // the same rule on two more servers: 3 of 10 within the window raise the incident …
    let storm = Instant::now();
    for index in 0..2 {
        post_disks(&pipeline, &keys, index, true).await;
    }
    let admin = admin_client(&pipeline.gateway.url);
    wait_until(
        "the fleet incident of three",
        Duration::from_secs(60),
        || {
            let admin = admin.clone();
            async move {
                let incidents = admin.fleet_incidents().await.unwrap();
                incidents.len() == 1 && incidents[0].incident.installations.len() == 3
            }
        },
    )
    .await;
    // … and a third server's mail is held by the incident itself (not by its settle time): it
    // too goes out once support releases the incident, not when the incident's hold runs out
    post_disks(&pipeline, &keys, 2, true).await;
    let mut incident = None;
    wait_until("one fleet incident", Duration::from_secs(60), || {
        let admin = admin.clone();
        async move {
            let incidents = admin.fleet_incidents().await.unwrap();
            incidents.len() == 1 && incidents[0].incident.installations.len() == 4
        }
    })
    .await;
    let incidents = admin.fleet_incidents().await.unwrap();
    if let [only] = incidents.as_slice() {
        incident = Some(only.clone());
    }
    let incident = incident.expect("one incident");
    assert_eq!(incident.incident.incident_id, "disk_free_low@all-versions");
    assert_eq!(incident.incident.state, FleetIncidentState::Held);
    assert_eq!(incident.incident.fleet_size, FLEET as i32);
    assert!(incident.in_force);
    for index in [0, 1, 2, 9] {
        assert!(
            incident
                .incident
                .installations
                .contains(&installation(index)),
            "{:?}",
            incident.incident.installations
        );
    }
    wait_until(
        "the incident in the fleet_incidents table",
        Duration::from_secs(30),
        || async {
            query(
                &pipeline.clickhouse,
                "SELECT installation_count, state FROM fleet_incidents FINAL",
            )
            .await
            .is_ok_and(|rows| rows.trim() == "4\tHELD")
        },
    )
    .await;
    // past the settle time: still no mail to the three, their notifications HELD
    let settled = SETTLE + Duration::from_secs(4);
    if let Some(rest) = settled.checked_sub(storm.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    for index in 0..3 {
        assert_eq!(
            mails_to(&smtp, index),
            0,
            "server {index} mailed while held"
        );
        assert_eq!(ledger_status(&pipeline, index).await, "['HELD']");
    }
    assert_eq!(smtp.received().len(), 1, "only the lone server's mail");

    // support confirms: each held mail goes out, once
    let released = admin
        .release_fleet_incident(
            &incident.incident.incident_id,
            &FleetReleaseInput {
                by: "support@ucx.example".into(),
                comment: "real: the disks are full".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(released.incident.state, FleetIncidentState::Released);
    assert!(!released.in_force);
    wait_until("the held mails", Duration::from_secs(30), || {
        std::future::ready((0..3).all(|index| mails_to(&smtp, index) == 1))
    })
    .await;
    wait_until(
        "the released notifications SENT",
        Duration::from_secs(10),
        || async {
            for index in 0..3 {
                if ledger_status(&pipeline, index).await != "['SENT']" {
                    return false;
                }
            }
            true
        },
    )
    .await;

    // a fleet-wide silence of the rule: the next server's alert mails nobody
    let silenced = admin
        .fleet_silence(&FleetSilenceInput {
            rule_id: "disk_free_low".into(),
            ucx_version: None,
            ends_at: None,
            duration_minutes: Some(60),
            comment: "a monitoring agent fills D: fleet-wide; fix under way".into(),
            created_by: "support@ucx.example".into(),
        })
        .await
        .unwrap();
    assert!(
        !silenced.created,
        "it replaces the released incident of that rule"
    );
    assert_eq!(silenced.value.incident.state, FleetIncidentState::Silenced);
    post_disks(&pipeline, &keys, 5, true).await;
    wait_until(
        "the silenced notification in the ledger",
        Duration::from_secs(40),
        || async { ledger_status(&pipeline, 5).await == "['SILENCED']" },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(mails_to(&smtp, 5), 0);
    // every mail went out once: the lone server's and the three released
    assert_eq!(smtp.received().len(), 4);

    // refusals say what to do
    let url = &pipeline.gateway.url;
    let (status, answer) = ucx_e2e::admin(
        url,
        reqwest::Method::POST,
        &ucx_admin_api::paths::with_id(
            ucx_admin_api::paths::FLEET_INCIDENT_RELEASE,
            "nothing@all-versions",
        ),
        Some(json!({"by": "anna"})),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("unknown_fleet_incident"))
    );
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("GET /v1/admin/fleet-incidents"));
    for (body, complaint) in [
        (
            json!({"rule_id": "r", "duration_minutes": 5, "comment": "", "created_by": "a"}),
            "why and who",
        ),
        (
            json!({"rule_id": "r", "comment": "c", "created_by": "a"}),
            "ends_at (RFC 3339) or duration_minutes",
        ),
        (
            json!({"rule_id": "r", "duration_minutes": 200000, "comment": "c", "created_by": "a"}),
            "at most 90 days",
        ),
        (
            json!({"rule_id": "bad rule", "duration_minutes": 5, "comment": "c", "created_by": "a"}),
            "rule_id",
        ),
    ] {
        let (status, answer) = ucx_e2e::admin(
            url,
            reqwest::Method::POST,
            ucx_admin_api::paths::FLEET_SILENCES,
            Some(body),
        )
        .await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(complaint),
            "{answer}"
        );
    }
}
