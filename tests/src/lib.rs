//! Harness for end-to-end tests: the real broker and ClickHouse that `scripts/test.sh` started
//! (found through the `UCX_…` variables it exports), the pipeline's stages run in-process on
//! loopback ports, and unique topics and databases per test so tests run in parallel.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
#[cfg(test)]
mod compose;
pub mod process;

use tokio_util::sync::CancellationToken;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};
use ucx_schemas::Category;

/// The services the test script started.
pub struct Services {
    pub brokers: String,
    pub clickhouse_url: String,
    pub tansu_bin: PathBuf,
    pub promtool: PathBuf,
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts the broker and ClickHouse")
    })
}

impl Services {
    pub fn from_env() -> Self {
        // `UCX_TEST_LOG=debug` shows the stages' logs of a failing test (captured otherwise)
        if let Ok(filter) = std::env::var("UCX_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        Services {
            brokers: required_env("UCX_KAFKA__BROKERS"),
            clickhouse_url: required_env("UCX_CLICKHOUSE__URL"),
            tansu_bin: required_env("UCX_TANSU_BIN").into(),
            promtool: required_env("UCX_PROMTOOL").into(),
        }
    }

    /// Kafka settings with topics of their own.
    pub fn kafka(&self, test: &str) -> KafkaSettings {
        kafka_settings(&self.brokers, test)
    }

    /// ClickHouse settings with a database of its own.
    pub fn clickhouse(&self, test: &str) -> ClickHouseSettings {
        ClickHouseSettings {
            url: self.clickhouse_url.clone(),
            database: unique(test).replace(['-', '.'], "_"),
            ..ClickHouseSettings::default()
        }
    }
}

pub fn kafka_settings(brokers: &str, test: &str) -> KafkaSettings {
    let prefix = unique(test);
    KafkaSettings {
        brokers: brokers.to_string(),
        beats_topic: format!("{prefix}.beats"),
        alerts_topic: format!("{prefix}.alerts"),
        changes_topic: format!("{prefix}.changes"),
        dead_letter_topic: format!("{prefix}.dead-letters"),
        registry_topic: format!("{prefix}.registry"),
        processor_state_topic: format!("{prefix}.processor-state"),
        topic_partitions: 3,
        ..KafkaSettings::default()
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = ucx_common::now_ms() % 100_000_000;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{millis}-{count}", std::process::id())
}

async fn loopback_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// A stage running in-process; stopped (gracefully) on drop of the pipeline or by `stop`.
pub struct Stage {
    pub url: String,
    /// Where its operator answers: the gateway's admin listener (admin API, `/metrics`,
    /// `/ready`); for every other stage the same as `url`.
    pub admin_url: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Stage {
    /// Ends the stage abruptly, as a crash would: its task is dropped mid-flight and nothing it
    /// would do on a planned stop (final flushes, checkpoints) happens.
    pub async fn crash(mut self) {
        forget_admin_url(&self.url, &self.admin_url);
        let handle = self.handle.take().expect("running");
        handle.abort();
        let _ = handle.await;
    }

    /// Stops the stage the way SIGTERM does and returns how its `run` ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        forget_admin_url(&self.url, &self.admin_url);
        self.shutdown.cancel();
        self.handle.take().expect("running").await?
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // Its port is free for another test's stage from now on: keep no mapping pointing from
        // it to this gateway's admin port.
        forget_admin_url(&self.url, &self.admin_url);
        self.shutdown.cancel();
    }
}

/// Starts a stage's `run` on a loopback port, as its binary would.
async fn start_stage<Config, Run, Running>(run: Run, config: Config) -> Stage
where
    Run: FnOnce(Config, TcpListener, CancellationToken) -> Running,
    Running: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (listener, url) = loopback_listener().await;
    let shutdown = CancellationToken::new();
    let running = run(config, listener, shutdown.clone());
    // A stage that ends by itself is the cause of whatever the test sees next: say why.
    let handle = tokio::spawn(async move {
        let outcome = running.await;
        if let Err(error) = &outcome {
            eprintln!("a stage started by the harness stopped with an error: {error:#}");
        }
        outcome
    });
    Stage {
        admin_url: url.clone(),
        url,
        shutdown,
        handle: Some(handle),
    }
}

