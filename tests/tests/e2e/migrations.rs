//! Migrations on the real ClickHouse: applied once, recorded, and safe to run again when the
//! bookkeeping was lost half-way (a crash between a statement and its record), including the
//! `ADD COLUMN`s that ClickHouse 18.16 cannot make conditional.

use ucx_e2e::{query, Services};
use ucx_tables::migrations;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_again_without_harm() {
    let services = Services::from_env();
    let clickhouse = services.clickhouse("migrations");
    let first = migrations::apply(&clickhouse).await.unwrap();
    assert!(first >= 4, "{first}");
    assert_eq!(migrations::apply(&clickhouse).await.unwrap(), 0);

    // Every migration runs again over existing tables and columns.
    query(&clickhouse, "DROP TABLE schema_migrations")
        .await
        .unwrap();
    assert_eq!(migrations::apply(&clickhouse).await.unwrap(), first);

    // every row names its customer (beats_raw, no longer written, excepted)
    let without_customer = query(
        &clickhouse,
        "SELECT groupArray(table) FROM system.columns \
         WHERE database = currentDatabase() AND name = 'installation_id' AND table != 'beats_raw' \
         AND table NOT IN (SELECT table FROM system.columns \
                           WHERE database = currentDatabase() AND name = 'customer_id')",
    )
    .await
    .unwrap();
    assert_eq!(without_customer.trim(), "[]");
    let with_installation = query(
        &clickhouse,
        "SELECT count() FROM system.columns \
         WHERE database = currentDatabase() AND name = 'installation_id'",
    )
    .await
    .unwrap();
    assert!(
        with_installation.trim().parse::<u32>().unwrap() >= 28,
        "{with_installation}"
    );
}

/// The declarations and the migrations agree: on a fresh database every written table has every
/// column its rows name, and a declared table that is missing is created at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_table_exists_with_its_columns() {
    let services = Services::from_env();
    let clickhouse = services.clickhouse("declared-tables");
    migrations::apply(&clickhouse).await.unwrap();
    let client = ucx_common::clickhouse::client(&clickhouse);
    let missing = ucx_tables::drift::missing_columns(&client).await.unwrap();
    assert!(missing.is_empty(), "{missing:?}");

    query(&clickhouse, "DROP TABLE ucx_ivr").await.unwrap();
    assert_eq!(
        ucx_tables::drift::missing_columns(&client).await.unwrap(),
        ["table ucx_ivr is missing"]
    );
    migrations::apply(&clickhouse).await.unwrap();
    assert!(ucx_tables::drift::missing_columns(&client)
        .await
        .unwrap()
        .is_empty());
}

/// A table altered by hand turns the sinks' `/ready` red, naming the column, before any insert
/// fails; putting the column back makes them ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_column_makes_the_sinks_not_ready_and_says_which() {
    let services = Services::from_env();
    let clickhouse = services.clickhouse("drift");
    let mut config = ucx_sinks::SinkConfig {
        kafka: services.kafka("drift"),
        clickhouse: clickhouse.clone(),
        ..Default::default()
    };
    config.sinks.group_id = ucx_e2e::unique("drift");
    let sinks = ucx_e2e::start_sinks(config).await;
    let ready = format!("{}/ready", sinks.url);
    ucx_e2e::wait_until_ok(
        "the sinks ready",
        &ready,
        std::time::Duration::from_secs(60),
    )
    .await;

    query(&clickhouse, "ALTER TABLE ucx_ivr DROP COLUMN active_calls")
        .await
        .unwrap();
    let answer = || async {
        let response = reqwest::get(&ready).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    ucx_e2e::wait_until(
        "/ready to name the dropped column",
        std::time::Duration::from_secs(20),
        || async {
            let (status, body) = answer().await;
            status == 503 && body.contains("tables: ucx_ivr lacks column active_calls")
        },
    )
    .await;

    query(
        &clickhouse,
        "ALTER TABLE ucx_ivr ADD COLUMN active_calls UInt32",
    )
    .await
    .unwrap();
    ucx_e2e::wait_until_ok(
        "the sinks ready again",
        &ready,
        std::time::Duration::from_secs(20),
    )
    .await;
}
