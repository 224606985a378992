//! Retention on ClickHouse 18.16 (no TTL): whole monthly partitions whose rows are all past
//! their table's retention are dropped; younger months, other tables and the bookkeeping
//! tables stay.

use time::{Duration, OffsetDateTime};
use ucx_e2e::{query, Services};
use ucx_sinks::clickhouse::retention::Retention;

async fn insert_disk_row(clickhouse: &ucx_common::config::ClickHouseSettings, days_ago: i64) {
    let sql = format!(
        "INSERT INTO hardware_disks SELECT 'inst-{days_ago}', 'cust-retention', 'node-1', 'EU', \
         toUUID('00000000-0000-0000-0000-{days_ago:012}'), now() - {seconds}, now(), 'C:', 'disk', 100, 50",
        seconds = days_ago * 86_400
    );
    query(clickhouse, &sql).await.unwrap();
}

async fn stored_days(clickhouse: &ucx_common::config::ClickHouseSettings) -> Vec<String> {
    let answer = query(
        clickhouse,
        "SELECT installation_id FROM hardware_disks ORDER BY sent_at",
    )
    .await
    .unwrap();
    answer.lines().map(str::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_past_retention_are_dropped_and_younger_ones_kept() {
    let services = Services::from_env();
    let clickhouse = services.clickhouse("retention");
    ucx_tables::migrations::apply(&clickhouse).await.unwrap();
    let client = ucx_common::clickhouse::client(&clickhouse);
    for days_ago in [800, 120, 0] {
        insert_disk_row(&clickhouse, days_ago).await;
    }
    let today = OffsetDateTime::now_utc().date();

    let forever = Retention {
        days_by_table: [("hardware_disks".to_string(), 0)].into(),
        default_days: 1,
    };
    assert!(forever.enforce(&client, today).await.unwrap().is_empty());

    let default = Retention {
        days_by_table: Default::default(),
        default_days: 395,
    };
    let dropped = default.enforce(&client, today).await.unwrap();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].starts_with("hardware_disks/"), "{dropped:?}");
    assert_eq!(stored_days(&clickhouse).await, ["inst-120", "inst-0"]);

    // A shorter retention for this table takes the 120-day-old month too, never the current one.
    let short = Retention {
        days_by_table: [("hardware_disks".to_string(), 30)].into(),
        default_days: 395,
    };
    short.enforce(&client, today).await.unwrap();
    assert_eq!(stored_days(&clickhouse).await, ["inst-0"]);
    // A year later by the calendar, the current month goes as well; schema_migrations stays.
    short
        .enforce(&client, today + Duration::days(400))
        .await
        .unwrap();
    assert!(stored_days(&clickhouse).await.is_empty());
    let migrations = query(&clickhouse, "SELECT count() FROM schema_migrations")
        .await
        .unwrap();
    assert_eq!(
        migrations.trim(),
        ucx_tables::migrations::count().to_string()
    );
}
