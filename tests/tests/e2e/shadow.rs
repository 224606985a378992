//! Shadow mode on the whole pipeline: a candidate disk rule runs `mode = "shadow"` beside the
//! library in force for a Gold customer. Its alert reaches ClickHouse with `suppressed_by =
//! 'shadow'` and the library version, and nobody is mailed; the live rule's alert on the same
//! server is mailed as always. `ucx-backtest --shadow` compares the two over the same window.

use std::time::Duration;

use serde_json::json;
use ucx_e2e::{
    add_installation, example_beat, post_with_key, put_customer_mailing, query, start_notifier,
    start_pipeline_with, unique, wait_until, OwnSmtp, Services,
};
use ucx_processors::backtest::episodes::Difference;
use ucx_processors::rules::library::{RuleLibrary, BUILT_IN};
use ucx_schemas::Category;

const INSTALLATION: &str = "inst-shadow";
const CONTACT: &str = "ops@shadow.example";

/// The library in force plus a shadow candidate for `disk_free_low`: low below 30 % free.
fn library_with_shadow() -> String {
    format!(
        "{}\n[[rule]]\nid = \"disk_free_low_next\"\nversion = 1\nmode = \"shadow\"\n\
         shadow_of = \"disk_free_low\"\nsignal = \"disk_free_percent\"\nwhen = \"below\"\n\
         warning = 30\nsummary = \"{{subject}} has {{value}}% free (threshold {{threshold}}%)\"\n\
         explanation = \"The candidate threshold.\"\n",
        BUILT_IN.replacen(
            &format!(
                "library_version = {}",
                RuleLibrary::parse(BUILT_IN).unwrap().library_version
            ),
            "library_version = 7",
            1
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shadow_rule_is_recorded_and_never_mailed() {
    let services = Services::from_env();
    let rules = std::env::temp_dir().join(format!("{}.toml", unique("shadow-rules")));
    std::fs::write(&rules, library_with_shadow()).unwrap();
    let rules_file = rules.clone();
    let pipeline = start_pipeline_with(&services, "shadow", move |processors| {
        processors.processors.rules_file = Some(rules_file);
    })
    .await;
    put_customer_mailing(&pipeline.gateway.url, "cust-shadow", "GOLD", CONTACT, true).await;
    let key = add_installation(&pipeline.gateway.url, "cust-shadow", INSTALLATION).await;
    let mut smtp = OwnSmtp::new();
    smtp.start().await;
    let mut config = pipeline.notifier_config(&smtp);
    config.notifier.fleet_settle_s = 0;
    let _notifier = start_notifier(config).await;
    let post_free = |free: i64| {
        let (gateway, key) = (pipeline.gateway.url.clone(), key.clone());
        async move {
            let mut disks = example_beat(Category::HardwareInfoDisks, INSTALLATION);
            disks["beat_id"] = json!(uuid::Uuid::new_v4().to_string());
            disks["data"]["disks"] =
                json!([{"name": "Z:", "model": "m", "size_bytes": 100, "free_bytes": free}]);
            let response = post_with_key(&gateway, Some(&key), &disks).await;
            assert_eq!(response.status(), 202);
        }
    };

    // 25 % free: low for the candidate (30 %), not for the library in force (Gold: 15 %)
    post_free(25).await;
    let stored = || async {
        query(
            &pipeline.clickhouse,
            "SELECT rule_id, state, suppressed_by, library_version FROM alerts FINAL \
             ORDER BY raised_at FORMAT TSV",
        )
        .await
        .unwrap_or_default()
    };
    wait_until(
        "the shadow alert stored",
        Duration::from_secs(60),
        || async { !stored().await.is_empty() },
    )
    .await;
    assert_eq!(
        stored().await.trim(),
        "disk_free_low_next\tOPEN\tshadow\t7",
        "only the shadow rule judged 25 % low"
    );
    // 3 % free: the live rule opens (critical) and is mailed; the shadow alert stays as it was
    post_free(3).await;
    wait_until("the live alert's mail", Duration::from_secs(60), || {
        std::future::ready(!smtp.received().is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = smtp.received();
    assert_eq!(mails.len(), 1, "the shadow alert is never mailed");
    assert!(
        mails[0].body.contains("disk_free_low") && !mails[0].body.contains("disk_free_low_next"),
        "{}",
        mails[0].body
    );
    let ledger = query(
        &pipeline.clickhouse,
        "SELECT count() FROM notifications WHERE alert_id IN \
         (SELECT alert_id FROM alerts WHERE suppressed_by = 'shadow') AND status = 'SENT' FORMAT TSV",
    )
    .await
    .unwrap();
    assert_eq!(ledger.trim(), "0");

    // the shadow report: the same window with the shadow rule in place of the one it shadows
    let args = ucx_processors::backtest::cli::Args {
        rules: None,
        shadow: true,
        in_force: Some(rules.clone()),
        from: Some("1h".into()),
        to: None,
        installations: Vec::new(),
        labels: None,
        json: None,
        store: false,
        config: None,
    };
    let config = ucx_processors::backtest::cli::BacktestConfig::on(
        pipeline.kafka.clone(),
        pipeline.clickhouse.clone(),
    );
    let (report, _) = ucx_processors::backtest::cli::run(&args, &config)
        .await
        .expect("the shadow report");
    let compared: Vec<(&str, Difference)> = report
        .findings
        .iter()
        .map(|finding| (finding.episode().rule_id.as_str(), finding.difference))
        .collect();
    assert_eq!(
        compared,
        [("disk_free_low", Difference::Earlier)],
        "enabled, the candidate would have opened at 25 % free, before the live rule at 3 %"
    );
    let _ = std::fs::remove_file(&rules);
}