/// The admin token of every gateway the harness starts (unless a test sets its own).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef";
/// The customer the harness registers installations under when a test does not care.
pub const TEST_CUSTOMER: &str = "cust-e2e";

/// Starts a gateway and waits until it has loaded the customer registry.
pub async fn start_gateway(mut config: ucx_ingest::IngestConfig) -> Stage {
    config
        .ingest
        .admin_token
        .get_or_insert_with(|| ADMIN_TOKEN.into());
    let tls = config.ingest.tls_cert_file.is_some();
    let (admin, admin_url) = loopback_listener().await;
    let mut gateway = start_stage(
        |config, public, shutdown| ucx_ingest::run_on(config, public, admin, shutdown),
        config,
    )
    .await;
    gateway.admin_url = admin_url;
    if tls {
        gateway.url = gateway.url.replacen("http://", "https://", 1);
    }
    remember_admin_url(&gateway.url, &gateway.admin_url);
    wait_until(
        "the gateway to load the customer registry",
        Duration::from_secs(30),
        || gateway_ready(&gateway.admin_url),
    )
    .await;
    gateway
}

async fn gateway_ready(url: &str) -> bool {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    client
        .get(format!("{url}/ready"))
        .send()
        .await
        .is_ok_and(|response| response.status() == 200)
}

/// The admin listener of each gateway the harness started, by its public URL.
fn admin_urls() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static URLS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        std::sync::OnceLock::new();
    URLS.get_or_init(Default::default)
}

/// Records that the gateway posting beats at `public` has its admin listener at `admin`.
pub fn remember_admin_url(public: &str, admin: &str) {
    admin_urls()
        .lock()
        .unwrap()
        .insert(public.to_string(), admin.to_string());
}

/// Forgets the admin listener of a gateway that stops (the kernel may hand its public port to
/// any stage of another test next).
/// Only its own mapping: another gateway may hold that public URL by now.
pub fn forget_admin_url(public: &str, admin: &str) {
    let mut urls = admin_urls().lock().unwrap();
    if urls.get(public).is_some_and(|known| known == admin) {
        urls.remove(public);
    }
}

/// The admin listener (admin API, `/metrics`, `/ready`) of the gateway whose public URL is
/// `gateway`; the helpers below take either URL. A URL the harness did not start is returned
/// as it is.
pub fn admin_url_of(gateway: &str) -> String {
    admin_urls()
        .lock()
        .unwrap()
        .get(gateway)
        .cloned()
        .unwrap_or_else(|| gateway.to_string())
}

/// The typed admin client of `gateway` (public or admin URL) with the harness's admin token.
pub fn admin_client(gateway: &str) -> ucx_admin_api::AdminClient {
    ucx_admin_api::AdminClient::new(&admin_url_of(gateway), ADMIN_TOKEN)
}

/// Calls the gateway's admin API with the harness's admin token and any method and body (for
/// tests of the HTTP contract itself: refusals of malformed requests); returns status and JSON
/// body. Everything else goes through [`admin_client`].
pub async fn admin(
    gateway: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let admin = admin_url_of(gateway);
    let mut request = reqwest::Client::new()
        .request(method, format!("{admin}{path}"))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// Creates or updates a customer (EU, one WARNING contact) through the admin API.
pub async fn put_customer(gateway: &str, customer_id: &str, tier: &str, telemetry: bool) {
    put_customer_mailing(gateway, customer_id, tier, "it@example.com", telemetry).await
}

/// [`put_customer`] with `contact` as its one WARNING contact.
pub async fn put_customer_mailing(
    gateway: &str,
    customer_id: &str,
    tier: &str,
    contact: &str,
    telemetry: bool,
) {
    let input = ucx_admin_api::CustomerInput {
        name: format!("{customer_id} Ltd"),
        region: ucx_schemas::Region::EU,
        contract_tier: serde_json::from_value(serde_json::json!(tier)).expect("a contract tier"),
        care_end_date: None,
        alert_contacts: vec![ucx_schemas::AlertContact {
            email: contact.into(),
            min_severity: ucx_schemas::Severity::Warning,
        }],
        telemetry_enabled: Some(telemetry),
    };
    admin_client(gateway)
        .put_customer(customer_id, &input)
        .await
        .unwrap_or_else(|error| panic!("creating {customer_id}: {error}"));
}

/// Switches a customer's telemetry on or off through the admin API; returns the customer.
pub async fn set_telemetry(
    gateway: &str,
    customer_id: &str,
    enabled: bool,
) -> ucx_admin_api::CustomerView {
    admin_client(gateway)
        .set_telemetry(customer_id, enabled)
        .await
        .unwrap_or_else(|error| panic!("switching {customer_id}'s telemetry: {error}"))
}

/// Registers `installation_id` under `customer_id` and returns its new key.
pub async fn add_installation(gateway: &str, customer_id: &str, installation_id: &str) -> String {
    let input = ucx_admin_api::InstallationInput {
        installation_id: installation_id.to_string(),
        licensed_users: None,
        licensed_devices: None,
    };
    admin_client(gateway)
        .add_installation(customer_id, &input)
        .await
        .unwrap_or_else(|error| panic!("registering {installation_id}: {error}"))
        .key
}

fn key_cache() -> &'static std::sync::Mutex<std::collections::HashMap<(String, String), String>> {
    static KEYS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    > = std::sync::OnceLock::new();
    KEYS.get_or_init(Default::default)
}

