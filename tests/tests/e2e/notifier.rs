//! The notifier against a real SMTP server (aiosmtpd on loopback), the real broker and
//! ClickHouse: a Gold customer's alert mails each contact once (a mail each) with the evidence,
//! a Basic customer's or a silenced one mails nobody, a refusal (5xx) is recorded with its
//! reason and does not stop the other contacts, a crash after sending and before committing
//! sends nothing again, a mail server that is down delays the mail and then delivers it, a
//! mailbox answering 4xx holds up nobody else and gets its mail once it recovers, storm control
//! sums up what exceeds the limit (a CRITICAL goes out all the same), the daily digest arrives
//! with each contact's severities, and mail goes over STARTTLS or implicit TLS with SMTP AUTH.

use std::time::Duration;

use rdkafka::message::OwnedHeaders;
use serde_json::json;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};
use ucx_e2e::{
    metrics_text, query, start_gateway, start_notifier, unique, wait_until, OwnSmtp, Services,
    Stage,
};
use ucx_notifier::NotifierConfig;
use ucx_schemas::{encode_alert, Alert, AlertState, Region, Severity};

struct Setup {
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    _gateway: Stage,
    producer: ucx_common::kafka::Producer,
}

/// A gateway to register customers through, and the topics and database of `test`.
async fn setup(test: &str) -> Setup {
    let services = Services::from_env();
    let kafka = services.kafka(test);
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;
    for (customer, tier, contacts) in [
        (
            "cust-gold",
            "GOLD",
            json!([{"email": "ops@gold.example", "min_severity": "WARNING"},
                   {"email": "cio@gold.example", "min_severity": "CRITICAL"}]),
        ),
        (
            "cust-basic",
            "BASIC",
            json!([{"email": "it@basic.example", "min_severity": "INFO"}]),
        ),
        (
            "cust-bounce",
            "PLATINUM",
            json!([{"email": "bounce@platinum.example", "min_severity": "INFO"}]),
        ),
        (
            "cust-three",
            "GOLD",
            json!([{"email": "a@three.example", "min_severity": "WARNING"},
                   {"email": "bounce@three.example", "min_severity": "WARNING"},
                   {"email": "c@three.example", "min_severity": "WARNING"}]),
        ),
        (
            "cust-busy",
            "GOLD",
            json!([{"email": "busy@busy.example", "min_severity": "WARNING"}]),
        ),
        (
            "cust-digest",
            "PLATINUM",
            json!([{"email": "ops@digest.example", "min_severity": "WARNING"},
                   {"email": "cio@digest.example", "min_severity": "CRITICAL"}]),
        ),
    ] {
        let input = ucx_admin_api::CustomerInput {
            name: customer.to_string(),
            region: ucx_schemas::Region::EU,
            contract_tier: serde_json::from_value(json!(tier)).unwrap(),
            care_end_date: None,
            alert_contacts: serde_json::from_value(contacts).unwrap(),
            telemetry_enabled: None,
        };
        let stored = ucx_e2e::admin_client(&gateway.url)
            .put_customer(customer, &input)
            .await
            .unwrap();
        assert!(stored.created);
    }
    Setup {
        producer: ucx_common::kafka::Producer::new(&kafka).unwrap(),
        clickhouse: services.clickhouse(test),
        kafka,
        _gateway: gateway,
    }
}

fn config(setup: &Setup, smtp: &OwnSmtp) -> NotifierConfig {
    let mut config = NotifierConfig {
        kafka: setup.kafka.clone(),
        clickhouse: setup.clickhouse.clone(),
        ..Default::default()
    };
    config.notifier.group_id = unique("notifier");
    config.notifier.smtp_port = smtp.port;
    // mail at once: these tests are not about the fleet guard's settle time
    config.notifier.fleet_settle_s = 0;
    config.notifier.commit_interval_ms = Duration::from_millis(200);
    config.notifier.retry_backoff_max_ms = Duration::from_millis(500);
    config.notifier.smtp_timeout_ms = Duration::from_secs(2);
    config.notifier.deferred_interval_ms = Duration::from_millis(500);
    config
}

