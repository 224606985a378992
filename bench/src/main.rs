//! `ucx-bench`: one run that measures the pipeline on this machine against the raw limits of its
//! broker and ClickHouse, and prints the figures BENCHMARKS.md quotes. Run it through
//! `scripts/bench.sh` (release build, own services); each section says what it measures.

mod load;
mod probe;
mod raw;
mod report;
mod stages;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use report::Report;
use stages::{cpu_seconds, peak_rss_mib, pid, service_pid};
use ucx_e2e::process::{StageConfig, StageProcess};
use ucx_simulator::fleet::Installation;

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";
const PARTITIONS: i32 = 6;
/// A fleet member posting every category each minute: 25 beats per node, two nodes on average
/// (an upper bound; the fleet's own cadence, about a third of it, is reported beside it).
const BEATS_PER_INSTALLATION_MINUTE: f64 = 50.0;

#[derive(Parser)]
#[command(
    version,
    about = "Benchmark of the UCX telemetry pipeline against its raw limits"
)]
struct Args {
    #[arg(long, env = "UCX_KAFKA__BROKERS")]
    brokers: String,
    #[arg(long, env = "UCX_CLICKHOUSE__URL")]
    clickhouse_url: String,
    /// services.sh state directory: the broker's and ClickHouse's PIDs for their CPU and memory.
    #[arg(long, env = "UCX_SERVICES_DIR")]
    services_dir: Option<PathBuf>,
    /// Where the service binaries are (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Records for the raw broker and ClickHouse limits.
    #[arg(long, default_value_t = 200_000)]
    raw_records: usize,
    /// Installations of the load's fleet (each with a key of its own).
    #[arg(long, default_value_t = 40)]
    installations: usize,
    /// Installations registered besides the load's fleet (a key each, no beats), before the
    /// processors and sinks start: every stage's registry then holds a large fleet's.
    #[arg(long, default_value_t = 0)]
    register: usize,
    #[arg(long, default_value_t = 20_000)]
    single_beats: usize,
    #[arg(long, default_value_t = 200_000)]
    batched_beats: usize,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of sustained load through the whole pipeline.
    #[arg(long, default_value_t = 60)]
    e2e_seconds: u64,
    /// Seconds of latency probes through the quiet pipeline, before the sustained load.
    #[arg(long, default_value_t = 15)]
    quiet_seconds: u64,
    /// Milliseconds between two latency probes (half are timed until queryable, a quarter
    /// until their alert).
    #[arg(long, default_value_t = 50)]
    probe_interval_ms: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Record each stage with `perf record -g` during the end-to-end phase into
    /// DIR/<stage>.perf.data (needs `perf`; read with `perf report -i`).
    #[arg(long, value_name = "DIR")]
    profile: Option<PathBuf>,
    /// A librdkafka property for every client of the three stages, over their own (an
    /// experiment, e.g. `--client-option fetch.min.bytes=65536`); repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    client_option: Vec<(String, String)>,
    /// The sinks' `batch_timeout_ms` for this run, over their default (1,000): rows queryable
    /// sooner against more inserts, each a part ClickHouse merges.
    #[arg(long, value_name = "MS")]
    sinks_batch_timeout_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ucx_common::init_logging();
    let args = Args::parse();
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .expect("a directory")
            .to_path_buf(),
    };
    let run = format!("bench-{}", ucx_common::now_ms() % 100_000_000);
    let log_dir = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&log_dir)?;
    let mut report = Report::new();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    // The fleet's beats, as the load and as the raw records.
    let mut fleet_installations: Vec<Installation> = (0..args.installations)
        .map(|index| Installation::new(index, ucx_common::now_ms() - 6 * 3_600_000))
        .collect();
    let sample: Vec<(String, Vec<u8>)> = (0..40)
        .flat_map(|tick| {
            fleet_installations[tick % 10].tick(ucx_common::now_ms() - 3_600_000 + tick as i64)
        })
        .map(|mut beat| {
            beat.envelope.received_at = ucx_common::now_ms();
            let bytes = ucx_schemas::encode_beat(&beat).expect("encodable");
            (beat.envelope.installation_id, bytes)
        })
        .collect();
    let avro_bytes =
        sample.iter().map(|(_, b)| b.len()).sum::<usize>() as f64 / sample.len() as f64;
    report.figure("bytes", "avro_bytes_per_beat", avro_bytes);

    // 1. Raw limits.
    eprintln!("bench: raw broker limit ({} records)", args.raw_records);
    let (produced, consumed) = raw::kafka(
        &args.brokers,
        &format!("{run}.raw"),
        PARTITIONS,
        &sample,
        args.raw_records,
    )
    .await?;
    report.throughput("raw", "kafka_produce", &produced);
    report.throughput("raw", "kafka_consume", &consumed);
    eprintln!(
        "bench: raw ClickHouse limit ({} rows)",
        args.raw_records * 2
    );
    let settings = ucx_common::config::ClickHouseSettings {
        url: args.clickhouse_url.clone(),
        database: "ucx_bench_raw".into(),
        ..Default::default()
    };
    ucx_common::clickhouse::ensure_database(&settings).await?;
    let inserted = raw::clickhouse(&settings, args.raw_records * 2, 50_000).await?;
    report.throughput("raw", "clickhouse_insert", &inserted);

    // 2. The gateway alone (with the broker).
    let database = format!("ucx_bench_{}", ucx_common::now_ms() % 100_000_000);
    let beats_topic = format!("{run}.beats");
    let alerts_topic = format!("{run}.alerts");
    // The database, tables and topics, as the sinks would create them (they start later).
    let pipeline_kafka = ucx_common::config::KafkaSettings {
        brokers: args.brokers.clone(),
        topic_partitions: PARTITIONS,
        beats_topic: beats_topic.clone(),
        alerts_topic: alerts_topic.clone(),
        dead_letter_topic: format!("{run}.dead-letters"),
        registry_topic: format!("{run}.registry"),
        changes_topic: format!("{run}.changes"),
        processor_state_topic: format!("{run}.processor-state"),
        client_options: args.client_option.iter().cloned().collect(),
        ..Default::default()
    };
    ucx_common::kafka::ensure_pipeline_topics(&pipeline_kafka).await?;
    let clickhouse = ucx_common::config::ClickHouseSettings {
        url: args.clickhouse_url.clone(),
        database: database.clone(),
        ..Default::default()
    };
    ucx_tables::migrations::apply(&clickhouse).await?;
    let mut gateway_config = ucx_ingest::IngestConfig {
        kafka: pipeline_kafka.clone(),
        ..Default::default()
    };
    gateway_config.ingest.admin_token = Some(ADMIN_TOKEN.into());
    gateway_config.ingest.rate_limit_beats_per_second = 1_000_000;
    gateway_config.ingest.rate_limit_burst = 1_000_000;
    let mut processors_config = ucx_processors::ProcessorConfig {
        kafka: pipeline_kafka.clone(),
        ..Default::default()
    };
    processors_config.processors.heartbeat_timeout_ms = 0;
    let mut sinks_config = ucx_sinks::SinkConfig {
        kafka: pipeline_kafka.clone(),
        clickhouse: clickhouse.clone(),
        ..Default::default()
    };
    if let Some(ms) = args.sinks_batch_timeout_ms {
        sinks_config.sinks.batch_timeout_ms = Duration::from_millis(ms);
    }
    let sinks_batch_timeout = sinks_config.sinks.batch_timeout_ms;
    let start = |config: StageConfig| {
        let mut stage = StageProcess::new(
            config.binary_name(),
            bin_dir.join(config.binary_name()),
            config,
            &log_dir,
        )
        .log_filter("warn");
        stage.start();
        async move {
            stage.wait_ready(Duration::from_secs(300)).await;
            stage
        }
    };
    let gateway = start(StageConfig::Gateway(gateway_config)).await;
    eprintln!("bench: registering {} installations", args.installations);
    let admin = ucx_simulator::provision::Admin {
        client: &client,
        url: &gateway.admin_url(),
        token: ADMIN_TOKEN,
    };
    admin.ensure_customers(args.installations + 2).await?;
    let mut keys = Vec::new();
    for (index, installation) in fleet_installations.iter().enumerate() {
        keys.push(Arc::<str>::from(
            admin.key_for(index, &installation.id).await?,
        ));
    }
    let probe_index = args.installations; // a Gold customer's server (index % 3 == 1)
    let probe_index = probe_index + (4 - probe_index % 3) % 3;
    let probe_id = format!("inst-probe-{probe_index}");
    let probe_key = admin.key_for(probe_index, &probe_id).await?;
    if args.register > 0 {
        register_idle(&admin, args.register, args.concurrency, &mut report).await?;
        report.figure(
            "registry",
            "gateway_rss_mib_after_registering",
            stages::rss_mib(pid(&gateway)),
        );
    }
    let mut fleet = load::Fleet::new(std::mem::take(&mut fleet_installations), keys);
    let beats_url = format!("{}/v1/beats", gateway.url());

    let gateway_cpu = cpu_seconds(pid(&gateway));
    eprintln!("bench: gateway, {} single-beat requests", args.single_beats);
    let single = load::post_all(
        &client,
        &beats_url,
        fleet.requests(args.single_beats, 1),
        args.concurrency,
        Duration::from_secs(120),
        None,
    )
    .await;
    report.load("gateway", "single", &single);
    eprintln!(
        "bench: gateway, {} beats in batches of {}",
        args.batched_beats, args.batch
    );
    let requests = fleet.requests(args.batched_beats, args.batch);
    let batched = load::post_all(
        &client,
        &beats_url,
        requests,
        args.concurrency,
        Duration::from_secs(120),
        None,
    )
    .await;
    report.load("gateway", "batched", &batched);
    report.figure(
        "gateway",
        "cpu_ms_per_1000_beats",
        1e6 * (cpu_seconds(pid(&gateway)) - gateway_cpu) / (single.beats + batched.beats) as f64,
    );
    report.figure(
        "bytes",
        "json_bytes_per_beat",
        batched.body_bytes as f64 / batched.beats as f64,
    );

    // 3. Consumers working through that backlog: their own throughput.
    let backlog = (single.beats + batched.beats) as i64;
    let (sinks, ready) = seconds_of(start(StageConfig::Sinks(sinks_config))).await;
    report.figure("startup", "sinks_ready_seconds", ready);
    let (processors, ready) = seconds_of(start(StageConfig::Processors(processors_config))).await;
    report.figure("startup", "processors_ready_seconds", ready);
    // Timed from the sinks' first commit (joining the group takes seconds on tansu) to their
    // last: the beats they worked through in between, per second. (The processors commit their
    // first offsets only after restoring state, by when most of the backlog is done: their
    // figure would mean nothing.)
    let started = Instant::now();
    let mut first: Option<(Instant, i64)> = None;
    let mut drained = None;
    while drained.is_none() && started.elapsed() < Duration::from_secs(300) {
        if let Some(lag) = group_lag(&args.brokers, "ucx-sinks-clickhouse", &beats_topic).await {
            let (since, lag_then) = *first.get_or_insert((Instant::now(), lag));
            if lag == 0 {
                drained = Some(lag_then as f64 / since.elapsed().as_secs_f64().max(0.001));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.figure("backlog", "beats", backlog as f64);
    if let Some(rate) = drained {
        report.figure("backlog", "sinks_beats_per_second", rate);
    }

    // 4. Latency through the quiet pipeline.
    let ch = ucx_common::clickhouse::client(&ucx_common::config::ClickHouseSettings {
        url: args.clickhouse_url.clone(),
        database: database.clone(),
        ..Default::default()
    });
    let probe = probe::Probe {
        client: client.clone(),
        url: beats_url.clone(),
        key: probe_key.clone(),
        installation_id: probe_id.clone(),
        clickhouse: ch.clone(),
        brokers: args.brokers.clone(),
        alerts_topic: alerts_topic.clone(),
        partitions: PARTITIONS,
    };
    let probe_interval = Duration::from_millis(args.probe_interval_ms);
    eprintln!(
        "bench: latency probes through the quiet pipeline, {} s",
        args.quiet_seconds
    );
    let quiet = probe
        .run(Duration::from_secs(args.quiet_seconds), probe_interval)
        .await?;
    report.latencies("quiet", &quiet);

    // 5. End to end under sustained load, with latency probes.
    let pids: Vec<(&str, i32)> = [
        Some(("gateway", pid(&gateway))),
        Some(("processors", pid(&processors))),
        Some(("sinks", pid(&sinks))),
        args.services_dir
            .as_deref()
            .and_then(|d| service_pid(d, "tansu"))
            .map(|p| ("broker", p)),
        args.services_dir
            .as_deref()
            .and_then(|d| service_pid(d, "clickhouse"))
            .map(|p| ("clickhouse", p)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let cpu_before: Vec<f64> = pids.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
    let rows_before = stored_rows(&ch, &database).await?;
    let e2e_limit = Duration::from_secs(args.e2e_seconds);
    let e2e_beats = (args.e2e_seconds as f64 * batched.beats_per_second() * 1.2) as usize;
    let requests = fleet.requests(e2e_beats, args.batch);
    eprintln!(
        "bench: end to end, {} s of batched load with latency probes",
        args.e2e_seconds
    );
    let probes = tokio::spawn(async move { probe.run(e2e_limit, probe_interval).await });
    let profiling = match &args.profile {
        Some(dir) => stages::profile(dir, &pids[..3], e2e_limit)?,
        None => Vec::new(),
    };
    let e2e_started = Instant::now();
    let sustained = load::post_all(
        &client,
        &beats_url,
        requests,
        args.concurrency,
        e2e_limit,
        None,
    )
    .await;
    let posted_for = e2e_started.elapsed().as_secs_f64();
    for mut recorder in profiling {
        recorder.wait()?;
    }
    let sinks_lag_at_end = group_lag(&args.brokers, "ucx-sinks-clickhouse", &beats_topic)
        .await
        .unwrap_or(-1);
    // The rows of the load, once the sinks caught up.
    let mut drained_after = None;
    while drained_after.is_none()
        && e2e_started.elapsed() < Duration::from_secs(args.e2e_seconds + 300)
    {
        if group_lag(&args.brokers, "ucx-sinks-clickhouse", &beats_topic).await == Some(0) {
            drained_after = Some(e2e_started.elapsed().as_secs_f64());
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let rows_after = stored_rows(&ch, &database).await?;
    let drained_after = drained_after.unwrap_or(f64::NAN);
    let latencies = probes.await??;
    report.load("e2e", "posted", &sustained);
    report.figure(
        "e2e",
        "sinks_lag_when_load_stopped",
        sinks_lag_at_end as f64,
    );
    report.figure("e2e", "seconds_until_stored", drained_after);
    report.figure(
        "e2e",
        "processors_lag_when_stored",
        group_lag(&args.brokers, "ucx-processors", &beats_topic)
            .await
            .unwrap_or(-1) as f64,
    );
    report.figure("e2e", "rows_stored", (rows_after - rows_before) as f64);
    report.figure(
        "e2e",
        "rows_per_second",
        (rows_after - rows_before) as f64 / drained_after,
    );
    report.figure(
        "e2e",
        "beats_per_second_stored",
        sustained.beats as f64 / drained_after,
    );
    report.figure(
        "e2e",
        "rows_per_beat",
        (rows_after - rows_before) as f64 / sustained.beats as f64,
    );
    report.latencies("e2e", &latencies);
    for ((name, pid), before) in pids.iter().zip(&cpu_before) {
        report.figure(
            "cpu",
            &format!("{name}_cpu_ms_per_1000_beats"),
            1e6 * (cpu_seconds(*pid) - before) / sustained.beats as f64,
        );
        report.figure("rss", &format!("{name}_peak_mib"), peak_rss_mib(*pid));
    }
    let (bytes, rows) = disk_usage(&ch, &database).await?;
    report.figure(
        "bytes",
        "clickhouse_bytes_per_row",
        bytes as f64 / rows.max(1) as f64,
    );
    report.figure(
        "bytes",
        "clickhouse_bytes_per_beat",
        bytes as f64 * (rows_after - rows_before) as f64
            / rows.max(1) as f64
            / sustained.beats as f64,
    );

    // 6. Fleet scale: the installations the stored rate carries, checked by a paced run.
    let stored_rate = sustained.beats as f64 / drained_after;
    let installations = (stored_rate * 60.0 / BEATS_PER_INSTALLATION_MINUTE).floor();
    let pace = installations * BEATS_PER_INSTALLATION_MINUTE / 60.0 * 0.9;
    eprintln!("bench: fleet scale, 20 s paced at {pace:.0} beats/s");
    let requests = fleet.requests((pace * 25.0) as usize, args.batch);
    let paced = load::post_all(
        &client,
        &beats_url,
        requests,
        args.concurrency,
        Duration::from_secs(20),
        Some(pace),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lag_after_paced = group_lag(&args.brokers, "ucx-sinks-clickhouse", &beats_topic)
        .await
        .unwrap_or(-1);
    report.figure("fleet", "installations_at_stored_rate", installations);
    report.figure("fleet", "paced_beats_per_second", paced.beats_per_second());
    report.figure(
        "fleet",
        "paced_installations",
        paced.beats_per_second() * 60.0 / BEATS_PER_INSTALLATION_MINUTE,
    );
    // The same run counted at the cadence of the beats it posted (the simulator's).
    let cadence = fleet.beats_per_installation_minute();
    report.figure("fleet", "fleet_cadence_beats_per_minute", cadence);
    report.figure(
        "fleet",
        "installations_at_stored_rate_fleet_cadence",
        (stored_rate * 60.0 / cadence).floor(),
    );
    report.figure(
        "fleet",
        "paced_installations_fleet_cadence",
        paced.beats_per_second() * 60.0 / cadence,
    );
    report.figure(
        "fleet",
        "sinks_lag_2s_after_paced_run",
        lag_after_paced as f64,
    );
    report.figure("rss", "gateway_peak_mib_final", peak_rss_mib(pid(&gateway)));

    // Ratios.
    let slower_raw_beats = (produced.per_second())
        .min(inserted.per_second() / report.get("e2e", "rows_per_beat").max(1.0));
    report.figure("ratio", "raw_limit_beats_per_second", slower_raw_beats);
    report.figure(
        "ratio",
        "e2e_over_raw_limit",
        stored_rate / slower_raw_beats,
    );
    report.figure(
        "ratio",
        "gateway_over_raw_produce",
        batched.beats_per_second() / produced.per_second(),
    );
    report.figure("meta", "load_seconds", posted_for);
    report.figure(
        "meta",
        "sinks_batch_timeout_ms",
        sinks_batch_timeout.as_millis() as f64,
    );

    print!("{}", report.render());
    if let Some(path) = &args.json {
        std::fs::write(path, report.json())?;
    }
    drop((gateway, processors, sinks));
    Ok(())
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Records waiting for `group` on `topic`: the high watermarks minus the committed offsets
/// (`None` while the group has committed nothing).
async fn group_lag(brokers: &str, group: &str, topic: &str) -> Option<i64> {
    let (brokers, group, topic) = (brokers.to_string(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .create()
            .ok()?;
        let mut partitions = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            partitions.add_partition(&topic, partition);
        }
        let committed = consumer
            .committed_offsets(partitions, Duration::from_secs(5))
            .ok()?;
        let mut lag = 0;
        for element in committed.elements() {
            let (_, high) = consumer
                .fetch_watermarks(&topic, element.partition(), Duration::from_secs(5))
                .ok()?;
            match element.offset() {
                Offset::Offset(offset) => lag += (high - offset).max(0),
                _ if high == 0 => {}
                _ => return None,
            }
        }
        Some(lag)
    })
    .await
    .ok()
    .flatten()
}

/// Rows in every table of the database (active parts).
async fn stored_rows(client: &clickhouse::Client, database: &str) -> anyhow::Result<i64> {
    Ok(client
        .query("SELECT toInt64(sum(rows)) FROM system.parts WHERE active AND database = ?")
        .bind(database)
        .fetch_one::<i64>()
        .await?)
}

/// Bytes on disk and rows of the beat tables (everything but alerts, changes and bookkeeping).
async fn disk_usage(client: &clickhouse::Client, database: &str) -> anyhow::Result<(u64, u64)> {
    Ok(client
        .query(
            "SELECT toUInt64(sum(bytes)), toUInt64(sum(rows)) FROM system.parts \
             WHERE active AND database = ? AND table NOT IN ('alerts', 'installation_changes', 'notifications', 'schema_migrations', 'purges')",
        )
        .bind(database)
        .fetch_one::<(u64, u64)>()
        .await?)
}

/// Registers `count` installations that never post (`inst-idle-NNNNNN`, spread over the
/// simulator's customers), `concurrency` at a time, and notes how fast.
async fn register_idle(
    admin: &ucx_simulator::provision::Admin<'_>,
    count: usize,
    concurrency: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    eprintln!("bench: registering {count} idle installations");
    admin.ensure_customers(count).await?;
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|index| async move { admin.key_for(index, &format!("inst-idle-{index:06}")).await })
        .buffer_unordered(concurrency)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    report.figure("registry", "idle_installations", count as f64);
    report.figure(
        "registry",
        "registrations_per_second",
        count as f64 / seconds,
    );
    Ok(())
}

/// What `work` gives and the seconds it took.
async fn seconds_of<T>(work: impl std::future::Future<Output = T>) -> (T, f64) {
    let started = Instant::now();
    let done = work.await;
    (done, started.elapsed().as_secs_f64())
}
