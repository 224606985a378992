//! At-least-once with invisible duplicates, under crashes: the sink runs as a process of its
//! own, works through a backlog in small batches, and is killed with SIGKILL right after one of
//! its inserts landed (three times); after a restart every beat is stored. Then a replay with a
//! fresh consumer group writes every batch again, as a crash between insert and commit would,
//! and `FINAL` still shows exactly one copy of each beat.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ucx_e2e::{example_beat, post_beat, query, start_gateway, unique, wait_until, Services};
use ucx_schemas::Category;

const BEATS: usize = 400;

/// The sink process; killed on drop too, so a failing test leaves no process behind.
struct SinkProcess(Child);

impl SinkProcess {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_sink(
    kafka: &ucx_common::config::KafkaSettings,
    clickhouse: &ucx_common::config::ClickHouseSettings,
    group: &str,
    config: &std::path::Path,
    listen: &str,
) -> SinkProcess {
    SinkProcess(
        Command::new(env!("CARGO_BIN_EXE_ucx-e2e-sink"))
            .env("UCX_CONFIG", config)
            .env("UCX_KAFKA__BROKERS", &kafka.brokers)
            .env("UCX_KAFKA__BEATS_TOPIC", &kafka.beats_topic)
            .env("UCX_KAFKA__ALERTS_TOPIC", &kafka.alerts_topic)
            .env("UCX_KAFKA__DEAD_LETTER_TOPIC", &kafka.dead_letter_topic)
            .env("UCX_KAFKA__REGISTRY_TOPIC", &kafka.registry_topic)
            .env("UCX_CLICKHOUSE__URL", &clickhouse.url)
            .env("UCX_CLICKHOUSE__DATABASE", &clickhouse.database)
            .env("UCX_SINKS__LISTEN", listen)
            .env("UCX_SINKS__GROUP_ID", group)
            .env("UCX_SINKS__BATCH_TIMEOUT_MS", "100")
            .env("UCX_SINKS__BATCH_MAX_ROWS", "20")
            .env("UCX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test sink binary starts"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_killed_mid_stream_leaves_exactly_one_copy_of_every_beat() {
    let services = Services::from_env();
    let kafka = services.kafka("sink-crash");
    let clickhouse = services.clickhouse("sink-crash");
    let group = unique("sink-crash");
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    })
    .await;

    // A killed member stays in its group until its session times out (45 s by default, on
    // Apache Kafka too): a short session lets the restarted sink take over quickly.
    let config = std::env::temp_dir().join(format!("{group}.toml"));
    std::fs::write(
        &config,
        "[kafka.client_options]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n",
    )
    .unwrap();

    // A backlog on the topic first, so the sink inserts batch after batch once it runs.
    for _ in 0..BEATS / 10 {
        let batch: Vec<_> = (0..10)
            .map(|_| example_beat(Category::UcxSuiteAcd, "inst-crash"))
            .collect();
        let response = post_beat(&gateway.url, &serde_json::Value::Array(batch)).await;
        assert_eq!(response.status(), 202);
    }
    let rows = || async {
        query(&clickhouse, "SELECT count() FROM ucx_acd")
            .await
            .map(|count| count.trim().parse::<usize>().unwrap())
            .unwrap_or(0)
    };
    // Kill it the moment an insert has landed: mostly before its offsets are committed.
    let distinct = "SELECT uniqExact(beat_id) FROM ucx_acd";
    let all_stored = || async {
        query(&clickhouse, distinct)
            .await
            .is_ok_and(|count| count.trim() == BEATS.to_string())
    };
    let mut kills = 0;
    while kills < 3 && !all_stored().await {
        let before = rows().await;
        let mut sink = start_sink(&kafka, &clickhouse, &group, &config, "127.0.0.1:0");
        wait_until(
            "the restarted sink to insert",
            Duration::from_secs(40),
            || async { rows().await > before },
        )
        .await;
        sink.kill();
        kills += 1;
    }
    let mut sink = start_sink(&kafka, &clickhouse, &group, &config, "127.0.0.1:0");
    wait_until(
        "every beat to be stored",
        Duration::from_secs(60),
        all_stored,
    )
    .await;
    sink.kill();
    let after_kills: usize = rows().await;

    // A crash between insert and commit redelivers the whole batch. Replaying the topic with a
    // fresh consumer group does that for every batch at once: every row is written again
    // (merges may collapse the copies at any time, so the sink's own count says so).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut replay = start_sink(
        &kafka,
        &clickhouse,
        &unique("sink-replay"),
        &config,
        &listen,
    );
    let written = format!("sink_clickhouse_rows_written_total{{table=\"ucx_acd\"}} {BEATS}");
    wait_until(
        "the replay to write every beat again",
        Duration::from_secs(60),
        || async {
            match reqwest::get(format!("http://{listen}/metrics")).await {
                Ok(response) => response.text().await.unwrap_or_default().contains(&written),
                Err(_) => false,
            }
        },
    )
    .await;
    replay.kill();
    let copies = rows().await;
    let visible = query(&clickhouse, "SELECT count() FROM ucx_acd FINAL")
        .await
        .unwrap();
    println!(
        "{kills} kills: {BEATS} beats, {after_kills} rows after the kills, {BEATS} written again by the replay, {copies} rows unmerged, {} visible with FINAL",
        visible.trim()
    );
    let _ = std::fs::remove_file(&config);
    assert!(kills >= 2, "the sink was killed mid-stream");
    assert!(copies >= BEATS);
    assert_eq!(
        visible.trim(),
        BEATS.to_string(),
        "exactly one logical copy"
    );
}