fn alert(customer: &str, severity: Severity, notify_customer: bool) -> Alert {
    Alert {
        alert_id: uuid::Uuid::new_v4().to_string(),
        installation_id: format!("inst-{customer}"),
        node_id: "node-1".into(),
        region: Region::EU,
        rule_id: "disk_free_low".into(),
        rule_version: 2,
        subject: "disk C:".into(),
        severity,
        state: AlertState::Open,
        summary: "disk C: has 4.2% free (threshold 5%)".into(),
        observed_value: 4.2,
        threshold: 5.0,
        beat_id: "b".into(),
        event_at: ucx_common::now_ms(),
        raised_at: ucx_common::now_ms(),
        customer_id: customer.into(),
        contract_tier: "GOLD".into(),
        notify_customer,
        explanation: "Free space or extend the volume; check log and backup folders first.".into(),
        dashboard_url: format!(
            "http://grafana.example/d/ucx-server?var-installation=inst-{customer}"
        ),
        suppressed_by: String::new(),
        acknowledged_by: String::new(),
        resolution: String::new(),
        incident_id: String::new(),
        library_version: 0,
    }
}

async fn publish(setup: &Setup, alert: &Alert) {
    setup
        .producer
        .produce(
            &setup.kafka.alerts_topic,
            alert.customer_id.as_bytes(),
            &encode_alert(alert).unwrap(),
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
}

async fn metric(stage: &Stage, line_start: &str) -> f64 {
    ucx_e2e::metric_sum(&stage.url, line_start).await
}

async fn wait_mails(smtp: &OwnSmtp, count: usize, timeout: Duration) {
    wait_until(&format!("{count} mails"), timeout, || {
        std::future::ready(smtp.received().len() >= count)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gold_alert_mails_each_contact_once_and_a_basic_one_nobody() {
    let setup = setup("notify-routing").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let notifier = start_notifier(config(&setup, &smtp)).await;

    let critical = alert("cust-gold", Severity::Critical, true);
    let warning = alert("cust-gold", Severity::Warning, true);
    let basic = alert("cust-basic", Severity::Critical, false);
    let mut silenced = alert("cust-gold", Severity::Critical, true);
    silenced.suppressed_by = "silence:known".into();
    let bounced = alert("cust-bounce", Severity::Warning, true);
    for alert in [&basic, &silenced, &critical, &warning, &bounced] {
        publish(&setup, alert).await;
    }
    setup
        .producer
        .produce(
            &setup.kafka.alerts_topic,
            b"x",
            b"not avro",
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
    wait_mails(&smtp, 3, Duration::from_secs(60)).await;
    wait_until("every record handled", Duration::from_secs(30), || async {
        metric(&notifier, "ucx_records_received_total").await >= 6.0
            && metric(&notifier, "notifier_mails_failed_total").await >= 1.0
            && metric(&notifier, "ucx_dead_letters_total").await >= 1.0
    })
    .await;

    let mails = smtp.received();
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let recipients: Vec<&[String]> = mails.iter().map(|m| m.recipients.as_slice()).collect();
    assert_eq!(
        recipients,
        [
            ["ops@gold.example"],
            ["cio@gold.example"],
            ["ops@gold.example"]
        ],
        "a critical alert reaches both contacts, a mail each; a warning not the CIO"
    );
    let subject = mails[0].header("Subject").unwrap();
    assert!(
        subject.contains("[UCX CRITICAL] inst-cust-gold"),
        "{subject}"
    );
    for evidence in [
        "4.2 (threshold 5.0)",
        "check log and backup folders",
        "var-installation=inst-cust-gold",
    ] {
        assert!(
            mails[0].body.contains(evidence),
            "{evidence}: {}",
            mails[0].body
        );
    }
    assert!(mails[0].text.contains("text/html"), "an HTML part too");

    // (a mail is recorded right after the server accepted it)
    let ledger_sql = "SELECT customer_id, status, reason FROM notifications FINAL \
                      ORDER BY customer_id, status FORMAT TSV";
    wait_until(
        "every notification in the ledger",
        Duration::from_secs(30),
        || async {
            query(&setup.clickhouse, ledger_sql)
                .await
                .is_ok_and(|ledger| ledger.lines().count() >= 3)
        },
    )
    .await;
    let ledger = query(&setup.clickhouse, ledger_sql).await.unwrap();
    let lines: Vec<&str> = ledger.lines().collect();
    assert_eq!(lines.len(), 3, "{ledger}");
    assert!(
        lines[0].starts_with("cust-bounce\tFAILED\t") && lines[0].contains("550"),
        "{ledger}"
    );
    assert_eq!(&lines[1..], ["cust-gold\tSENT\t", "cust-gold\tSENT\t"]);
    assert_eq!(metric(&notifier, "ucx_dead_letters_total").await, 1.0);
    assert_eq!(
        metric(
            &notifier,
            "notifier_alerts_skipped_total{reason=\"not_for_the_customer\"}"
        )
        .await,
        2.0,
        "the Basic and the silenced alert"
    );
    let exposition = metrics_text(&notifier.url).await;
    ucx_e2e::promtool_check(&Services::from_env().promtool, &exposition).unwrap_or_else(
        |complaints| panic!("promtool rejects the notifier's metrics:\n{complaints}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_sending_and_before_committing_does_not_send_again() {
    let setup = setup("notify-crash").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    config.notifier.commit_interval_ms = Duration::from_secs(600); // the crash comes before any commit
    let notifier = start_notifier(config.clone()).await;
    publish(&setup, &alert("cust-gold", Severity::Warning, true)).await;
    wait_mails(&smtp, 1, Duration::from_secs(60)).await;
    wait_until("the mail recorded", Duration::from_secs(30), || async {
        query(
            &setup.clickhouse,
            "SELECT count() FROM notifications WHERE status = 'SENT'",
        )
        .await
        .is_ok_and(|count| count.trim() == "1")
    })
    .await;
    notifier.crash().await;

    let notifier = start_notifier(config).await;
    wait_until("the alert read again", Duration::from_secs(60), || async {
        metric(
            &notifier,
            "notifier_alerts_skipped_total{reason=\"already_handled\"}",
        )
        .await
            >= 1.0
    })
    .await;
    assert_eq!(smtp.received().len(), 1, "not mailed again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_is_down_delays_and_then_delivers() {
    let setup = setup("notify-down").await;
    let mut smtp = OwnSmtp::new(); // not started: nothing listens on its port
    let notifier = start_notifier(config(&setup, &smtp)).await;
    publish(&setup, &alert("cust-gold", Severity::Warning, true)).await;
    wait_until(
        "tries against the absent server",
        Duration::from_secs(60),
        || async { metric(&notifier, "notifier_mail_retries_total").await >= 2.0 },
    )
    .await;
    assert!(smtp.received().is_empty());
    smtp.start().await;
    wait_mails(&smtp, 1, Duration::from_secs(30)).await;
    assert_eq!(smtp.received()[0].recipients, ["ops@gold.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_control_mails_the_limit_and_sums_up_the_rest() {
    let setup = setup("notify-storm").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    config.notifier.storm_max_mails = 2;
    config.notifier.storm_window_s = Duration::from_secs(4);
    config.notifier.deferred_interval_ms = Duration::from_millis(500);
    let _notifier = start_notifier(config).await;
    for _ in 0..5 {
        publish(&setup, &alert("cust-gold", Severity::Warning, true)).await;
    }
    // over the limit, a CRITICAL still goes out at once, to both contacts
    publish(&setup, &alert("cust-gold", Severity::Critical, true)).await;
    wait_mails(&smtp, 5, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = smtp.received();
    assert_eq!(
        mails.len(),
        5,
        "two alerts, the critical one to each contact, then one summary: {mails:#?}"
    );
    let subject = |mail: &ucx_e2e::ReceivedMail| mail.header("Subject").unwrap();
    let critical: Vec<&ucx_e2e::ReceivedMail> = mails
        .iter()
        .filter(|mail| subject(mail).starts_with("[UCX CRITICAL]"))
        .collect();
    let mut critical_to: Vec<&str> = critical
        .iter()
        .map(|mail| mail.recipients[0].as_str())
        .collect();
    critical_to.sort();
    assert_eq!(critical_to, ["cio@gold.example", "ops@gold.example"]);
    let summary = mails
        .iter()
        .find(|mail| subject(mail).contains("more alerts"))
        .expect("a summary mail");
    assert_eq!(subject(summary), "[UCX] 3 more alerts in the last hour");
    assert_eq!(
        summary.body.matches("inst-cust-gold: disk C:").count(),
        6,
        "3 in each part: {}",
        summary.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_to_a_relay_with_a_private_ca() {
    let setup = setup("notify-tls").await;
    // a private CA and the relay's certificate for 127.0.0.1, signed by it
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let relay_key = rcgen::KeyPair::generate().unwrap();
    let relay = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&relay_key, &ca)
        .unwrap();
    let folder = std::env::temp_dir().join(unique("smtp-tls"));
    std::fs::create_dir_all(&folder).unwrap();
    let (ca_file, cert_file, key_file) = (
        folder.join("ca.pem"),
        folder.join("relay.pem"),
        folder.join("relay-key.pem"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, relay.pem()).unwrap();
    std::fs::write(&key_file, relay_key.serialize_pem()).unwrap();

    let mut smtp = OwnSmtp::new();
    smtp.tls = Some((cert_file, key_file));
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    config.notifier.smtp_security = ucx_notifier::config::SmtpSecurity::Starttls;
    config.notifier.smtp_ca_file = Some(ca_file);
    let _notifier = start_notifier(config).await;
    publish(&setup, &alert("cust-gold", Severity::Warning, true)).await;
    wait_mails(&smtp, 1, Duration::from_secs(60)).await;
    assert_eq!(smtp.received()[0].recipients, ["ops@gold.example"]);
    let _ = std::fs::remove_dir_all(&folder);
}

/// The deliveries of `customer`'s mails: (recipient, status) sorted.
async fn deliveries(clickhouse: &ClickHouseSettings, customer: &str) -> Vec<(String, String)> {
    let answer = query(
        clickhouse,
        &format!(
            "SELECT recipient, status FROM notification_deliveries FINAL \
             WHERE customer_id = '{customer}' ORDER BY recipient FORMAT TSV"
        ),
    )
    .await
    .unwrap_or_default();
    answer
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(recipient, status)| (recipient.to_string(), status.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_address_among_three_contacts_does_not_stop_the_other_two() {
    let setup = setup("notify-three").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let _notifier = start_notifier(config(&setup, &smtp)).await;
    publish(&setup, &alert("cust-three", Severity::Warning, true)).await;
    wait_mails(&smtp, 2, Duration::from_secs(60)).await;
    wait_until(
        "three deliveries recorded",
        Duration::from_secs(30),
        || async { deliveries(&setup.clickhouse, "cust-three").await.len() == 3 },
    )
    .await;
    let mut recipients: Vec<String> = smtp
        .received()
        .iter()
        .flat_map(|mail| mail.recipients.clone())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["a@three.example", "c@three.example"]);
    assert_eq!(
        deliveries(&setup.clickhouse, "cust-three").await,
        [
            ("a@three.example".to_string(), "SENT".to_string()),
            ("bounce@three.example".to_string(), "FAILED".to_string()),
            ("c@three.example".to_string(), "SENT".to_string()),
        ]
    );
    // the notification's row is written after its deliveries' rows
    let notification = || async {
        query(
            &setup.clickhouse,
            "SELECT status, reason FROM notifications FINAL WHERE customer_id = 'cust-three'",
        )
        .await
        .unwrap()
    };
    wait_until(
        "the notification recorded",
        Duration::from_secs(30),
        || async { !notification().await.trim().is_empty() },
    )
    .await;
    let status = notification().await;
    assert!(
        status.starts_with("PARTIAL\tbounce@three.example: ") && status.contains("550"),
        "{status}"
    );
}

/// Time from publishing a Gold alert until its mail is in the SMTP server's folder.
async fn gold_mail_latency(setup: &Setup, smtp: &OwnSmtp) -> Duration {
    let before = smtp.received().len();
    let started = std::time::Instant::now();
    publish(setup, &alert("cust-gold", Severity::Warning, true)).await;
    wait_mails(smtp, before + 1, Duration::from_secs(60)).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_answering_4xx_holds_up_nobody_and_gets_its_mail_once_it_recovers() {
    // `UCX_BUSY_MAILBOX_S=600` keeps the mailbox busy that long (a Gold mail measured every
    // 10 s meanwhile, retries as in production: up to a minute apart); by default three mails.
    let busy_for = std::env::var("UCX_BUSY_MAILBOX_S")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map(Duration::from_secs);
    let setup = setup("notify-busy").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    if busy_for.is_some() {
        config.notifier.retry_backoff_max_ms = Duration::from_secs(60);
        // a mail every 10 s for the customer measured: more than storm control's hourly 10
        config.notifier.storm_max_mails = 0;
    }
    let notifier = start_notifier(config).await;
    // the first mail also waits for the notifier's start: the calm figure is the later two
    gold_mail_latency(&setup, &smtp).await;
    let calm = gold_mail_latency(&setup, &smtp)
        .await
        .max(gold_mail_latency(&setup, &smtp).await);

    smtp.set_busy(true);
    publish(&setup, &alert("cust-busy", Severity::Warning, true)).await;
    wait_until(
        "the busy mailbox answered 4xx",
        Duration::from_secs(30),
        || async { metric(&notifier, "notifier_mail_retries_total").await >= 1.0 },
    )
    .await;
    let busy_since = std::time::Instant::now();
    let mut while_busy = Vec::new();
    loop {
        while_busy.push(gold_mail_latency(&setup, &smtp).await);
        match busy_for {
            None if while_busy.len() == 3 => break,
            None => {}
            Some(busy_for) if busy_since.elapsed() >= busy_for => break,
            Some(_) => tokio::time::sleep(Duration::from_secs(10)).await,
        }
    }
    wait_until(
        "tries again while busy",
        Duration::from_secs(30),
        || async { metric(&notifier, "notifier_mail_retries_total").await >= 3.0 },
    )
    .await;
    let to_busy = |smtp: &OwnSmtp| {
        smtp.received()
            .iter()
            .filter(|mail| mail.recipients == ["busy@busy.example"])
            .count()
    };
    assert_eq!(to_busy(&smtp), 0, "nothing accepted while busy");
    let mut sorted = while_busy.clone();
    sorted.sort();
    eprintln!(
        "gold mail latency: {calm:?} before; while another mailbox answered 4xx for {:?}: {} mails, median {:?}, max {:?}; retries of the busy mailbox: {}",
        busy_since.elapsed(),
        sorted.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        metric(&notifier, "notifier_mail_retries_total").await
    );
    let recovered = std::time::Instant::now();
    for latency in &while_busy {
        assert!(
            *latency < calm + Duration::from_secs(3),
            "another customer's mail waited: {latency:?} against {calm:?}"
        );
    }

    smtp.set_busy(false);
    wait_until("the parked mail delivered", Duration::from_secs(90), || {
        std::future::ready(to_busy(&smtp) == 1)
    })
    .await;
    eprintln!(
        "the parked mail went out {:?} after the mailbox recovered",
        recovered.elapsed()
    );
    wait_until("its delivery recorded", Duration::from_secs(30), || async {
        deliveries(&setup.clickhouse, "cust-busy").await
            == [("busy@busy.example".to_string(), "SENT".to_string())]
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(to_busy(&smtp), 1, "delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_arrives_with_what_each_contact_wants() {
    let setup = setup("notify-digest").await;
    ucx_tables::migrations::apply(&setup.clickhouse)
        .await
        .unwrap();
    // Two notifications that waited for the digest since yesterday.
    let yesterday = ucx_common::now_ms() / 1000 - 86_400;
    for (id, severity, summary) in [
        ("n-warning", "WARNING", "disk C: has 12% free"),
        ("n-critical", "CRITICAL", "service ApolloService stopped"),
    ] {
        query(
            &setup.clickhouse,
            &format!(
                "INSERT INTO notifications (notification_id, alert_id, customer_id, \
                 installation_id, rule_id, state, severity, summary, dashboard_url, status, \
                 recipients, subject, reason, event_at, recorded_at, version) VALUES \
                 ('{id}', 'a-{id}', 'cust-digest', 'inst-digest', 'rule', 'OPEN', '{severity}', \
                 '{summary}', 'http://dashboards/d', 'DIGEST', [], '', '', {yesterday}, \
                 {yesterday}, 1)"
            ),
        )
        .await
        .unwrap();
    }
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    config.notifier.digest_customers = vec!["cust-digest".into()];
    config.notifier.digest_hour_utc = 0;
    let _notifier = start_notifier(config).await;
    wait_mails(&smtp, 2, Duration::from_secs(60)).await;
    let mails = smtp.received();
    let to = |recipient: &str| {
        mails
            .iter()
            .find(|mail| mail.recipients == [recipient])
            .unwrap_or_else(|| panic!("no digest to {recipient}: {mails:#?}"))
    };
    let ops = to("ops@digest.example");
    assert!(ops.body.contains("disk C: has 12% free"), "{}", ops.body);
    assert!(ops.body.contains("service ApolloService stopped"));
    let cio = to("cio@digest.example");
    assert!(
        cio.body.contains("service ApolloService stopped"),
        "{}",
        cio.body
    );
    assert!(
        !cio.body.contains("disk C:"),
        "a CRITICAL-only contact gets no warnings: {}",
        cio.body
    );
    wait_until(
        "both notifications digested",
        Duration::from_secs(30),
        || async {
            query(
                &setup.clickhouse,
                "SELECT count() FROM notifications FINAL WHERE status = 'DIGESTED'",
            )
            .await
            .is_ok_and(|count| count.trim() == "2")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_implicit_tls_with_smtp_auth() {
    let setup = setup("notify-smtps").await;
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let folder = std::env::temp_dir().join(unique("smtps"));
    std::fs::create_dir_all(&folder).unwrap();
    let (cert_file, key_file) = (folder.join("relay.pem"), folder.join("relay-key.pem"));
    std::fs::write(&cert_file, certificate.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let mut smtp = OwnSmtp::new();
    smtp.tls = Some((cert_file.clone(), key_file));
    smtp.implicit_tls = true;
    smtp.auth = Some(("ucx-notifier".into(), "s3cret-relay-password".into()));
    smtp.start().await;
    let mut config = config(&setup, &smtp);
    config.notifier.smtp_security = ucx_notifier::config::SmtpSecurity::Tls;
    config.notifier.smtp_ca_file = Some(cert_file);
    config.notifier.smtp_username = Some("ucx-notifier".into());
    config.notifier.smtp_password = Some("s3cret-relay-password".into());
    let _notifier = start_notifier(config).await;
    publish(&setup, &alert("cust-gold", Severity::Warning, true)).await;
    wait_mails(&smtp, 1, Duration::from_secs(60)).await;
    let mail = &smtp.received()[0];
    assert_eq!(mail.recipients, ["ops@gold.example"]);
    assert_eq!(
        mail.header("X-Authenticated-As").as_deref(),
        Some("ucx-notifier")
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_care_end_within_a_lead_time_is_warned_once_to_every_contact() {
    let setup = setup("notify-renewal").await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let end = (time::OffsetDateTime::now_utc().date() + time::Duration::days(20)).to_string();
    let input = ucx_admin_api::CustomerInput {
        name: "Renewal GmbH".into(),
        region: Region::EU,
        contract_tier: ucx_schemas::ContractTier::Gold,
        care_end_date: Some(end.clone()),
        alert_contacts: serde_json::from_value(json!([
            {"email": "ops@renewal.example", "min_severity": "WARNING"},
            {"email": "cio@renewal.example", "min_severity": "CRITICAL"}
        ]))
        .unwrap(),
        telemetry_enabled: None,
    };
    ucx_e2e::admin_client(&setup._gateway.url)
        .put_customer("cust-renewal", &input)
        .await
        .unwrap();
    let _notifier = start_notifier(config(&setup, &smtp)).await;
    let renewal_mails = |smtp: &OwnSmtp| {
        smtp.received()
            .into_iter()
            .filter(|mail| {
                mail.header("Subject").as_deref()
                    == Some(format!("[UCX] Your support contract ends on {end}").as_str())
            })
            .collect::<Vec<_>>()
    };
    wait_until("the renewal warnings", Duration::from_secs(30), || {
        std::future::ready(renewal_mails(&smtp).len() == 2)
    })
    .await;
    // the 30-day warning, once: later rounds send nothing more
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = renewal_mails(&smtp);
    assert_eq!(mails.len(), 2, "one per contact, once");
    let mut to: Vec<&str> = mails
        .iter()
        .map(|mail| mail.recipients[0].as_str())
        .collect();
    to.sort();
    assert_eq!(to, ["cio@renewal.example", "ops@renewal.example"]);
    assert!(mails[0].body.contains("in 20 days"), "{}", mails[0].body);
    let ledger = query(
        &setup.clickhouse,
        "SELECT rule_id, state, status, summary FROM notifications FINAL \
         WHERE customer_id = 'cust-renewal' FORMAT TSV",
    )
    .await
    .unwrap();
    assert_eq!(
        ledger.trim(),
        format!("care_renewal\tRENEWAL\tSENT\tcare ends on {end} (in 20 days; the 30-day warning)")
    );
}
