//! Latency probes: marked beats of one probe server, posted at a steady interval beside
//! whatever load runs, each timed from its post until it is visible where a user looks —
//! ClickHouse (beat → queryable) or the alerts topic (beat → alert).
//!
//! Rounds alternate: an ACD beat (queryable), a firewall beat with a profile off (opens an
//! alert), an ACD beat, the firewall all on again (resolves it). Posts are sequential, so the
//! firewall beats stay in order; the probes are matched by beat id by two watchers running
//! beside the posting, so a slow answer does not hold the next probe back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// Probe beats in flight: beat id → when it was posted.
type Pending = Arc<Mutex<HashMap<String, Instant>>>;

/// How long a probe may take before it counts as missing.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// How often ClickHouse is asked whether the probes in flight are queryable.
const QUERY_EVERY: Duration = Duration::from_millis(25);

pub struct Probe {
    pub client: reqwest::Client,
    pub url: String,
    pub key: String,
    pub installation_id: String,
    pub clickhouse: clickhouse::Client,
    pub brokers: String,
    pub alerts_topic: String,
    pub partitions: i32,
}

/// What one probing phase measured (microseconds).
pub struct Latencies {
    pub queryable: Histogram<u64>,
    pub alerting: Histogram<u64>,
    /// Probes still not seen `GIVE_UP_AFTER` after their post.
    pub queryable_missing: usize,
    pub alerting_missing: usize,
}

impl Probe {
    /// Posts a probe every `interval` for `duration`, then waits for the stragglers.
    pub async fn run(&self, duration: Duration, interval: Duration) -> anyhow::Result<Latencies> {
        let queryable = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
        let alerting = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
        let pending_rows: Pending = Arc::default();
        let pending_alerts: Pending = Arc::default();
        let stop = tokio_util::sync::CancellationToken::new();
        let alert_watch = tokio::spawn(watch_alerts(
            self.alert_consumer().await?,
            pending_alerts.clone(),
            alerting.clone(),
            stop.clone(),
        ));
        let row_watch = tokio::spawn(watch_rows(
            self.clickhouse.clone(),
            self.installation_id.clone(),
            pending_rows.clone(),
            queryable.clone(),
            stop.clone(),
        ));
        let started = Instant::now();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = 0u64;
        // whole rounds only: the last firewall beat turns the profile on again
        while started.elapsed() < duration || !round.is_multiple_of(4) {
            ticks.tick().await;
            round += 1;
            let beat_id = uuid::Uuid::new_v4().to_string();
            let (beat, pending) = match round % 4 {
                1 | 3 => (self.acd_beat(&beat_id)?, Some(&pending_rows)),
                2 => (self.firewall_beat(&beat_id, false)?, Some(&pending_alerts)),
                _ => (self.firewall_beat(&beat_id, true)?, None),
            };
            let sent = Instant::now();
            if let Some(pending) = pending {
                pending.lock().expect("pending lock").insert(beat_id, sent);
            }
            let response = self
                .client
                .post(&self.url)
                .bearer_auth(&self.key)
                .json(&beat)
                .send()
                .await?;
            if response.status().as_u16() != 202 {
                anyhow::bail!("probe beat refused: {}", response.text().await?);
            }
        }
        // the stragglers
        let waited = Instant::now();
        while waited.elapsed() < GIVE_UP_AFTER
            && (!pending_rows.lock().expect("pending lock").is_empty()
                || !pending_alerts.lock().expect("pending lock").is_empty())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.cancel();
        alert_watch.await?;
        row_watch.await?;
        let queryable_missing = pending_rows.lock().expect("pending lock").len();
        let alerting_missing = pending_alerts.lock().expect("pending lock").len();
        let take = |histogram: Arc<Mutex<Histogram<u64>>>| {
            std::mem::replace(
                &mut *histogram.lock().expect("histogram lock"),
                Histogram::new(3).expect("3 significant digits"),
            )
        };
        Ok(Latencies {
            queryable: take(queryable),
            alerting: take(alerting),
            queryable_missing,
            alerting_missing,
        })
    }

