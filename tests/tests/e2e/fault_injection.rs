//! Fault injection: the whole pipeline as processes of their own (gateway, processors, sinks,
//! notifier) on a broker, a ClickHouse and an SMTP server of the test's own, while a simulated
//! fleet with faults posts beats and retries what the gateway did not accept. In turn: each
//! stage is killed with SIGKILL and restarted, the broker freezes (SIGSTOP) and comes back,
//! ClickHouse is killed and restarted, and poison records land among the beats. Then, against
//! the simulator's record of every beat the gateway acknowledged: every one is in ClickHouse,
//! visible once; nothing else is; no alert episode opened twice; no mail sent twice; every
//! consumer's lag drains to zero; and every stage exits cleanly on SIGTERM.
//!
//! In the first test the broker is frozen rather than restarted: the everyday local broker keeps
//! topics in memory only. The second test runs the same pipeline on a durable broker (tansu with
//! its SQLite storage) and kills and restarts the broker itself. See the README, "Fault
//! tolerance".

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};
use ucx_e2e::process::{StageConfig, StageProcess};
use ucx_e2e::{
    metric_sum, metrics_text, query, read_topic, unique, wait_until, OwnBroker, OwnClickHouse,
    OwnSmtp, Services,
};
use ucx_schemas::Category;

const ADMIN_TOKEN: &str = "fault-injection-admin-token-0123456789";
const POISON_RECORDS: usize = 12;
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The sum of every `…consumer_lag` series of a stage, and how many there are.
async fn lag(stage: &StageProcess) -> (i64, usize) {
    let text = metrics_text(&stage.url()).await;
    let values: Vec<i64> = text
        .lines()
        .filter(|line| line.contains("consumer_lag{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as i64)
        .collect();
    (values.iter().sum(), values.len())
}

/// Beat ids the simulator recorded as acknowledged, by category.
fn acknowledged(path: &std::path::Path) -> BTreeMap<String, HashSet<String>> {
    let mut by_category: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(path).expect("the ack log").lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 4, "an ack line: {line}");
        by_category
            .entry(fields[3].to_string())
            .or_default()
            .insert(fields[0].to_string());
    }
    by_category
}

/// Where a category's beats are stored: a table, and a condition for tables shared by several.
fn storage_of(category: Category) -> (&'static str, String) {
    let table = ucx_tables::table_of(category);
    let filter = if table == "beats_raw" {
        format!("category = '{}'", category.id())
    } else {
        "1".into()
    };
    (table, filter)
}

async fn lines(clickhouse: &ClickHouseSettings, sql: &str) -> Vec<String> {
    query(clickhouse, sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .lines()
        .map(str::to_string)
        .collect()
}

async fn number(clickhouse: &ClickHouseSettings, sql: &str) -> i64 {
    lines(clickhouse, sql).await[0]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("a number from {sql}"))
}

#[derive(Debug, Default)]
struct BeatCounts {
    acknowledged: usize,
    found: usize,
    lost: usize,
    unacknowledged_found: usize,
    duplicated: i64,
    redelivered_rows: i64,
}

/// Compares ClickHouse with the acknowledged beats, category by category.
async fn count_beats(
    clickhouse: &ClickHouseSettings,
    acked: &BTreeMap<String, HashSet<String>>,
) -> BeatCounts {
    let mut counts = BeatCounts::default();
    for category in Category::ALL {
        let (table, filter) = storage_of(*category);
        let expected = acked.get(category.id()).cloned().unwrap_or_default();
        let found: HashSet<String> = lines(
            clickhouse,
            &format!("SELECT DISTINCT toString(beat_id) FROM {table} WHERE {filter}"),
        )
        .await
        .into_iter()
        .collect();
        counts.acknowledged += expected.len();
        counts.found += found.intersection(&expected).count();
        counts.lost += expected.difference(&found).count();
        counts.unacknowledged_found += found.difference(&expected).count();
        // Rows visible with FINAL against the distinct rows ignoring when they were received:
        // a beat stored twice (a redelivery, a resend) must show once.
        let columns = lines(
            clickhouse,
            &format!(
                "SELECT name FROM system.columns WHERE database = '{}' AND table = '{table}' AND name != 'received_at'",
                clickhouse.database
            ),
        )
        .await
        .join(", ");
        let visible = number(
            clickhouse,
            &format!("SELECT count() FROM {table} FINAL WHERE {filter}"),
        )
        .await;
        let distinct = number(
            clickhouse,
            &format!("SELECT count() FROM (SELECT DISTINCT {columns} FROM {table} WHERE {filter})"),
        )
        .await;
        let stored = number(
            clickhouse,
            &format!("SELECT count() FROM {table} WHERE {filter}"),
        )
        .await;
        counts.duplicated += visible - distinct;
        counts.redelivered_rows += stored - visible;
    }
    counts
}

