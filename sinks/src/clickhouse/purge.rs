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
use ucx_tables::personal::{personal_tables, quoted};

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
        let tables = personal_tables(&self.client).await?;
        let installations = purge
            .installation_ids
            .iter()
            .map(|id| quoted(id))
            .collect::<Vec<_>>()
            .join(", ");
        let until_seconds = purge.requested_at.div_euclid(1000);
        let mut issued = Vec::new();
        for table in &tables {
            let Some(whose) = table.whose(&purge.customer_id, &installations) else {
                continue;
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
