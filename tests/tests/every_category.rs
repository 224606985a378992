//! Every beat category of the seed table is accepted by the gateway and lands in ClickHouse:
//! in its own table where it has one, as JSON in `beats_raw` otherwise.

use std::time::Duration;

use ucx_e2e::{post_every_example, query, start_pipeline, wait_until, Services};
use ucx_schemas::Category;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_category_reaches_clickhouse() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "every-category").await;
    assert_eq!(Category::ALL.len(), 25, "the seed table's beats");
    post_every_example(&pipeline.gateway.url, "inst-all").await;

    let clickhouse = &pipeline.clickhouse;
    let with_own_table = 3;
    wait_until("every category's rows", Duration::from_secs(60), || async {
        query(
            clickhouse,
            "SELECT (SELECT uniqExact(beat_id) FROM hardware_disks) + (SELECT uniqExact(beat_id) FROM running_processes) \
             + (SELECT count() FROM ucx_acd) + (SELECT count() FROM beats_raw)",
        )
        .await
        .is_ok_and(|n| n.trim() == Category::ALL.len().to_string())
    })
    .await;
    let raw_categories = query(clickhouse, "SELECT uniqExact(category) FROM beats_raw")
        .await
        .unwrap();
    assert_eq!(
        raw_categories.trim(),
        (Category::ALL.len() - with_own_table).to_string()
    );

    // The JSON keeps the values: the firewall's three profiles and the 2024-named start mode.
    let firewall = query(
        clickhouse,
        "SELECT visitParamExtractBool(data, 'domain_enabled'), visitParamExtractBool(data, 'private_enabled') \
         FROM beats_raw WHERE category = 'software_info.windows_firewall'",
    )
    .await
    .unwrap();
    assert_eq!(firewall, "1\t0\n");
    let start_mode = query(
        clickhouse,
        "SELECT data FROM beats_raw WHERE category = 'software_info.windows_services'",
    )
    .await
    .unwrap();
    assert!(
        start_mode.contains(r#""startup_mode":"Auto""#),
        "{start_mode}"
    );
    let database = query(
        clickhouse,
        "SELECT visitParamExtractUInt(data, 'size_bytes') FROM beats_raw WHERE category = 'ucx_suite.database'",
    )
    .await
    .unwrap();
    assert_eq!(database.trim(), "4294967296");
}
