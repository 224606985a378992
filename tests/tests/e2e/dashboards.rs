//! Every panel of every dashboard returns rows when its SQL, with Grafana's macros expanded as
//! the ClickHouse datasource plugin does, runs against the real ClickHouse with pipeline data.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use ucx_e2e::{
    example_beat, fault_example_beat, installation_key, post_beat, post_every_example,
    post_with_key, query, start_notifier, start_pipeline_with, unique, wait_until, OwnSmtp,
    Services,
};
use ucx_schemas::Category;

/// The installation the per-server dashboard's variable stands for in the test.
const INSTALLATION: &str = "inst-dash-01";

/// What Grafana's `percentencode` variable format makes of a value (`encodeURIComponent` that
/// also encodes `!'()*`): only letters, digits and `-_.~` are left as they are, so the value
/// cannot end the SQL string literal it is put in.
fn percent_encode_strict(value: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, KEPT).to_string()
}

/// Expands the plugin's time macros for the range `from`..`to` (epoch seconds), and the
/// dashboards' variables.
fn expand_macros(sql: &str, from: i64, to: i64) -> String {
    expand_for(sql, INSTALLATION, from, to)
}

/// `expand_macros` with `installation` as the server dashboard's variable.
fn expand_for(sql: &str, installation: &str, from: i64, to: i64) -> String {
    let mut expanded = sql
        .replace(
            "${installation:percentencode}",
            &percent_encode_strict(installation),
        )
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
        !expanded.contains("$__")
            && !expanded.contains("$installation")
            && !expanded.contains("${installation"),
        "a macro or variable the test does not expand (the server dashboard's variable must be \
         decodeURLComponent('${{installation:percentencode}}')): {expanded}"
    );
    expanded
}

