//! Retention: ClickHouse 18.16 has no TTL, so a periodic job drops whole monthly partitions
//! whose every row is older than the table's retention (`ALTER TABLE … DROP PARTITION`, which
//! every version runs). A table not configured gets the default; 0 days keeps a table forever.

use std::collections::BTreeMap;

use clickhouse::Client;
use serde::Deserialize;
use time::{Date, Duration, Month, OffsetDateTime};
use tokio_util::sync::CancellationToken;

/// Tables the job never touches: bookkeeping, not telemetry.
const KEPT: [&str; 2] = ["schema_migrations", "purges"];

#[derive(clickhouse::Row, Deserialize)]
struct Partition {
    table: String,
    partition: String,
}

/// Runs the retention job now and then every `interval` until shutdown.
pub async fn enforce_every(
    retention: Retention,
    client: Client,
    interval: std::time::Duration,
    dropped_total: prometheus::IntCounter,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match retention.enforce(&client, today()).await {
            Ok(dropped) => dropped_total.inc_by(dropped.len() as u64),
            Err(error) => tracing::warn!(%error, "retention job failed; trying again later"),
        }
    }
}

/// How long each table keeps its rows.
pub struct Retention {
    pub days_by_table: BTreeMap<String, u32>,
    pub default_days: u32,
}

impl Retention {
    fn days(&self, table: &str) -> u32 {
        self.days_by_table
            .get(table)
            .copied()
            .unwrap_or(self.default_days)
    }

    /// Drops every monthly partition past its table's retention on `today`; returns the
    /// `table/partition` names dropped.
    pub async fn enforce(
        &self,
        client: &Client,
        today: Date,
    ) -> Result<Vec<String>, clickhouse::error::Error> {
        let partitions = client
            .query(
                "SELECT DISTINCT table, partition FROM system.parts \
                 WHERE database = currentDatabase() AND active ORDER BY table, partition",
            )
            .fetch_all::<Partition>()
            .await?;
        let mut dropped = Vec::new();
        for Partition { table, partition } in partitions {
            if KEPT.contains(&table.as_str()) {
                continue;
            }
            let days = self.days(&table);
            if days == 0 {
                continue;
            }
            let Some(month_end) = month_after(&partition) else {
                tracing::warn!(
                    table,
                    partition,
                    "not a monthly (YYYYMM) partition; retention skips it"
                );
                continue;
            };
            if month_end <= today - Duration::days(i64::from(days)) {
                client
                    .query(&format!("ALTER TABLE `{table}` DROP PARTITION {partition}"))
                    .execute()
                    .await?;
                tracing::info!(table, partition, days, "partition past retention dropped");
                dropped.push(format!("{table}/{partition}"));
            }
        }
        Ok(dropped)
    }
}

/// The first day after the month a `YYYYMM` partition holds.
fn month_after(partition: &str) -> Option<Date> {
    if partition.len() != 6 || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = partition[..4].parse().ok()?;
    let month: u8 = partition[4..].parse().ok()?;
    let first = Date::from_calendar_date(year, Month::try_from(month).ok()?, 1).ok()?;
    let next_month = first.month().next();
    let next_year = if next_month == Month::January {
        year + 1
    } else {
        year
    };
    Date::from_calendar_date(next_year, next_month, 1).ok()
}

/// Today in UTC.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_partition_ends_where_the_next_month_begins() {
        assert_eq!(month_after("202611"), Some(date!(2026 - 12 - 01)));
        assert_eq!(month_after("202612"), Some(date!(2027 - 01 - 01)));
        assert_eq!(month_after("2026"), None);
        assert_eq!(month_after("202613"), None);
        assert_eq!(month_after("tuple()"), None);
    }
}
