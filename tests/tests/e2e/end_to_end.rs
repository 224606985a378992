//! Beats posted over HTTP reach the real ClickHouse, and a disk running out of space raises an
//! alert on the alerts topic and in ClickHouse.

use std::time::{Duration, Instant};

use ucx_e2e::{
    alerts_on, example_beat, fault_example_beat, post_beat, post_every_example, query, read_topic,
    start_pipeline, wait_until, Pipeline, Services,
};
use ucx_schemas::{AlertState, Category, Severity};

const ROWS_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_reach_clickhouse_and_a_filling_disk_raises_an_alert() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "e2e").await;
    let gateway = &pipeline.gateway.url;
    let installation = "inst-e2e-01";

    // One beat of every category, each answered 202 only after the broker acknowledged it.
    let beat_ids = post_every_example(gateway, installation).await;

    let clickhouse = &pipeline.clickhouse;
    wait_until("every example beat's rows in clickhouse", ROWS_TIMEOUT, || async {
        let counts = query(
            clickhouse,
            "SELECT (SELECT count() FROM hardware_disks), (SELECT count() FROM running_processes), (SELECT count() FROM ucx_acd)",
        )
        .await
        .unwrap_or_default();
        counts.trim() == "2\t2\t1"
    })
    .await;

    // The values arrive intact, with the envelope on every row.
    let disks = query(
        clickhouse,
        "SELECT installation_id, node_id, region, toString(beat_id), disk_name, size_bytes, free_bytes \
         FROM hardware_disks ORDER BY disk_name",
    )
    .await
    .unwrap();
    assert_eq!(
        disks,
        format!(
            "{installation}\tnode-1\tEU\t{id}\tC:\t107374182400\t32212254720\n\
             {installation}\tnode-1\tEU\t{id}\tD:\t214748364800\t128849018880\n",
            id = beat_ids[&Category::HardwareInfoDisks]
        )
    );
    let processes = query(
        clickhouse,
        "SELECT process_name, memory_bytes, handle_count, thread_count, cpu_percent FROM running_processes ORDER BY pid",
    )
    .await
    .unwrap();
    assert_eq!(
        processes,
        "sqlservr.exe\t2147483648\t1210\t88\t12.5\nApolloService.exe\t536870912\t930\t41\t3\n"
    );
    let acd = query(
        clickhouse,
        "SELECT fifo_queued_calls, camp_on_queued_calls, active_consultation_calls FROM ucx_acd",
    )
    .await
    .unwrap();
    assert_eq!(acd, "4\t1\t2\n");

    // The examples are a healthy server's. The fault example's D: has 5 % free: below the 15 %
    // warning threshold, not below 5 % critical. Its alert is judged after every example before
    // it (one installation: one partition, in order), so the examples' silence is known then.
    let fault = fault_example_beat(Category::HardwareInfoDisks, installation);
    assert_eq!(post_beat(gateway, &fault).await.status(), 202);
    let disk_alerts = || {
        alerts_on(&pipeline.kafka, Duration::from_secs(2))
            .into_iter()
            .filter(|alert| alert.rule_id == "disk_free_low")
            .collect::<Vec<_>>()
    };
    let mut alerts = Vec::new();
    wait_until("the disk alert", ROWS_TIMEOUT, || {
        alerts = disk_alerts();
        std::future::ready(!alerts.is_empty())
    })
    .await;
    assert_eq!(alerts.len(), 1, "one disk alert on the alerts topic");
    let opened: Vec<String> = alerts_on(&pipeline.kafka, Duration::from_secs(2))
        .iter()
        .map(|alert| format!("{} {}", alert.rule_id, alert.subject))
        .collect();
    assert_eq!(
        opened,
        ["disk_free_low disk D:"],
        "the healthy examples opened nothing"
    );
    let alert = alerts[0].clone();
    assert_eq!(alert.installation_id, installation);
    assert_eq!(alert.rule_id, "disk_free_low");
    assert_eq!(alert.subject, "disk D:");
    assert_eq!(alert.severity, Severity::Warning);
    assert_eq!(alert.state, AlertState::Open);
    assert_eq!(alert.beat_id, fault["beat_id"].as_str().unwrap());
    assert!(
        (alert.observed_value - 5.0).abs() < 1e-9,
        "{}",
        alert.observed_value
    );

    wait_until("the alert's row in clickhouse", ROWS_TIMEOUT, || async {
        query(
            clickhouse,
            "SELECT count() FROM alerts WHERE rule_id = 'disk_free_low'",
        )
        .await
        .is_ok_and(|n| n.trim() == "1")
    })
    .await;
    let alert_row = query(
        clickhouse,
        "SELECT alert_id, rule_id, subject, severity, state FROM alerts WHERE rule_id = 'disk_free_low'",
    )
    .await
    .unwrap();
    assert_eq!(
        alert_row,
        format!(
            "{}\tdisk_free_low\tdisk D:\tWARNING\tOPEN\n",
            alert.alert_id
        )
    );

    // The disk recovers: the alert resolves, under the same id.
    let mut recovered = example_beat(Category::HardwareInfoDisks, installation);
    recovered["data"]["disks"][1]["free_bytes"] = serde_json::json!(107374182400_i64);
    assert_eq!(post_beat(gateway, &recovered).await.status(), 202);
    wait_until("the disk alert's resolution", ROWS_TIMEOUT, || {
        alerts = disk_alerts();
        std::future::ready(alerts.len() >= 2)
    })
    .await;
    assert_eq!(alerts.len(), 2);
    let resolution = alerts[1].clone();
    assert_eq!(
        (resolution.alert_id.as_str(), resolution.state),
        (alert.alert_id.as_str(), AlertState::Resolved)
    );

    // One beat's latency from POST to queryable row (sink batches time out after 200 ms here).
    let beat = example_beat(Category::UcxSuiteAcd, installation);
    let sql = format!(
        "SELECT count() FROM ucx_acd WHERE beat_id = toUUID('{}')",
        beat["beat_id"].as_str().unwrap()
    );
    let posted = Instant::now();
    assert_eq!(post_beat(gateway, &beat).await.status(), 202);
    let acknowledged = posted.elapsed();
    wait_until("the latency beat's row", ROWS_TIMEOUT, || async {
        query(clickhouse, &sql).await.is_ok_and(|n| n.trim() == "1")
    })
    .await;
    eprintln!(
        "one beat: acknowledged after {} ms, queryable after {} ms",
        acknowledged.as_millis(),
        posted.elapsed().as_millis()
    );

    // Both consumers publish their lag (librdkafka statistics every 5 s), so the
    // expositions checked below include the gauges.
    let lag_series = [
        (&pipeline.processors.url, "ucx_consumer_lag{"),
        (&pipeline.sinks.url, "ucx_consumer_lag{"),
    ];
    for (url, series) in lag_series {
        wait_until(series, Duration::from_secs(15), || async {
            ucx_e2e::metrics_text(url).await.contains(series)
        })
        .await;
    }

    // Every service's /metrics is valid Prometheus text and counts what happened.
    for stage in [&pipeline.gateway, &pipeline.processors, &pipeline.sinks] {
        let exposition = ucx_e2e::metrics_text(&stage.url).await;
        ucx_e2e::promtool_check(&services.promtool, &exposition).unwrap_or_else(|complaints| {
            panic!("promtool rejects {}/metrics:\n{complaints}", stage.url)
        });
        let health = reqwest::get(format!("{}/health", stage.url)).await.unwrap();
        assert_eq!(health.status(), 200);
    }
    // The gateway's public listener serves beats, not the operator's endpoints.
    for path in ["/metrics", "/ready", "/v1/admin/customers"] {
        let public = reqwest::get(format!("{}{path}", pipeline.gateway.url))
            .await
            .unwrap();
        assert_eq!(public.status(), 404, "{path} on the public listener");
        let admin = reqwest::Client::new()
            .get(format!("{}{path}", pipeline.gateway.admin_url))
            .bearer_auth(ucx_e2e::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "{path} on the admin listener");
    }
    let gateway_metrics = ucx_e2e::metrics_text(gateway).await;
    assert!(
        gateway_metrics.contains("ingest_beats_accepted_total{category=\"hardware_info.disks\"} 3"),
        "{gateway_metrics}"
    );
    // Every alert on the topic (the disk's opening and resolution) became a row.
    let all_alerts = read_topic(
        &pipeline.kafka.brokers,
        &pipeline.kafka.alerts_topic,
        usize::MAX,
        Duration::from_secs(2),
    )
    .len();
    let sink_metrics = ucx_e2e::metrics_text(&pipeline.sinks.url).await;
    assert!(
        sink_metrics.contains(&format!(
            "sink_clickhouse_rows_written_total{{table=\"alerts\"}} {all_alerts}"
        )),
        "{all_alerts} alerts: {sink_metrics}"
    );

    // A clean stop of every stage.
    let Pipeline {
        gateway,
        processors,
        sinks,
        ..
    } = pipeline;
    gateway.stop().await.expect("gateway stops cleanly");
    processors.stop().await.expect("processors stop cleanly");
    sinks.stop().await.expect("sinks stop cleanly");
}
