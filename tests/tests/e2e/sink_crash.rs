//! At-least-once with invisible duplicates, under crashes: the sink runs as a process of its
//! own, works through a backlog in small batches, and is killed with SIGKILL right after one of
//! its inserts landed (three times); after a restart every beat is stored. Then a replay with a
//! fresh consumer group writes every batch again, as a crash between insert and commit would,
//! and `FINAL` still shows exactly one copy of each beat.

use std::time::Duration;

use ucx_common::config::{ClickHouseSettings, KafkaSettings};
use ucx_e2e::process::{StageConfig, StageProcess};
use ucx_e2e::{example_beat, post_beat, query, start_gateway, unique, wait_until, Services};
use ucx_schemas::Category;

const BEATS: usize = 400;

/// A sink process in consumer `group`, in small batches; killed with SIGKILL when dropped.
async fn start_sink(
    kafka: &KafkaSettings,
    clickhouse: &ClickHouseSettings,
    group: &str,
    dir: &std::path::Path,
) -> StageProcess {
    let mut config = ucx_sinks::SinkConfig {
        kafka: kafka.clone(),
        clickhouse: clickhouse.clone(),
        ..Default::default()
    };
    config.sinks.group_id = group.to_string();
    config.sinks.batch_timeout_ms = Duration::from_millis(100);
    config.sinks.batch_max_rows = 20.try_into().unwrap();
    let mut sink = StageProcess::new(
        "sink",
        env!("CARGO_BIN_EXE_ucx-e2e-sink"),
        StageConfig::Sinks(config),
        dir,
    )
    .log_filter("warn");
    sink.start();
    sink.wait_ready(Duration::from_secs(60)).await;
    sink
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

    // A killed member stays in its group until its session times out
    // (`consumer_session_timeout_ms`, 6 s): then the restarted sink takes over.
    let dir = std::env::temp_dir().join(&group);
    std::fs::create_dir_all(&dir).unwrap();

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
        let mut sink = start_sink(&kafka, &clickhouse, &group, &dir).await;
        wait_until(
            "the restarted sink to insert",
            Duration::from_secs(40),
            || async { rows().await > before },
        )
        .await;
        sink.kill9();
        kills += 1;
    }
    let mut sink = start_sink(&kafka, &clickhouse, &group, &dir).await;
    wait_until(
        "every beat to be stored",
        Duration::from_secs(60),
        all_stored,
    )
    .await;
    sink.kill9();
    let after_kills: usize = rows().await;

    // A crash between insert and commit redelivers the whole batch. Replaying the topic with a
    // fresh consumer group does that for every batch at once: every row is written again
    // (merges may collapse the copies at any time, so the sink's own count says so).
    let mut replay = start_sink(&kafka, &clickhouse, &unique("sink-replay"), &dir).await;
    let written = format!("sink_clickhouse_rows_written_total{{table=\"ucx_acd\"}} {BEATS}");
    wait_until(
        "the replay to write every beat again",
        Duration::from_secs(60),
        || async {
            match reqwest::get(format!("{}/metrics", replay.url())).await {
                Ok(response) => response.text().await.unwrap_or_default().contains(&written),
                Err(_) => false,
            }
        },
    )
    .await;
    replay.kill9();
    let copies = rows().await;
    let visible = query(&clickhouse, "SELECT count() FROM ucx_acd FINAL")
        .await
        .unwrap();
    println!(
        "{kills} kills: {BEATS} beats, {after_kills} rows after the kills, {BEATS} written again by the replay, {copies} rows unmerged, {} visible with FINAL",
        visible.trim()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(kills >= 2, "the sink was killed mid-stream");
    assert!(copies >= BEATS);
    assert_eq!(
        visible.trim(),
        BEATS.to_string(),
        "exactly one logical copy"
    );
}
