//! Every panel of every dashboard returns rows when its SQL, with Grafana's macros expanded as
//! the ClickHouse datasource plugin does, runs against the real ClickHouse with pipeline data.

use std::path::PathBuf;
use std::time::Duration;

use ucx_e2e::{post_every_example, query, start_pipeline, wait_until, Services};

/// Expands the plugin's time macros for the range `from`..`to` (epoch seconds).
fn expand_macros(sql: &str, from: i64, to: i64) -> String {
    let mut expanded = sql
        .replace("$__fromTime", &format!("toDateTime({from})"))
        .replace("$__toTime", &format!("toDateTime({to})"));
    while let Some(start) = expanded.find("$__timeFilter(") {
        let argument_start = start + "$__timeFilter(".len();
        let end = argument_start
            + expanded[argument_start..]
                .find(')')
                .expect("closing parenthesis");
        let column = expanded[argument_start..end].to_string();
        let condition = format!("{column} >= toDateTime({from}) AND {column} <= toDateTime({to})");
        expanded.replace_range(start..=end, &condition);
    }
    assert!(
        !expanded.contains("$__"),
        "a macro the test does not expand: {expanded}"
    );
    expanded
}

fn panel_queries() -> Vec<(String, String)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
    let mut queries = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                if target["datasource"]["type"] == "grafana-clickhouse-datasource" {
                    let name = format!(
                        "{} / {} / {}",
                        dashboard["title"], panel["title"], target["refId"]
                    );
                    queries.push((name, target["rawSql"].as_str().unwrap().to_string()));
                }
            }
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_returns_rows() {
    let queries = panel_queries();
    assert!(
        queries.len() >= 6,
        "found only {} panel queries",
        queries.len()
    );

    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "dashboards").await;
    for installation in ["inst-dash-01", "inst-dash-02"] {
        post_every_example(&pipeline.gateway.url, installation).await;
    }
    wait_until(
        "rows of every table, alerts included",
        Duration::from_secs(60),
        || async {
            query(
                &pipeline.clickhouse,
                "SELECT (SELECT count() FROM ucx_acd) = 2 \
                 AND (SELECT uniqExact(installation_id) FROM alerts) = 2",
            )
            .await
            .is_ok_and(|answer| answer.trim() == "1")
        },
    )
    .await;

    let now = ucx_common::now_ms() / 1000;
    for (name, sql) in queries {
        let expanded = expand_macros(&sql, now - 3600, now + 60);
        let rows = query(&pipeline.clickhouse, &expanded)
            .await
            .unwrap_or_else(|error| panic!("{name} fails: {error}\n{expanded}"));
        assert!(
            !rows.trim().is_empty(),
            "{name} returns no rows:\n{expanded}"
        );
    }
}

#[test]
fn time_filter_expands_like_the_plugin() {
    assert_eq!(
        expand_macros("SELECT 1 WHERE $__timeFilter(sent_at) AND x < $__toTime", 10, 20),
        "SELECT 1 WHERE sent_at >= toDateTime(10) AND sent_at <= toDateTime(20) AND x < toDateTime(20)"
    );
}

/// Prometheus' config and the pipeline's alerting rules load (`promtool check config` also
/// checks every rule file it names).
#[test]
fn the_prometheus_config_and_its_alerting_rules_pass_promtool() {
    let services = Services::from_env();
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards/prometheus/prometheus.yml");
    let output = std::process::Command::new(&services.promtool)
        .args(["check", "config"])
        .arg(&config)
        .output()
        .expect("running promtool");
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("SUCCESS: 6 rules found"), "{report}");
}
