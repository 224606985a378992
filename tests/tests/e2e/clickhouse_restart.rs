//! A ClickHouse crash mid-stream loses nothing: while the server is down the sink keeps retrying
//! its batch and commits nothing (the backlog waits in Kafka, and the sink's lag counts it); once
//! the server is back every beat posted before, during and after the outage is stored, exactly
//! once in `FINAL`.

use std::time::Duration;

use ucx_e2e::{
    example_beat, metric_sum, metrics_text, post_beat, query, start_gateway, start_sinks, unique,
    wait_until, OwnClickHouse, Services,
};
use ucx_schemas::Category;

const BEATS_PER_PHASE: usize = 40;

async fn post_beats(gateway: &str, count: usize) {
    for _ in 0..count {
        let beat = example_beat(Category::UcxSuiteAcd, "inst-ch-restart");
        assert_eq!(post_beat(gateway, &beat).await.status(), 202);
    }
}

fn failures(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with("sink_clickhouse_insert_failures_total{table=\"ucx_acd\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |value| value.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_restart_mid_stream_loses_nothing() {
    let services = Services::from_env();
    let mut server = OwnClickHouse::start("ch-restart").await;
    let clickhouse = server.settings("ch-restart");
    let kafka = services.kafka("ch-restart");
    let mut config = ucx_sinks::SinkConfig {
        kafka: kafka.clone(),
        clickhouse: clickhouse.clone(),
        ..Default::default()
    };
    config.sinks.group_id = unique("ch-restart");
    config.sinks.batch_timeout_ms = Duration::from_millis(100);
    config.sinks.retry_backoff_max_ms = Duration::from_millis(500);
    let sinks = start_sinks(config).await;
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka,
        ..Default::default()
    })
    .await;
    let stored = || async {
        query(&clickhouse, "SELECT uniqExact(beat_id) FROM ucx_acd")
            .await
            .map(|n| n.trim().parse::<usize>().unwrap())
    };

    post_beats(&gateway.url, BEATS_PER_PHASE).await;
    wait_until(
        "the first beats stored",
        Duration::from_secs(60),
        || async { stored().await.is_ok_and(|n| n == BEATS_PER_PHASE) },
    )
    .await;

    // Down: the gateway still accepts (Kafka holds the records), the sink's inserts fail.
    server.kill();
    post_beats(&gateway.url, BEATS_PER_PHASE).await;
    wait_until(
        "the sink to meet the outage",
        Duration::from_secs(30),
        || async { failures(&metrics_text(&sinks.url).await) >= 2 },
    )
    .await;

    // While the sink is stuck retrying, its lag still says how far behind it is: measured
    // against the broker's high watermark although the stuck consumer polls nothing.
    post_beats(&gateway.url, BEATS_PER_PHASE).await;
    wait_until(
        "the stuck sink's lag to count every beat posted during the outage",
        Duration::from_secs(30),
        || async {
            metric_sum(&sinks.url, "ucx_consumer_lag{").await >= (2 * BEATS_PER_PHASE) as f64
        },
    )
    .await;

    server.restart().await;
    post_beats(&gateway.url, BEATS_PER_PHASE).await;
    wait_until(
        "every beat stored after the restart",
        Duration::from_secs(90),
        || async { stored().await.is_ok_and(|n| n == 4 * BEATS_PER_PHASE) },
    )
    .await;
    let visible = query(&clickhouse, "SELECT count() FROM ucx_acd FINAL")
        .await
        .unwrap();
    assert_eq!(visible.trim(), (4 * BEATS_PER_PHASE).to_string());
    let metrics = metrics_text(&sinks.url).await;
    println!(
        "insert attempts that failed during the outage: {}",
        failures(&metrics)
    );
    sinks.stop().await.unwrap();
}