/// A working key of `installation_id` at this gateway: registered under [`TEST_CUSTOMER`]
/// the first time, issued anew if the installation exists but its key is not known here.
pub async fn installation_key(gateway: &str, installation_id: &str) -> String {
    let cache_key = (gateway.to_string(), installation_id.to_string());
    if let Some(key) = key_cache().lock().unwrap().get(&cache_key) {
        return key.clone();
    }
    let client = admin_client(gateway);
    if let Err(error) = client.customer(TEST_CUSTOMER).await {
        assert_eq!(error.status().map(|s| s.as_u16()), Some(404), "{error}");
        put_customer(gateway, TEST_CUSTOMER, "GOLD", true).await;
    }
    let key = client
        .key_for(TEST_CUSTOMER, installation_id)
        .await
        .unwrap_or_else(|error| panic!("a key for {installation_id}: {error}"))
        .key;
    key_cache().lock().unwrap().insert(cache_key, key.clone());
    key
}

/// Forgets the keys known for `gateway`, e.g. after its registry was lost with the broker's
/// memory: the next [`installation_key`] registers the installation again.
pub fn forget_keys(gateway: &str) {
    key_cache()
        .lock()
        .unwrap()
        .retain(|(known_gateway, _), _| known_gateway != gateway);
}

/// The installation a beat or batch claims to be from.
fn claimed_installation(body: &serde_json::Value) -> Option<&str> {
    match body {
        serde_json::Value::Array(beats) => beats.first()?.get("installation_id")?.as_str(),
        beat => beat.get("installation_id")?.as_str(),
    }
}

pub async fn start_processors(config: ucx_processors::ProcessorConfig) -> Stage {
    start_stage(ucx_processors::run, config).await
}

pub async fn start_sinks(config: ucx_sinks::SinkConfig) -> Stage {
    start_stage(ucx_sinks::run, config).await
}

pub async fn start_notifier(config: ucx_notifier::NotifierConfig) -> Stage {
    start_stage(ucx_notifier::run, config).await
}

/// The stage's `/metrics` text (a gateway's from its admin listener).
pub async fn metrics_text(stage_url: &str) -> String {
    reqwest::get(format!("{}/metrics", admin_url_of(stage_url)))
        .await
        .expect("the stage answers")
        .text()
        .await
        .expect("a text body")
}

