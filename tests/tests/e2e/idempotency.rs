//! A retried beat (same beat id) is accepted again and stored once: the gateway produces it
//! again, and the tables' ReplacingMergeTree keys (beat id and item) collapse the copies, which
//! `SELECT … FINAL` (and every dashboard query) never shows twice.

use std::time::Duration;

use ucx_e2e::{example_beat, post_beat, query, start_pipeline, wait_until, Services};
use ucx_schemas::Category;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_beat_is_accepted_again_and_stored_once() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "idempotency").await;
    let beat = example_beat(Category::HardwareInfoDisks, "inst-retry");
    let beat_id = beat["beat_id"].as_str().unwrap().to_string();
    let disks = beat["data"]["disks"].as_array().unwrap().len();
    for attempt in 0..3 {
        let response = post_beat(&pipeline.gateway.url, &beat).await;
        assert_eq!(response.status(), 202, "attempt {attempt}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["beat_id"], beat_id.as_str());
    }
    // The same beat in a batch, too.
    let batch = serde_json::json!([beat.clone()]);
    assert_eq!(post_beat(&pipeline.gateway.url, &batch).await.status(), 202);

    let copies =
        format!("SELECT count() FROM hardware_disks WHERE toString(beat_id) = '{beat_id}'");
    wait_until(
        "all four copies to reach the table",
        Duration::from_secs(30),
        || async {
            query(&pipeline.clickhouse, &copies)
                .await
                .is_ok_and(|count| count.trim() == (4 * disks).to_string())
        },
    )
    .await;
    let stored = query(
        &pipeline.clickhouse,
        &format!("SELECT count() FROM hardware_disks FINAL WHERE toString(beat_id) = '{beat_id}'"),
    )
    .await
    .unwrap();
    assert_eq!(stored.trim(), disks.to_string(), "one row per disk, once");
}