/// (panel name, query) of every panel target of `datasource_type` in every dashboard.
fn panel_queries(datasource_type: &str, query_field: &str) -> Vec<(String, String)> {
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
                if target["datasource"]["type"] == datasource_type {
                    let name = format!(
                        "{} / {} / {}",
                        dashboard["title"], panel["title"], target["refId"]
                    );
                    queries.push((name, target[query_field].as_str().unwrap().to_string()));
                }
            }
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_returns_rows() {
    let queries = panel_queries("grafana-clickhouse-datasource", "rawSql");
    assert!(
        queries.len() >= 20,
        "found only {} panel queries",
        queries.len()
    );

    let services = Services::from_env();
    // a shadow rule beside the library in force: the Shadow rules panel's data
    let rules = std::env::temp_dir().join(format!("{}.toml", unique("dashboard-rules")));
    let candidate = ucx_processors::rules::library::BUILT_IN.replacen(
        "warning = { basic = 15, gold = 15, platinum = 20 }",
        "warning = 30",
        1,
    );
    let shadow = "\n[[rule]]\nid = \"disk_free_low_next\"\nversion = 1\nmode = \"shadow\"\n\
                  shadow_of = \"disk_free_low\"\nsignal = \"disk_free_percent\"\nwhen = \"below\"\n\
                  warning = 30\nsummary = \"{subject} has {value}% free\"\nexplanation = \"e\"\n";
    std::fs::write(
        &rules,
        format!("{}{shadow}", ucx_processors::rules::library::BUILT_IN),
    )
    .unwrap();
    let rules_file = rules.clone();
    let pipeline = start_pipeline_with(&services, "dashboards", move |processors| {
        processors.processors.rules_file = Some(rules_file);
    })
    .await;
    // the notifier mails the (Gold) test customer's alerts: the notifications panels' data
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut notifier_config = ucx_notifier::NotifierConfig {
        kafka: pipeline.kafka.clone(),
        clickhouse: pipeline.clickhouse.clone(),
        ..Default::default()
    };
    notifier_config.notifier.group_id = unique("notifier");
    notifier_config.notifier.smtp_port = smtp.port;
    // mail at once: these tests are not about the fleet guard's settle time
    notifier_config.notifier.fleet_settle_s = 0;
    // both installations trip the same rules: fleet incidents for the Fleet incidents panel
    notifier_config.notifier.fleet_min_installations = 2;
    notifier_config.notifier.fleet_share = 0.5;
    notifier_config.notifier.deferred_interval_ms = Duration::from_millis(500);
    let _notifier = start_notifier(notifier_config).await;
    for installation in [INSTALLATION, "inst-dash-02"] {
        post_every_example(&pipeline.gateway.url, installation).await;
        // both examples with faults: alerts for the alert panels, the same rules on both
        for category in [
            Category::HardwareInfoDisks,
            Category::SoftwareInfoWindowsFirewall,
        ] {
            let fault = fault_example_beat(category, installation);
            assert_eq!(post_beat(&pipeline.gateway.url, &fault).await.status(), 202);
        }
    }
    // a change (a newer suite release) and an alert that resolves (a disk filled, then freed)
    let key = installation_key(&pipeline.gateway.url, INSTALLATION).await;
    let mut suite = example_beat(Category::UcxSuiteSuiteInfo, INSTALLATION);
    suite["data"]["version"] = json!("2025.Spring.1");
    let mut disks = example_beat(Category::HardwareInfoDisks, INSTALLATION);
    disks["data"]["disks"] =
        json!([{"name": "Z:", "model": "m", "size_bytes": 100, "free_bytes": 2}]);
    let mut freed = disks.clone();
    freed["data"]["disks"][0]["free_bytes"] = json!(90);
    // a call manager the built-in advisory catalogue knows to be out of support
    let mut voip = example_beat(Category::UcxSuiteVoipArchitecture, INSTALLATION);
    voip["data"]["cucm_version"] = json!("12.5.1.11900");
    for mut beat in [suite, disks, freed, voip] {
        beat["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
        let response = post_with_key(&pipeline.gateway.url, Some(&key), &beat).await;
        assert_eq!(response.status(), 202);
    }
    wait_until(
        "rows of every table, alerts (an advisory's too), changes, notifications and fleet incidents included",
        Duration::from_secs(90),
        || async {
            query(
                &pipeline.clickhouse,
                "SELECT (SELECT count() FROM ucx_acd) = 2 \
                 AND (SELECT uniqExact(installation_id) FROM alerts) = 2 \
                 AND (SELECT count() FROM alerts WHERE state = 'RESOLVED') > 0 \
                 AND (SELECT count() FROM installation_changes) > 0 \
                 AND (SELECT count() FROM notifications) > 0 \
                 AND (SELECT count() FROM fleet_incidents) > 0 \
                 AND (SELECT count() FROM alerts WHERE suppressed_by = 'shadow') > 0 \
                 AND (SELECT count() FROM alerts WHERE rule_id LIKE 'advisory:%') > 0",
            )
            .await
            .is_ok_and(|answer| answer.trim() == "1")
        },
    )
    .await;

    // a backtest stored: the Backtests panel's data
    let candidate_file = std::env::temp_dir().join(format!("{}.toml", unique("candidate")));
    std::fs::write(&candidate_file, candidate).unwrap();
    let backtest = ucx_processors::backtest::cli::Args {
        rules: Some(candidate_file.clone()),
        shadow: false,
        in_force: Some(rules.clone()),
        from: Some("1h".into()),
        to: None,
        installations: Vec::new(),
        labels: None,
        json: None,
        store: true,
        config: None,
    };
    let config = ucx_processors::backtest::cli::BacktestConfig::on(
        pipeline.kafka.clone(),
        pipeline.clickhouse.clone(),
    );
    ucx_processors::backtest::cli::run(&backtest, &config)
        .await
        .expect("the backtest runs");
    for file in [&rules, &candidate_file] {
        let _ = std::fs::remove_file(file);
    }

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
        // A hostile value in the URL (`var-installation=…`) changes nothing but the value: the
        // query answers as for an installation that does not exist.
        if !sql.contains("${installation:percentencode}") {
            continue;
        }
        let absent = query(
            &pipeline.clickhouse,
            &expand_for(&sql, "inst-nobody", now - 3600, now + 60),
        )
        .await
        .unwrap();
        for hostile in [
            "' OR 1=1 --",
            "\\' OR 1=1 --",
            "inst-dash-01' OR installation_id != '",
            "x') UNION ALL SELECT name FROM system.tables --",
            "%27 OR 1=1",
        ] {
            let expanded = expand_for(&sql, hostile, now - 3600, now + 60);
            let rows = query(&pipeline.clickhouse, &expanded)
                .await
                .unwrap_or_else(|error| {
                    panic!("{name} with {hostile:?} fails: {error}\n{expanded}")
                });
            assert_eq!(
                rows, absent,
                "{name}: {hostile:?} changed the query's meaning"
            );
        }
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
    assert!(report.contains("SUCCESS: 8 rules found"), "{report}");
}

/// Every Prometheus panel's expression parses: promtool checks them as recording rules.
#[test]
fn every_prometheus_panel_expression_passes_promtool() {
    let expressions = panel_queries("prometheus", "expr");
    assert!(expressions.len() >= 10, "{expressions:?}");
    let mut rules = String::from("groups:\n  - name: panels\n    rules:\n");
    for (index, (_, expression)) in expressions.iter().enumerate() {
        rules += &format!(
            "      - record: ucx:panel_{index}\n        expr: {}\n",
            serde_json::to_string(expression).unwrap()
        );
    }
    let file = std::env::temp_dir().join(format!("{}.yml", unique("panel-rules")));
    std::fs::write(&file, rules).unwrap();
    let output = std::process::Command::new(Services::from_env().promtool)
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("running promtool");
    let _ = std::fs::remove_file(&file);
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{expressions:#?}\n{report}");
}

/// A simulated bad update: three servers install a hotfix and each then raises the same rule;
/// of the three that did not install it, one raises it. The fleet change report panel ranks
/// the hotfix with its rate ratio (3 of 3 against 1 of 3: 3.0), and each alert raised after
/// the hotfix names it in its evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_change_report_shows_a_bad_update_with_its_rate_ratio() {
    let (_, report) = panel_queries("grafana-clickhouse-datasource", "rawSql")
        .into_iter()
        .find(|(name, _)| name.contains("Fleet change report"))
        .expect("the fleet change report panel");
    let services = Services::from_env();
    let pipeline = start_pipeline_with(&services, "fleet-changes", |_| {}).await;
    let gateway = &pipeline.gateway.url;
    let hotfixes = |installation: &str, ids: &[&str]| {
        let mut beat = example_beat(Category::SoftwareInfoWindowsUpdates, installation);
        beat["data"]["hotfixes"] = ids
            .iter()
            .map(|id| json!({"hotfix_id": id, "installed_at": ucx_common::now_ms()}))
            .collect();
        beat
    };
    for index in 1..=6 {
        let installation = format!("inst-fleet-{index}");
        let mut beats = vec![
            example_beat(Category::UcxSuiteSuiteInfo, &installation),
            hotfixes(&installation, &["KB5034439"]),
        ];
        if index <= 3 {
            beats.push(hotfixes(&installation, &["KB5034439", "KB5099999"]));
        }
        if index <= 4 {
            beats.push(fault_example_beat(
                Category::HardwareInfoDisks,
                &installation,
            ));
        }
        for beat in beats {
            assert_eq!(post_beat(gateway, &beat).await.status(), 202);
        }
    }
    let now = ucx_common::now_ms() / 1000;
    let sql = expand_macros(&report, now - 3_600, now + 3_600);
    // the alerts and changes reach ClickHouse through the sinks' batches
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = query(&pipeline.clickhouse, &sql).await.unwrap_or_default();
        let listed = rows.contains("KB5099999\tdisk_free_low\t3\t3\t3\t1\t");
        if listed || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let row = rows
        .lines()
        .find(|line| line.contains("KB5099999\tdisk_free_low"))
        .unwrap_or_else(|| panic!("not in the report after 60 s:\n{rows}"));
    assert_eq!(
        row, "HOTFIX_INSTALLED\tKB5099999\tdisk_free_low\t3\t3\t3\t1\t1\t0.33\t3",
        "kind, hotfix, rule, installers, raised after, others, raised by others, shares, ratio"
    );
    let named = query(
        &pipeline.clickhouse,
        "SELECT countIf(position(summary, 'hotfix installed: KB5099999') > 0), count() \
         FROM alerts FINAL WHERE rule_id = 'disk_free_low' AND state = 'OPEN'",
    )
    .await
    .unwrap();
    assert_eq!(
        named.trim(),
        "3\t4",
        "the alerts after the hotfix name it, the other does not"
    );
}