    fn acd_beat(&self, beat_id: &str) -> anyhow::Result<serde_json::Value> {
        self.beat(ucx_schemas::Category::UcxSuiteAcd, beat_id)
    }

    /// Each "off" opens an alert, the "on" after it resolves it.
    fn firewall_beat(&self, beat_id: &str, on: bool) -> anyhow::Result<serde_json::Value> {
        let mut beat = self.beat(ucx_schemas::Category::SoftwareInfoWindowsFirewall, beat_id)?;
        beat["data"]["private_enabled"] = on.into();
        Ok(beat)
    }

    fn beat(
        &self,
        category: ucx_schemas::Category,
        beat_id: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let mut beat: serde_json::Value = serde_json::from_str(category.example_source())?;
        beat["beat_id"] = beat_id.into();
        beat["installation_id"] = self.installation_id.clone().into();
        beat["sent_at"] = ucx_common::now_ms().into();
        Ok(beat)
    }

    /// A consumer at the end of the alerts topic as it is now, before any probe is posted.
    /// The end offsets are asked for here: assigned at `Offset::End`, the consumer would look
    /// the end up only once it starts fetching, a few hundred milliseconds later, and the
    /// alerts of the first probes would already be behind it (they counted as missing).
    async fn alert_consumer(&self) -> anyhow::Result<StreamConsumer> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("bench-alerts-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        let (consumer, ends) = tokio::task::spawn_blocking({
            let (topic, partitions) = (self.alerts_topic.clone(), self.partitions);
            move || -> anyhow::Result<_> {
                let ends = (0..partitions)
                    .map(|partition| {
                        consumer
                            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                            .map(|(_, high)| high)
                    })
                    .collect::<Result<Vec<i64>, _>>()?;
                Ok((consumer, ends))
            }
        })
        .await??;
        let mut assignment = TopicPartitionList::new();
        for (partition, end) in ends.into_iter().enumerate() {
            assignment.add_partition_offset(
                &self.alerts_topic,
                partition as i32,
                Offset::Offset(end),
            )?;
        }
        consumer.assign(&assignment)?;
        Ok(consumer)
    }
}

/// OPEN alerts whose triggering beat is a pending probe: timed on arrival.
async fn watch_alerts(
    consumer: StreamConsumer,
    pending: Pending,
    histogram: Arc<Mutex<Histogram<u64>>>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = consumer.recv() => message,
        };
        let Ok(message) = message else { continue };
        let arrived = Instant::now();
        let Ok(alert) = ucx_schemas::decode_alert(message.payload().unwrap_or_default()) else {
            continue;
        };
        if alert.state != ucx_schemas::AlertState::Open {
            continue;
        }
        if let Some(sent) = pending.lock().expect("pending lock").remove(&alert.beat_id) {
            let _ = histogram
                .lock()
                .expect("histogram lock")
                .record(arrived.duration_since(sent).as_micros() as u64);
        }
    }
}

/// Every `QUERY_EVERY` while probes are pending: which of them ClickHouse has; each found one
/// is timed then.
async fn watch_rows(
    clickhouse: clickhouse::Client,
    installation_id: String,
    pending: Pending,
    histogram: Arc<Mutex<Histogram<u64>>>,
    stop: tokio_util::sync::CancellationToken,
) {
    while !stop.is_cancelled() {
        tokio::time::sleep(QUERY_EVERY).await;
        if pending.lock().expect("pending lock").is_empty() {
            continue;
        }
        let found = clickhouse
            .query(
                "SELECT toString(beat_id) FROM ucx_acd \
                 WHERE installation_id = ? AND received_at >= now() - 120",
            )
            .bind(&installation_id)
            .fetch_all::<String>()
            .await
            .unwrap_or_default();
        let now = Instant::now();
        let mut pending = pending.lock().expect("pending lock");
        let mut histogram = histogram.lock().expect("histogram lock");
        for beat_id in found {
            if let Some(sent) = pending.remove(&beat_id) {
                let _ = histogram.record(now.duration_since(sent).as_micros() as u64);
            }
        }
    }
}