/// The sum of a stage's metric lines that start with `line_start` (a name with its space, or a
/// name and the start of its labels: every series of it).
pub async fn metric_sum(stage_url: &str, line_start: &str) -> f64 {
    metrics_text(stage_url)
        .await
        .lines()
        .filter(|line| line.starts_with(line_start))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The whole pipeline on its own topics and database.
pub struct Pipeline {
    pub kafka: KafkaSettings,
    pub clickhouse: ClickHouseSettings,
    pub gateway: Stage,
    pub processors: Stage,
    pub sinks: Stage,
}

pub async fn start_pipeline(services: &Services, test: &str) -> Pipeline {
    start_pipeline_with(services, test, |_| {}).await
}

/// [`start_pipeline`] with the processors' configuration adjusted by `adjust`.
pub async fn start_pipeline_with(
    services: &Services,
    test: &str,
    adjust: impl FnOnce(&mut ucx_processors::ProcessorConfig),
) -> Pipeline {
    start_pipeline_adjusted(services, test, adjust, |_| {}).await
}

/// [`start_pipeline`] with the processors' and the gateway's configuration adjusted.
pub async fn start_pipeline_adjusted(
    services: &Services,
    test: &str,
    adjust: impl FnOnce(&mut ucx_processors::ProcessorConfig),
    adjust_gateway: impl FnOnce(&mut ucx_ingest::IngestConfig),
) -> Pipeline {
    let (kafka, clickhouse) = (services.kafka(test), services.clickhouse(test));
    start_pipeline_on(kafka, clickhouse, adjust, adjust_gateway).await
}

/// A pipeline on the given topics and database (e.g. one region's, beside another region's
/// pipeline that shares the registry topic).
pub async fn start_pipeline_on(
    kafka: KafkaSettings,
    clickhouse: ClickHouseSettings,
    adjust: impl FnOnce(&mut ucx_processors::ProcessorConfig),
    adjust_gateway: impl FnOnce(&mut ucx_ingest::IngestConfig),
) -> Pipeline {
    let mut sink_config = ucx_sinks::SinkConfig {
        kafka: kafka.clone(),
        clickhouse: clickhouse.clone(),
        ..Default::default()
    };
    sink_config.sinks.batch_timeout_ms = Duration::from_millis(200);
    sink_config.sinks.group_id = unique("sinks");
    let mut processor_config = ucx_processors::ProcessorConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    processor_config.processors.group_id = unique("processors");
    adjust(&mut processor_config);
    let mut gateway_config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    adjust_gateway(&mut gateway_config);
    // The sinks create the database and topics; start them first.
    let sinks = start_sinks(sink_config).await;
    wait_until(
        "the sink's tables exist",
        Duration::from_secs(30),
        || async {
            query(&clickhouse, "EXISTS TABLE alerts")
                .await
                .is_ok_and(|answer| answer.trim() == "1")
        },
    )
    .await;
    let processors = start_processors(processor_config).await;
    let gateway = start_gateway(gateway_config).await;
    Pipeline {
        kafka,
        clickhouse,
        gateway,
        processors,
        sinks,
    }
}

impl Pipeline {
    /// A notifier configuration for this pipeline mailing to `smtp`: its own group, deferred
    /// mail looked at every 500 ms, offsets committed every 200 ms.
    pub fn notifier_config(&self, smtp: &OwnSmtp) -> ucx_notifier::NotifierConfig {
        let mut config = ucx_notifier::NotifierConfig {
            kafka: self.kafka.clone(),
            clickhouse: self.clickhouse.clone(),
            ..Default::default()
        };
        config.notifier.group_id = unique("notifier");
        config.notifier.smtp_port = smtp.port;
        config.notifier.deferred_interval_ms = Duration::from_millis(500);
        config.notifier.commit_interval_ms = Duration::from_millis(200);
        config
    }
}

/// Polls `condition` every 50 ms until it holds; panics after `timeout` naming `what`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `url` until it answers with a success status; panics after `timeout` naming `what`.
pub async fn wait_until_ok(what: &str, url: &str, timeout: Duration) {
    wait_until(what, timeout, || async {
        reqwest::get(url)
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;
}

/// Runs one SQL statement over HTTP and returns the TSV answer.
pub async fn query(clickhouse: &ClickHouseSettings, sql: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(&clickhouse.url)
        .query(&[("database", clickhouse.database.as_str())])
        .body(sql.to_string())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "clickhouse answered {status}: {text}");
    Ok(text)
}

/// The example beat of `category` (schemas/examples), as a fresh beat of `installation_id`
/// sent now.
pub fn example_beat(category: Category, installation_id: &str) -> serde_json::Value {
    example_from("schemas/examples", category, installation_id)
}

/// The example of `category` that opens an alert (`schemas/examples/faults/`: disk `D:` at 5 %
/// free, the private firewall profile off), as a fresh beat of `installation_id`.
pub fn fault_example_beat(category: Category, installation_id: &str) -> serde_json::Value {
    example_from("schemas/examples/faults", category, installation_id)
}

fn example_from(folder: &str, category: Category, installation_id: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(folder)
        .join(format!("{}.json", category.id()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut beat: serde_json::Value = serde_json::from_str(&text).unwrap();
    let now = ucx_common::now_ms();
    // Times inside the data keep their age: the example's database was maintained
    // EXAMPLE_MAINTENANCE_AGE_MS before it was sent, not on a fixed day that grows overdue.
    if beat["data"]["last_maintenance_at"].is_i64() {
        beat["data"]["last_maintenance_at"] = (now - EXAMPLE_MAINTENANCE_AGE_MS).into();
    }
    beat["beat_id"] = uuid::Uuid::new_v4().to_string().into();
    beat["installation_id"] = installation_id.into();
    beat["sent_at"] = now.into();
    beat
}

/// How long before its `sent_at` (2026-11-23T10:00:00Z) the database example
/// (`ucx_suite.database.json`) says it was last maintained (1795300000000).
pub const EXAMPLE_MAINTENANCE_AGE_MS: i64 = 1_795_428_000_000 - 1_795_300_000_000;

/// Posts a JSON beat or batch to the gateway's beats endpoint with the key of the installation
/// it claims (of its first beat, for a batch).
pub async fn post_beat(gateway: &str, body: &serde_json::Value) -> reqwest::Response {
    let installation = claimed_installation(body).unwrap_or("inst-unnamed");
    let key = installation_key(gateway, installation).await;
    post_with_key(gateway, Some(&key), body).await
}

/// Posts a JSON body to the beats endpoint with `key` (or no credentials at all).
pub async fn post_with_key(
    gateway: &str,
    key: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{gateway}/v1/beats"))
        .json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("the gateway answers")
}

/// Posts the example beat of every category as `installation_id`, asserting each is accepted
/// (202, so acknowledged by the broker); returns the beat ids by category.
pub async fn post_every_example(
    gateway: &str,
    installation_id: &str,
) -> std::collections::HashMap<Category, String> {
    let mut beat_ids = std::collections::HashMap::new();
    for &category in Category::ALL {
        let beat = example_beat(category, installation_id);
        let response = post_beat(gateway, &beat).await;
        let status = response.status();
        assert_eq!(
            status,
            202,
            "{}: {}",
            category.id(),
            response.text().await.unwrap()
        );
        beat_ids.insert(category, beat["beat_id"].as_str().unwrap().to_string());
    }
    beat_ids
}

/// Reads every record of `topic` from the beginning until `expected` arrived or `timeout`
/// passed; assigns partitions directly, so no consumer-group join is needed.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            records.push(message.detach());
        }
    }
    records
}

/// The alert records on the alerts topic of `kafka` (read for up to `timeout`).
pub fn alerts_on(kafka: &KafkaSettings, timeout: Duration) -> Vec<ucx_schemas::Alert> {
    read_topic(&kafka.brokers, &kafka.alerts_topic, usize::MAX, timeout)
        .iter()
        .map(|record| {
            ucx_schemas::decode_alert(rdkafka::Message::payload(record).unwrap_or_default())
                .expect("alert records decode")
        })
        .collect()
}

/// A server process of a test's own, quiet; killed with SIGKILL on `kill` (as a crash would)
/// and when dropped, so a failing test leaves nothing running.
#[derive(Default)]
struct ServerProcess(Option<Child>);

impl ServerProcess {
    fn spawn(command: &mut Command, what: &str) -> Self {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        Self::spawn_as_set(command, what)
    }

    /// Spawns with its output appended to `log`.
    fn spawn_logged(command: &mut Command, what: &str, log: &std::path::Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|error| panic!("opening {}: {error}", log.display()));
        command
            .stdout(file.try_clone().expect("a log file handle"))
            .stderr(file);
        Self::spawn_as_set(command, what)
    }

    fn spawn_as_set(command: &mut Command, what: &str) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("starting {what}: {error}"));
        ServerProcess(Some(child))
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the process.
    fn signal(&self, signal: &str) {
        if let Some(child) = &self.0 {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -{signal} failed");
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until something listens on `port` of loopback.
async fn wait_for_port(what: &str, port: u16) {
    let address = format!("127.0.0.1:{port}");
    wait_until(what, Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(&address).await.is_ok()
    })
    .await;
}

/// A ClickHouse server of the test's own (same config as `scripts/services.sh` writes), so it
/// can be killed and restarted without disturbing other tests; its data survives a restart.
pub struct OwnClickHouse {
    dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
    process: ServerProcess,
}

impl OwnClickHouse {
    pub async fn start(test: &str) -> Self {
        let mut server = OwnClickHouse {
            dir: std::env::temp_dir().join(unique(test)),
            http_port: free_port(),
            tcp_port: free_port(),
            process: ServerProcess::default(),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Settings for a database of its own on this server.
    pub fn settings(&self, test: &str) -> ClickHouseSettings {
        ClickHouseSettings {
            url: self.url(),
            database: unique(test).replace(['-', '.'], "_"),
            ..ClickHouseSettings::default()
        }
    }

    /// Starts the server (again) on the same ports and data directory.
    pub async fn restart(&mut self) {
        self.kill();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
        self.process = ServerProcess::spawn(
            Command::new("bash")
                .arg(script)
                .arg("clickhouse-foreground")
                .arg(&self.dir)
                .arg(self.http_port.to_string())
                .arg(self.tcp_port.to_string()),
            "clickhouse-server",
        );
        let ping = format!("{}/ping", self.url());
        wait_until_ok("the test's own ClickHouse", &ping, Duration::from_secs(60)).await;
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

impl Drop for OwnClickHouse {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on now, below the kernel's ephemeral range: a port the kernel
/// picks (`bind :0`) is ephemeral, so another test's outgoing connection (a Kafka or HTTP client)
/// could take it before the stage under test binds it (a gateway of the fault-injection test
/// once failed so: "Address already in use"). Ports are handed out once per test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static HANDED_OUT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&start| start > LOWEST + 1_000)
        .unwrap_or(32_768);
    let span = ephemeral_from - LOWEST;
    // test processes that run one after another start at different places
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let port = LOWEST + (start + HANDED_OUT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(port).expect("below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOWEST} and {ephemeral_from}")
}

/// A broker of the test's own (the same tansu binary), for tests that stop and restart it.
pub struct OwnBroker {
    tansu_bin: PathBuf,
    pub port: u16,
    /// Where a durable broker keeps its SQLite file; `None` for memory storage.
    data_dir: Option<PathBuf>,
    process: ServerProcess,
}

impl OwnBroker {
    /// A broker with memory storage: what it holds is gone when it stops.
    pub async fn start(tansu_bin: &std::path::Path) -> Self {
        Self::start_with(tansu_bin, None).await
    }

    /// A broker that keeps its records, topics, groups and offsets in a SQLite file across a
    /// restart (or a SIGKILL): `tansu` built with its `libsql` storage
    /// (`scripts/services.sh install-durable-broker`, `UCX_TANSU_DURABLE_BIN`).
    pub async fn start_durable() -> Self {
        let tansu_bin = PathBuf::from(required_env("UCX_TANSU_DURABLE_BIN"));
        let dir = std::env::temp_dir().join(unique("durable-broker"));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_with(&tansu_bin, Some(dir)).await
    }

    async fn start_with(tansu_bin: &std::path::Path, data_dir: Option<PathBuf>) -> Self {
        let port = free_port();
        let mut broker = OwnBroker {
            tansu_bin: tansu_bin.to_path_buf(),
            port,
            data_dir,
            process: ServerProcess::default(),
        };
        broker.restart().await;
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (again) on the same port: memory storage starts empty, durable storage
    /// where it was.
    pub async fn restart(&mut self) {
        self.stop();
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(&self.tansu_bin);
        command
            .args(["broker", "--silent", "--listener-url", &listener])
            .args(["--advertised-listener-url", &listener]);
        match &self.data_dir {
            None => command.args(["--storage-engine", "memory://tansu/"]),
            // tansu resolves `sqlite://NAME` against its working directory
            Some(dir) => command
                .current_dir(dir)
                .args(["--storage-engine", "sqlite://tansu.db"]),
        };
        self.process = match &self.data_dir {
            None => ServerProcess::spawn(&mut command, "tansu"),
            Some(dir) => ServerProcess::spawn_logged(&mut command, "tansu", &dir.join("tansu.log")),
        };
        wait_for_port("the test broker's port", self.port).await;
        if let Some(dir) = &self.data_dir {
            index_record_headers(&dir.join("tansu.db"));
        }
    }

    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Freezes the broker (SIGSTOP): it keeps its data and connections but answers nothing, as
    /// an unreachable broker would; `resume` lets it go on.
    pub fn pause(&self) {
        self.process.signal("STOP");
    }

    pub fn resume(&self) {
        self.process.signal("CONT");
    }
}

/// tansu's SQLite schema reads each fetched record's headers by (partition, offset) from a table
/// without an index on them, so every fetch scans all headers ever stored: past ≈ 10,000 records
/// with headers (every beat has some) fetching crawls. The index is what that lookup needs;
/// `CREATE INDEX IF NOT EXISTS` after each start (tansu creates its tables at start-up).
fn index_record_headers(database: &std::path::Path) {
    let script = "import sqlite3, sys\n\
                  connection = sqlite3.connect(sys.argv[1], timeout=30)\n\
                  connection.execute('CREATE INDEX IF NOT EXISTS ucx_header_record ON header (topition, offset_id)')\n\
                  connection.commit()\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(database)
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "indexing {}'s headers failed",
        database.display()
    );
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = &self.data_dir {
            if std::env::var_os("UCX_KEEP_LOGS").is_some() {
                eprintln!("the durable broker's data and log: {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A real SMTP server of the test's own (`scripts/smtp_sink.py`, aiosmtpd): it keeps every
/// message it accepts as a file, refuses recipients containing "bounce" with 550, and can be
/// stopped and started again on the same port.
pub struct OwnSmtp {
    pub port: u16,
    pub dir: PathBuf,
    /// Certificate and key PEM files: the server then requires STARTTLS (or, with
    /// `implicit_tls`, speaks TLS from the first byte).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub implicit_tls: bool,
    /// User and password: the server then accepts mail only after SMTP AUTH (over TLS).
    pub auth: Option<(String, String)>,
    process: ServerProcess,
}

/// A message the SMTP server accepted: the envelope recipients and the whole text.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub recipients: Vec<String>,
    /// The message as received (headers, MIME parts as encoded).
    pub text: String,
    /// Its text parts (plain and HTML), decoded.
    pub body: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.text
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_string())
    }
}

impl OwnSmtp {
    /// A server on a free port, not started yet.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("smtp"));
        std::fs::create_dir_all(&dir).unwrap();
        OwnSmtp {
            port: free_port(),
            dir,
            tls: None,
            implicit_tls: false,
            auth: None,
            process: ServerProcess::default(),
        }
    }

    pub async fn start(&mut self) {
        self.stop();
        let mut command = Command::new("python3");
        command
            .arg(required_env("UCX_SMTP_SINK"))
            .arg(self.port.to_string())
            .arg(&self.dir)
            .env("PYTHONPATH", required_env("UCX_SMTP_PYTHONPATH"));
        if let Some((cert, key)) = &self.tls {
            command.arg(cert).arg(key);
        }
        if self.implicit_tls {
            command.arg("--implicit-tls");
        }
        if let Some((user, password)) = &self.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        self.process = ServerProcess::spawn(&mut command, "the smtp sink");
        wait_for_port("the smtp server's port", self.port).await;
    }

    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Recipients containing "busy" are answered 451 (try later) while `busy` is true.
    pub fn set_busy(&self, busy: bool) {
        let marker = self.dir.join("busy");
        if busy {
            std::fs::write(marker, "").unwrap();
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                let body = std::fs::read_to_string(path.with_extension("txt")).unwrap_or_default();
                let recipients = text
                    .lines()
                    .find_map(|line| line.strip_prefix("X-Envelope-To: "))
                    .unwrap_or_default()
                    .split(", ")
                    .map(str::to_string)
                    .collect();
                ReceivedMail {
                    recipients,
                    text,
                    body,
                }
            })
            .collect()
    }
}

impl Default for OwnSmtp {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for OwnSmtp {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lints a Prometheus text exposition with `promtool check metrics`; returns its complaints.
pub fn promtool_check(promtool: &std::path::Path, exposition: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
