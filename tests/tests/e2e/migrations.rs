//! Migrations on the real ClickHouse: applied once, recorded, and safe to run again when the
//! bookkeeping was lost half-way (a crash between a statement and its record), including the
//! `ADD COLUMN`s that ClickHouse 18.16 cannot make conditional.

use ucx_e2e::{query, Services};
use ucx_sinks::clickhouse::migrations;

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

    let customer_columns = query(
        &clickhouse,
        "SELECT count() FROM system.columns \
         WHERE database = currentDatabase() AND name = 'customer_id' AND table != 'purges'",
    )
    .await
    .unwrap();
    let tables_with_installation = query(
        &clickhouse,
        "SELECT count() FROM system.columns \
         WHERE database = currentDatabase() AND name = 'installation_id' AND table != 'beats_raw'",
    )
    .await
    .unwrap();
    assert_eq!(
        customer_columns, tables_with_installation,
        "every row names its customer (beats_raw, no longer written, excepted)"
    );
    assert_eq!(customer_columns.trim(), "28");
}
