//! Purges: when a customer switches telemetry off, the registry carries a purge request naming
//! its installations and an instant. The sink deletes their rows up to that instant from every
//! table that has an `installation_id` column, and the customer's rows from tables keyed by
//! customer only (the notifier's deliveries), by each table's one time column (`ALTER TABLE …
//! DELETE`, which 18.16 and current ClickHouse both run as a mutation), waits for its own
//! mutations to finish, and records the completion in `purges`. Records still on their way are dropped when they arrive
//! (see `sink.rs`), so nothing of the purged period comes back. Purges run in a task of their
//! own ([`work`]), beside consumption.

use std::collections::HashSet;
use std::time::Duration;

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use ucx_common::retry::{retry_transient, Backoff};
use ucx_schemas::PurgeRequest;

/// How long a purge may wait for ClickHouse to finish its deletions before it is retried.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(clickhouse::Row, Serialize, Deserialize)]
struct PurgeRow {
    customer_id: String,
    requested_at: u64,
    installation_ids: Vec<String>,
    tables: Vec<String>,
    completed_at: u32,
    /// Who asked and why (the purge request's reason).
    reason: String,
}

#[derive(clickhouse::Row, Deserialize)]
struct Done {
    customer_id: String,
    requested_at: u64,
}

#[derive(clickhouse::Row, Deserialize)]
struct TableColumn {
    table: String,
    name: String,
}

pub struct Purger {
    client: Client,
    /// (customer, requested_at) of every purge carried out before this start.
    done: HashSet<(String, i64)>,
}

impl Purger {
    /// Loads which purges are already done.
    pub async fn new(client: Client) -> Result<Self, clickhouse::error::Error> {
        let done = client
            .query("SELECT customer_id, requested_at FROM purges")
            .fetch_all::<Done>()
            .await?
            .into_iter()
            .map(|done| (done.customer_id, done.requested_at as i64))
            .collect();
        Ok(Purger { client, done })
    }

    /// (customer, requested_at) of every purge already carried out.
    pub fn done(&self) -> &HashSet<(String, i64)> {
        &self.done
    }

    /// Deletes the rows of one purge request and records its completion.
    pub async fn carry_out(&self, purge: &PurgeRequest) -> Result<(), PurgeError> {
        let tables = self.purged_tables().await?;
        let installations = purge
            .installation_ids
            .iter()
            .map(|id| quoted(id))
            .collect::<Vec<_>>()
            .join(", ");
        let until_seconds = purge.requested_at.div_euclid(1000);
        let mut issued = Vec::new();
        for table in &tables {
            let whose = match table.key {
                Key::Installation if installations.is_empty() => continue,
                Key::Installation => format!("installation_id IN ({installations})"),
                Key::Customer => format!("customer_id = {}", quoted(&purge.customer_id)),
            };
            let mut sql = format!("ALTER TABLE `{}` DELETE WHERE {whose}", table.name);
            if let Some(column) = table.time_column {
                sql.push_str(&format!(" AND {column} <= toDateTime({until_seconds})"));
            }
            self.client.query(&sql).execute().await?;
            issued.push(table.name.clone());
        }
        self.wait_for_mutations(&issued, purge).await?;
        let row = PurgeRow {
            customer_id: purge.customer_id.clone(),
            requested_at: purge.requested_at.max(0) as u64,
            installation_ids: purge.installation_ids.clone(),
            tables: issued,
            completed_at: (ucx_common::now_ms() / 1000) as u32,
            reason: purge.reason.clone(),
        };
        let mut insert = self.client.insert::<PurgeRow>("purges").await?;
        insert.write(&row).await?;
        insert.end().await?;
        tracing::info!(customer_id = %purge.customer_id, installations = purge.installation_ids.len(), tables = row.tables.len(), "purge completed");
        Ok(())
    }

    /// Every table holding rows of an installation (`installation_id`) or, without one, of a
    /// customer (`customer_id`: the notifier's deliveries, which hold contacts' addresses), and
    /// its one time column, the one late records are dropped by: `received_at` for beats,
    /// `event_at` for alerts, changes and notifications, `created_at` for deliveries.
    async fn purged_tables(&self) -> Result<Vec<PurgedTable>, clickhouse::error::Error> {
        let columns = self
            .client
            .query(
                "SELECT table, name FROM system.columns WHERE database = currentDatabase() \
                 AND name IN ('installation_id', 'customer_id', 'received_at', 'event_at', \
                 'created_at') ORDER BY table",
            )
            .fetch_all::<TableColumn>()
            .await?;
        let has = |table: &str, name: &str| {
            columns
                .iter()
                .any(|column| column.table == table && column.name == name)
        };
        let mut names: Vec<&str> = columns.iter().map(|column| column.table.as_str()).collect();
        names.dedup();
        let mut tables = Vec::new();
        for name in names {
            let key = if has(name, "installation_id") {
                Key::Installation
            } else if has(name, "customer_id") && !NOT_PURGED.contains(&name) {
                Key::Customer
            } else {
                continue;
            };
            let time_column = ["received_at", "event_at", "created_at"]
                .into_iter()
                .find(|column| has(name, column));
            tables.push(PurgedTable {
                name: name.to_string(),
                key,
                time_column,
            });
        }
        Ok(tables)
    }

    /// Waits until the deletions this purge issued are done: only its own, found by table and
    /// by the ids their commands name, so another purge or a retention drop does not hold it up.
    async fn wait_for_mutations(
        &self,
        tables: &[String],
        purge: &PurgeRequest,
    ) -> Result<(), PurgeError> {
        if tables.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let named = purge
            .installation_ids
            .first()
            .unwrap_or(&purge.customer_id)
            .clone();
        loop {
            let running: u64 = self
                .client
                .query(
                    "SELECT count() FROM system.mutations \
                     WHERE database = currentDatabase() AND is_done = 0 AND has(?, table) \
                     AND (position(command, ?) > 0 OR position(command, ?) > 0)",
                )
                .bind(tables)
                .bind(named.as_str())
                .bind(purge.customer_id.as_str())
                .fetch_one()
                .await?;
            if running == 0 {
                return Ok(());
            }
            if started.elapsed() > MUTATION_TIMEOUT {
                return Err(PurgeError::Unfinished(running));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Tables with a `customer_id` that are not the customer's data: the purge report itself.
const NOT_PURGED: &[&str] = &["purges"];

/// Whose rows a table holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    Installation,
    Customer,
}

struct PurgedTable {
    name: String,
    key: Key,
    time_column: Option<&'static str>,
}

/// Carries out the purge requests the sink hands over, each until it is done (tried again with
/// backoff while ClickHouse fails), until `shutdown`.
pub async fn work(
    purger: Purger,
    mut requests: mpsc::UnboundedReceiver<PurgeRequest>,
    completed: prometheus::IntCounter,
    shutdown: CancellationToken,
) {
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    while let Some(purge) = tokio::select! {
        _ = shutdown.cancelled() => None,
        request = requests.recv() => request,
    } {
        let what = format!("purging the data of customer {}", purge.customer_id);
        match retry_transient(&what, backoff, &shutdown, || purger.carry_out(&purge)).await {
            Ok(()) => completed.inc(),
            Err(_stopped) => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("{0} deletions still running after {MUTATION_TIMEOUT:?}")]
    Unfinished(u64),
}

/// A string literal for ClickHouse SQL.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_cannot_escape_the_literal() {
        assert_eq!(super::quoted("inst-1"), "'inst-1'");
        assert_eq!(super::quoted("a'b\\"), "'a\\'b\\\\'");
    }
}
