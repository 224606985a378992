//! Versioned schema migrations, applied in order at start-up. Each is recorded in
//! `schema_migrations` once applied; every statement is idempotent (`IF NOT EXISTS`), so two
//! sinks starting together, or a crash half-way, do no harm. After them, every declared beat
//! table that does not exist yet is created from its declaration (`beat_tables.rs`): a new beat
//! category needs no migration of its own, a change to an existing table does.

use clickhouse::Client;
use ucx_common::config::ClickHouseSettings;

struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

/// `migration!(1, "0001", "beats_and_alerts")` reads `migrations/0001_beats_and_alerts.sql`.
macro_rules! migration {
    ($version:literal, $number:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $number, "_", $name, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001", "beats_and_alerts"),
    migration!(2, "0002", "beats_raw"),
    migration!(3, "0003", "purges"),
    migration!(4, "0004", "beat_families"),
    migration!(5, "0005", "alert_routing"),
    migration!(6, "0006", "alert_lifecycle_and_changes"),
    migration!(7, "0007", "notifications"),
    migration!(8, "0008", "alert_resolution"),
    migration!(9, "0009", "notification_deliveries"),
    migration!(10, "0010", "fleet_incidents"),
    migration!(11, "0011", "incidents"),
    migration!(12, "0012", "purge_reason"),
    migration!(13, "0013", "library_version"),
    migration!(14, "0014", "backtest_results"),
];

/// How many versioned migrations there are.
pub fn count() -> usize {
    MIGRATIONS.len()
}

/// Creates the database if needed and applies the migrations it lacks; returns how many ran.
pub async fn apply(settings: &ClickHouseSettings) -> Result<usize, clickhouse::error::Error> {
    ucx_common::clickhouse::ensure_database(settings).await?;
    let client = ucx_common::clickhouse::client(settings);
    client
        .query(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version UInt32, name String, applied_at DateTime('UTC')) \
             ENGINE = MergeTree() ORDER BY version",
        )
        .execute()
        .await?;
    let applied: Vec<u32> = client
        .query("SELECT version FROM schema_migrations")
        .fetch_all()
        .await?;
    let mut count = 0;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        run_migration(&client, migration).await?;
        count += 1;
    }
    for table in crate::beat_tables::BEAT_TABLES {
        client.query(&table.create_sql()).execute().await?;
    }
    Ok(count)
}

async fn run_migration(
    client: &Client,
    migration: &Migration,
) -> Result<(), clickhouse::error::Error> {
    tracing::info!(
        version = migration.version,
        name = migration.name,
        "applying migration"
    );
    // ClickHouse 18.16 takes one statement per request.
    for statement in statements(migration.sql) {
        match client.query(&statement).execute().await {
            Err(error) if is_added_column(&statement) && column_exists(&error) => {
                tracing::info!(%statement, "column already added by an earlier, interrupted run");
            }
            result => result?,
        }
    }
    client
        .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())")
        .bind(migration.version)
        .bind(migration.name)
        .execute()
        .await
}

/// `ALTER TABLE … ADD COLUMN`: ClickHouse 18.16 has no `IF NOT EXISTS` for it, so a run after a
/// crash half-way meets columns that are already there.
fn is_added_column(statement: &str) -> bool {
    statement.starts_with("ALTER TABLE") && statement.contains(" ADD COLUMN ")
}

/// "Cannot add column customer_id: column with this name already exists" (code 44 on 18.16,
/// 15 DUPLICATE_COLUMN on current versions).
fn column_exists(error: &clickhouse::error::Error) -> bool {
    error
        .to_string()
        .contains("column with this name already exists")
}

/// The statements of a migration file: `;`-terminated, `--` comment lines dropped.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1, "{}", migration.name);
        }
    }

    #[test]
    fn every_statement_can_run_again() {
        let statements: Vec<String> = MIGRATIONS.iter().flat_map(|m| statements(m.sql)).collect();
        assert_eq!(statements.len(), 48);
        for statement in statements {
            assert!(
                statement.starts_with("CREATE TABLE IF NOT EXISTS") || is_added_column(&statement),
                "{statement}"
            );
        }
    }
}