async fn pause(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

/// Poison among the beats: records that are not Avro at all.
async fn produce_poison(brokers: &str) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for index in 0..POISON_RECORDS {
        let payload = format!("poison {index}: not an Avro beat");
        producer
            .send(
                FutureRecord::to("ucx.beats")
                    .key("poison")
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("the poison is produced");
    }
}

/// The four stages as processes of their own, started and ready.
struct Pipeline {
    gateway: StageProcess,
    processors: StageProcess,
    sinks: StageProcess,
    notifier: StageProcess,
}

impl Pipeline {
    /// `adjust` changes the stages' Kafka settings from the suite's (compose-like) ones.
    async fn start(
        brokers: String,
        clickhouse: &ClickHouseSettings,
        smtp: &OwnSmtp,
        dir: &std::path::Path,
        adjust: impl FnOnce(&mut KafkaSettings),
    ) -> Self {
        let mut kafka = KafkaSettings {
            brokers,
            topic_partitions: 3,
            ..KafkaSettings::default()
        };
        // A frozen or stopped broker turns into 503s after 3 s instead of 10.
        kafka.delivery_timeout_ms = Duration::from_secs(3);
        // As docker-compose runs the stages: a restarted process keeps its port, so its identity.
        kafka.consumer_static_membership = true;
        adjust(&mut kafka);
        let mut gateway_config = ucx_ingest::IngestConfig {
            kafka: kafka.clone(),
            ..Default::default()
        };
        gateway_config.ingest.admin_token = Some(ADMIN_TOKEN.into());
        gateway_config.ingest.rate_limit_beats_per_second = 5000;
        gateway_config.ingest.rate_limit_burst = 5000;
        gateway_config.ingest.retry_after_seconds = 1;
        let processors_config = ucx_processors::ProcessorConfig {
            kafka: kafka.clone(),
            ..Default::default()
        };
        let mut sinks_config = ucx_sinks::SinkConfig {
            kafka: kafka.clone(),
            clickhouse: clickhouse.clone(),
            ..Default::default()
        };
        sinks_config.sinks.batch_timeout_ms = Duration::from_millis(300);
        let mut notifier_config = ucx_notifier::NotifierConfig {
            kafka: kafka.clone(),
            clickhouse: clickhouse.clone(),
            ..Default::default()
        };
        notifier_config.notifier.smtp_port = smtp.port;
        // mail at once: these tests are not about the fleet guard's settle time
        notifier_config.notifier.fleet_settle_s = 0;
        let mut pipeline = Pipeline {
            gateway: StageProcess::new(
                "gateway",
                env!("CARGO_BIN_EXE_ucx-e2e-ingest"),
                StageConfig::Gateway(gateway_config),
                dir,
            ),
            processors: StageProcess::new(
                "processors",
                env!("CARGO_BIN_EXE_ucx-e2e-processors"),
                StageConfig::Processors(processors_config),
                dir,
            ),
            sinks: StageProcess::new(
                "sinks",
                env!("CARGO_BIN_EXE_ucx-e2e-sink"),
                StageConfig::Sinks(sinks_config),
                dir,
            ),
            notifier: StageProcess::new(
                "notifier",
                env!("CARGO_BIN_EXE_ucx-e2e-notifier"),
                StageConfig::Notifier(Box::new(notifier_config)),
                dir,
            ),
        };
        // The sinks create the database, tables and topics.
        pipeline.sinks.start();
        pipeline.sinks.wait_ready(READY_TIMEOUT).await;
        pipeline.processors.start();
        pipeline.notifier.start();
        pipeline.gateway.start();
        pipeline.wait_ready().await;
        pipeline
    }

    fn stages(&mut self) -> [&mut StageProcess; 4] {
        [
            &mut self.gateway,
            &mut self.processors,
            &mut self.sinks,
            &mut self.notifier,
        ]
    }

    async fn wait_ready(&self) {
        for stage in [&self.processors, &self.notifier, &self.gateway, &self.sinks] {
            stage.wait_ready(READY_TIMEOUT).await;
        }
    }

    /// A simulated fleet with faults in half of its servers posting beats in the background,
    /// retrying what the gateway did not accept and logging what it acknowledged.
    fn fleet(
        &self,
        installations: usize,
        history_h: f64,
        dir: &std::path::Path,
    ) -> tokio::task::JoinHandle<anyhow::Result<ucx_simulator::poster::Totals>> {
        tokio::spawn(ucx_simulator::run(
            ucx_simulator::RunArgs {
                gateway: self.gateway.url(),
                admin_url: self.gateway.admin_url(),
                admin_token: Some(ADMIN_TOKEN.into()),
                installations,
                tick_s: 60,
                history_h,
                speed: 60.0,
                fault_share: 0.5,
                labels: Some(dir.join("labels.jsonl")),
                acks: Some(dir.join("acks.tsv")),
                duration_s: 0,
                stop_at_present: true,
                drain_s: 120,
                seed: 7,
            },
            tokio_util::sync::CancellationToken::new(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_nothing_doubled_while_stages_crash_and_services_fail() {
    let services = Services::from_env();
    let broker = OwnBroker::start(&services.tansu_bin).await;
    let mut clickhouse_server = OwnClickHouse::start("faults").await;
    let clickhouse = clickhouse_server.settings("faults");
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let dir = std::env::temp_dir().join(unique("fault-injection"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut pipeline = Pipeline::start(broker.brokers(), &clickhouse, &smtp, &dir, |_| {}).await;

    // Ninety seconds of beats: 8 installations replaying 1.5 hours at 60×, a tick a second,
    // with faults in half of them (alerts and mails flow while the stages crash).
    let fleet = pipeline.fleet(8, 1.5, &dir);
    pause(6).await;

    let mut resumed_after = Vec::new();
    for stage in pipeline.stages() {
        stage.kill9();
        stage.start();
        let restarted = Instant::now();
        stage.wait_ready(READY_TIMEOUT).await;
        if ["processors", "sinks"].contains(&stage.name()) {
            // Resumed: the restarted process consumes again (the fleet keeps posting).
            wait_until(
                "the restarted stage to consume",
                Duration::from_secs(60),
                || async { metric_sum(&stage.url(), "ucx_records_received_total{").await > 0.0 },
            )
            .await;
            resumed_after.push((stage.name().to_string(), restarted.elapsed()));
        }
        pause(3).await;
    }
    eprintln!("fault injection: consuming again after SIGKILL and an immediate restart: {resumed_after:?}");
    for (stage, after) in &resumed_after {
        assert!(
            *after < Duration::from_secs(10),
            "{stage} consumed again only {after:?} after its restart"
        );
    }

    // The broker freezes: the gateway answers 503 (the fleet retries) and is not ready.
    broker.pause();
    wait_until(
        "the gateway reports the broker unreachable",
        Duration::from_secs(15),
        || async { !pipeline.gateway.is_ready().await },
    )
    .await;
    pause(3).await;
    broker.resume();
    pipeline.gateway.wait_ready(READY_TIMEOUT).await;
    pause(3).await;

    // ClickHouse goes away: the sinks hold their offsets and are not ready until it is back.
    clickhouse_server.kill();
    wait_until(
        "the sinks report ClickHouse unreachable",
        Duration::from_secs(15),
        || async { !pipeline.sinks.is_ready().await },
    )
    .await;
    pause(4).await;
    clickhouse_server.restart().await;
    pipeline.sinks.wait_ready(READY_TIMEOUT).await;

    produce_poison(&broker.brokers()).await;

    let outcome = check_outcome(
        &mut pipeline,
        &broker.brokers(),
        &clickhouse,
        &smtp,
        &dir,
        fleet,
    )
    .await;
    eprintln!("fault injection: {outcome}");
}

/// The broker itself is killed (SIGKILL) and started again on its data while the fleet posts:
/// the gateway answers 503 meanwhile (the fleet retries), every stage comes back by itself
/// (ready again, consuming where its group committed), and nothing is lost or doubled. Needs the
/// durable broker (`scripts/services.sh install-durable-broker`, which `scripts/test.sh` runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_nothing_doubled_when_the_broker_is_killed_and_restarted() {
    let mut broker = OwnBroker::start_durable().await;
    let clickhouse_server = OwnClickHouse::start("broker-restart").await;
    let clickhouse = clickhouse_server.settings("broker_restart");
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let dir = std::env::temp_dir().join(unique("broker-restart"));
    std::fs::create_dir_all(&dir).unwrap();
    // Two settings the durable local broker needs (tansu 0.6.0's SQLite storage; Apache Kafka
    // needs neither, see the README's "Known limits of the local broker"): its group coordinator
    // revokes a static member's partitions right after each assignment, so the stages never
    // consume; and after a restart its idempotence check panics on a producer epoch it has no
    // row for, which kills its storage. So the stages join as dynamic members and produce
    // without idempotence here; at-least-once holds either way (a record the producer sent
    // twice is one row with FINAL, one alert id, one mail).
    let mut pipeline = Pipeline::start(broker.brokers(), &clickhouse, &smtp, &dir, |kafka| {
        kafka.consumer_static_membership = false;
        kafka
            .client_options
            .insert("enable.idempotence".into(), "false".into());
    })
    .await;

    // A minute of beats: 8 installations replaying an hour at 60×, faults in half of them.
    let fleet = pipeline.fleet(8, 1.0, &dir);
    pause(15).await;
    let received_before = metric_sum(&pipeline.sinks.url(), "ucx_records_received_total{").await;
    assert!(
        received_before > 0.0,
        "the sinks consumed before the broker went"
    );

    broker.stop();
    let killed = Instant::now();
    wait_until(
        "the gateway reports the broker unreachable",
        Duration::from_secs(15),
        || async { !pipeline.gateway.is_ready().await },
    )
    .await;
    pause(3).await;
    broker.restart().await;
    // Nobody restarts a stage: each reconnects, and the consumers go on from their groups'
    // committed offsets, which the broker kept.
    pipeline.wait_ready().await;
    let ready_after = killed.elapsed();
    for stage in [&pipeline.processors, &pipeline.sinks] {
        let before = metric_sum(&stage.url(), "ucx_records_received_total{").await;
        wait_until(
            "a stage consuming again after the broker's restart",
            Duration::from_secs(60),
            || async { metric_sum(&stage.url(), "ucx_records_received_total{").await > before },
        )
        .await;
    }
    let consuming_after = killed.elapsed();
    produce_poison(&broker.brokers()).await;

    let outcome = check_outcome(
        &mut pipeline,
        &broker.brokers(),
        &clickhouse,
        &smtp,
        &dir,
        fleet,
    )
    .await;
    eprintln!(
        "broker restart: every stage ready {ready_after:?} and consuming {consuming_after:?} after the broker was killed (3 s down); {outcome}"
    );
}

/// Once the fleet ran through the faults (and had to retry some beats), against the simulator's
/// record of what the gateway acknowledged: every beat in ClickHouse once, nothing else, every
/// consumer caught up, no alert episode opened twice, every alert record stored, no mail sent
/// twice, poison dead-lettered, and every stage exits 0 on SIGTERM. Answers a line of the
/// figures; removes `dir` unless `UCX_KEEP_LOGS` is set.
async fn check_outcome(
    pipeline: &mut Pipeline,
    brokers: &str,
    clickhouse: &ClickHouseSettings,
    smtp: &OwnSmtp,
    dir: &std::path::Path,
    fleet: tokio::task::JoinHandle<anyhow::Result<ucx_simulator::poster::Totals>>,
) -> String {
    let totals = fleet.await.expect("the fleet task").expect("the fleet ran");
    assert_eq!((totals.refused, totals.abandoned), (0, 0), "{totals:?}");
    assert!(
        totals.retried > 0,
        "the fleet retried what the gateway refused while a service was down: {totals:?}"
    );

    // Recovery: every acknowledged beat arrives and every consumer catches up.
    let acked = acknowledged(&dir.join("acks.tsv"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let counts = loop {
        let lags = [
            lag(&pipeline.processors).await,
            lag(&pipeline.sinks).await,
            lag(&pipeline.notifier).await,
        ];
        let counts = count_beats(clickhouse, &acked).await;
        let drained = lags.iter().all(|(sum, series)| *sum == 0 && *series > 0);
        if drained && counts.lost == 0 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery within 120 s: lags {lags:?}, {counts:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let beats = format!(
        "{} beats acknowledged ({} retried by the fleet), {} found, {} lost, {} duplicated, {} found without acknowledgement, {} redelivered rows hidden by FINAL",
        counts.acknowledged, totals.retried, counts.found, counts.lost, counts.duplicated, counts.unacknowledged_found, counts.redelivered_rows
    );
    eprintln!("{beats}");
    assert_eq!(counts.acknowledged as u64, totals.accepted);
    assert_eq!(
        (counts.lost, counts.duplicated, counts.unacknowledged_found),
        (0, 0, 0),
        "{counts:?}"
    );
    assert_eq!(counts.found, counts.acknowledged);

    // Alerts: no episode opened twice (an OPEN follows an OPEN only after a RESOLVED).
    let episodes = lines(
        clickhouse,
        "SELECT installation_id, node_id, rule_id, subject, \
                uniqExactIf(alert_id, state = 'OPEN'), countIf(state = 'RESOLVED') \
         FROM (SELECT * FROM alerts FINAL) GROUP BY installation_id, node_id, rule_id, subject",
    )
    .await;
    assert!(!episodes.is_empty(), "the injected faults raised alerts");
    for line in &episodes {
        let fields: Vec<&str> = line.split('\t').collect();
        let (opened, resolved): (i64, i64) =
            (fields[4].parse().unwrap(), fields[5].parse().unwrap());
        assert!(opened <= resolved + 1, "opened twice: {line}");
    }
    // Every alert record on the topic reached ClickHouse.
    let topic_alerts: HashSet<String> =
        read_topic(brokers, "ucx.alerts", usize::MAX, Duration::from_secs(5))
            .iter()
            .map(|record| {
                let alert = ucx_schemas::decode_alert(rdkafka::Message::payload(record).unwrap())
                    .expect("an alert record");
                format!(
                    "{}/{}",
                    alert.alert_id,
                    format!("{:?}", alert.state).to_uppercase()
                )
            })
            .collect();
    let stored_alerts: HashSet<String> = lines(
        clickhouse,
        "SELECT DISTINCT concat(alert_id, '/', state) FROM alerts",
    )
    .await
    .into_iter()
    .collect();
    let missing: Vec<&String> = topic_alerts.difference(&stored_alerts).collect();
    assert!(
        missing.is_empty(),
        "alert records not in ClickHouse: {missing:?}"
    );

    // Mails: none sent twice (the notifier's Message-ID is derived from the alert).
    wait_until("the customer mails", Duration::from_secs(30), || async {
        !smtp.received().is_empty()
    })
    .await;
    let mails = smtp.received();
    let ids: Vec<String> = mails
        .iter()
        .filter_map(|mail| mail.header("Message-ID"))
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), mails.len(), "every mail has a Message-ID");
    assert_eq!(distinct.len(), ids.len(), "a mail was sent twice: {ids:?}");

    // Poison: dead-lettered (by the processors and the sinks), never fatal.
    let dead_letters = read_topic(
        brokers,
        "ucx.dead-letters",
        usize::MAX,
        Duration::from_secs(5),
    );
    assert!(
        dead_letters.len() >= POISON_RECORDS,
        "{} dead letters",
        dead_letters.len()
    );

    let outcome = format!(
        "{beats}; {} alert records, {} episodes, {} mails, {} dead letters",
        topic_alerts.len(),
        episodes.len(),
        mails.len(),
        dead_letters.len()
    );
    // A clean stop: every stage drains, flushes, commits and exits 0 on SIGTERM.
    for stage in pipeline.stages() {
        let status = stage.terminate();
        assert!(
            status.success(),
            "{} exited with {status} on SIGTERM:\n{}",
            stage.name,
            stage.log_tail()
        );
    }
    if std::env::var_os("UCX_KEEP_LOGS").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
    outcome
}
