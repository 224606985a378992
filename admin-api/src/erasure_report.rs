//! The erasure report (`ucx-admin erasure-report`): after a customer's erasure or opt-out, what
//! is left of it in every store, counted — the registry (its records and contacts), every
//! ClickHouse table holding customer data (found by their columns, as the purge finds them), and
//! every topic keyed by its installations, with the bound the topic's retention puts on copies
//! still there. It reads the stores directly, with the stages' config; it changes nothing.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use ucx_common::config::{ClickHouseSettings, KafkaSettings};
use ucx_tables::personal::{personal_tables, quoted};

/// How long reading one topic may take.
const SCAN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Serialize)]
pub struct ErasureReport {
    pub customer_id: String,
    /// Nothing of the customer is left but copies in topics within their retention bound, and
    /// every purge asked for is done.
    pub erased: bool,
    /// What is left, in words (empty when `erased`).
    pub left: Vec<String>,
    pub purge_requests: Vec<PurgeSummary>,
    pub installation_ids: Vec<String>,
    pub registry: RegistryCheck,
    pub tables: Vec<TableCheck>,
    pub topics: Vec<TopicCheck>,
}

#[derive(Debug, Serialize)]
pub struct PurgeSummary {
    pub requested_at_ms: i64,
    pub reason: String,
    /// When the sinks recorded it done (`purges` table), unix seconds.
    pub completed_at: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct RegistryCheck {
    pub customer_record: bool,
    pub alert_contacts: usize,
    pub installations: usize,
    pub silences: usize,
}

#[derive(Debug, Serialize)]
pub struct TableCheck {
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Serialize)]
pub struct TopicCheck {
    pub topic: String,
    /// Records keyed by the customer's installations (registry: by the customer's keys).
    pub records: u64,
    /// Of those keys, how many still have a record newer than their last tombstone (for
    /// compacted topics, where a tombstone is how a key is erased).
    pub live_keys: Option<usize>,
    pub newest_at_ms: Option<i64>,
    pub retention_ms: Option<i64>,
    /// When the newest of those records falls out of the topic (newest + retention).
    pub gone_by_ms: Option<i64>,
}

/// The report for `customer_id`. `kafka` and `clickhouse` are the stages' settings.
pub async fn erasure_report(
    kafka: &KafkaSettings,
    clickhouse: &ClickHouseSettings,
    customer_id: &str,
) -> anyhow::Result<ErasureReport> {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let view = ucx_common::registry::follow(kafka, shutdown.clone())
        .await
        .context("reading the registry topic (kafka.brokers, kafka.registry_topic)")?;
    let loaded = view.wait_loaded(Duration::from_secs(60)).await;
    shutdown.cancel();
    anyhow::ensure!(
        loaded,
        "the registry topic {} on {} was not read within 60 s: check kafka.brokers",
        kafka.registry_topic,
        kafka.brokers
    );
    let customer = view.customer(customer_id);
    let purges: Vec<_> = view
        .purges()
        .into_iter()
        .filter(|purge| purge.customer_id == customer_id)
        .collect();
    let mut installation_ids: BTreeSet<String> = purges
        .iter()
        .flat_map(|purge| purge.installation_ids.iter().cloned())
        .collect();
    // one answer of the registry for both: read twice, it could change in between
    let registered = view.installations_of(customer_id);
    let registry = RegistryCheck {
        customer_record: customer.is_some(),
        alert_contacts: customer.as_ref().map_or(0, |c| c.alert_contacts.len()),
        installations: registered.len(),
        silences: view.silences_of(customer_id).len(),
    };
    installation_ids.extend(
        registered
            .into_iter()
            .map(|installation| installation.installation_id),
    );

    let client = ucx_common::clickhouse::client(clickhouse);
    let quoted_ids = installation_ids
        .iter()
        .map(|id| quoted(id))
        .collect::<Vec<_>>()
        .join(", ");
    let mut tables = Vec::new();
    for table in personal_tables(&client)
        .await
        .context("listing the tables (clickhouse.url, clickhouse.database)")?
    {
        let Some(whose) = table.whose(customer_id, &quoted_ids) else {
            continue;
        };
        let rows = client
            .query(&format!(
                "SELECT count() FROM `{}` WHERE {whose}",
                table.name
            ))
            .fetch_one::<u64>()
            .await
            .with_context(|| format!("counting in {}", table.name))?;
        tables.push(TableCheck {
            table: table.name,
            rows,
        });
    }
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Done {
        requested_at: u64,
        completed_at: u32,
    }
    let done: HashMap<i64, u32> = client
        .query("SELECT requested_at, completed_at FROM purges WHERE customer_id = ?")
        .bind(customer_id)
        .fetch_all::<Done>()
        .await
        .context("reading the purges table")?
        .into_iter()
        .map(|row| (row.requested_at as i64, row.completed_at))
        .collect();
    let purge_requests: Vec<PurgeSummary> = purges
        .iter()
        .map(|purge| PurgeSummary {
            requested_at_ms: purge.requested_at,
            reason: purge.reason.clone(),
            completed_at: done.get(&purge.requested_at).copied(),
        })
        .collect();

    let mut topics = Vec::new();
    let installation_keys: BTreeSet<Vec<u8>> = installation_ids
        .iter()
        .map(|id| id.as_bytes().to_vec())
        .collect();
    for topic in [
        &kafka.beats_topic,
        &kafka.alerts_topic,
        &kafka.changes_topic,
        &kafka.dead_letter_topic,
        &kafka.processor_state_topic,
    ] {
        topics.push(check_topic(kafka, topic, |key| installation_keys.contains(key)).await?);
    }
    let customer_keys: BTreeSet<Vec<u8>> = [format!("customer:{customer_id}")]
        .into_iter()
        .chain(
            installation_ids
                .iter()
                .map(|id| format!("installation:{id}")),
        )
        .map(String::into_bytes)
        .collect();
    topics.push(
        check_topic(kafka, &kafka.registry_topic, |key| {
            customer_keys.contains(key)
        })
        .await?,
    );

    let mut left = Vec::new();
    if purges.is_empty() {
        left.push(format!(
            "no purge was asked for customer {customer_id}: erase it first (ucx-admin erase-customer)"
        ));
    }
    if registry.customer_record {
        left.push(format!(
            "the registry still holds the customer record ({} alert contacts)",
            registry.alert_contacts
        ));
    }
    if registry.installations > 0 || registry.silences > 0 {
        left.push(format!(
            "the registry still holds {} installations and {} silences of it",
            registry.installations, registry.silences
        ));
    }
    for purge in &purge_requests {
        if purge.completed_at.is_none() {
            left.push(format!(
                "the purge asked at {} ms is not done yet: the sinks carry it out",
                purge.requested_at_ms
            ));
        }
    }
    for table in tables.iter().filter(|table| table.rows > 0) {
        left.push(format!("{} rows in table {}", table.rows, table.table));
    }
    for topic in &topics {
        if let Some(live) = topic.live_keys.filter(|live| *live > 0) {
            left.push(format!(
                "{live} keys of it still live in compacted topic {}",
                topic.topic
            ));
        }
    }
    Ok(ErasureReport {
        customer_id: customer_id.to_string(),
        erased: left.is_empty(),
        left,
        purge_requests,
        installation_ids: installation_ids.into_iter().collect(),
        registry,
        tables,
        topics,
    })
}

async fn check_topic(
    kafka: &KafkaSettings,
    topic: &str,
    theirs: impl Fn(&[u8]) -> bool,
) -> anyhow::Result<TopicCheck> {
    let config = ucx_common::kafka::topic_config(kafka, topic)
        .await
        .with_context(|| format!("describing topic {topic}"))?;
    let compacted = config
        .get("cleanup.policy")
        .is_some_and(|policy| policy.contains("compact"));
    let retention_ms = config
        .get("retention.ms")
        .and_then(|value| value.parse::<i64>().ok())
        .filter(|ms| *ms >= 0);
    let mut records = 0;
    let mut newest_at_ms: Option<i64> = None;
    // per key: whether its newest record is a value (not a tombstone)
    let mut live: HashMap<Vec<u8>, bool> = HashMap::new();
    ucx_common::kafka::scan_topic(kafka, topic, SCAN_TIMEOUT, |record| {
        let Some(key) = record.key.filter(|key| theirs(key)) else {
            return;
        };
        records += 1;
        if let Some(at) = record.timestamp_ms {
            newest_at_ms = Some(newest_at_ms.map_or(at, |newest| newest.max(at)));
        }
        live.insert(key.to_vec(), record.payload.is_some());
    })
    .await
    .with_context(|| format!("reading topic {topic}"))?;
    Ok(TopicCheck {
        topic: topic.to_string(),
        records,
        live_keys: compacted.then(|| live.values().filter(|live| **live).count()),
        newest_at_ms,
        retention_ms,
        gone_by_ms: newest_at_ms
            .zip(retention_ms)
            .map(|(newest, retention)| newest.saturating_add(retention)),
    })
}
