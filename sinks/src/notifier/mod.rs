//! The customer notifier: alert state changes meant for Proactive Support customers (Gold and
//! Platinum, care in force, nothing silencing them) become e-mails to the customer's alert
//! contacts whose minimum severity the alert meets.
//!
//! Never the same notification twice: before mailing, the ledger (`notifications` in
//! ClickHouse) is asked whether it was handled; once mailed it is recorded there, and only then
//! may its offset be committed. A mail server that is away or answers 4xx is retried with
//! backoff (consumption waits); a 5xx answer is final and recorded as FAILED with the reason.
//! Storm control holds back what exceeds a customer's limit for a summary mail; customers who
//! chose a daily digest get one mail a day.
//!
//! - `config`: `[notifier]`; `templates`: the mails; `mailer`: SMTP; `ledger`: what was sent;
//!   `throttle`: storm control.

pub mod config;
mod ledger;
mod mailer;
mod metrics;
pub mod templates;
mod throttle;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use ucx_common::kafka::{self, DeadLetters};
use ucx_common::registry::RegistryView;
use ucx_schemas::{decode_alert, Alert, AlertState, Severity};

pub use config::{NotifierConfig, NotifierSettings};
use ledger::{Ledger, NotificationRow, Status};
use mailer::{MailError, Mailer};
use metrics::NotifierMetrics;
use templates::{ListKind, Templates};
use throttle::Throttle;

const STAGE: &str = "notifier";
const DAY_MS: i64 = 86_400_000;

/// The notifier binary's whole `main`.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &NotifierConfig| &config.notifier.listen, run).await
}

/// Stopped while waiting (for the mail server or ClickHouse): the record is not done.
#[derive(Debug, thiserror::Error)]
#[error("stopped before the notification was handled")]
struct Interrupted;

/// Runs the notifier until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: NotifierConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let settings = config.notifier.clone();
    settings.check()?;
    kafka::ensure_pipeline_topics(&config.kafka).await?;
    crate::clickhouse::migrations::apply(&config.clickhouse).await?;
    let registry = prometheus::Registry::new();
    let metrics = NotifierMetrics::new(&registry);
    let readiness = ucx_common::readiness::Readiness::default();
    readiness.probe_broker(&config.kafka, shutdown.clone());
    readiness.probe_clickhouse(&config.clickhouse, shutdown.clone());
    let ops = ucx_common::ops::spawn(
        "notifier",
        ops_listener,
        registry,
        readiness,
        shutdown.clone(),
    );

    let registry_view = ucx_common::registry::follow(&config.kafka, shutdown.clone()).await?;
    while !registry_view.wait_loaded(Duration::from_secs(5)).await {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        tracing::warn!("waiting for the customer registry before consuming");
    }
    let consumer = kafka::consumer_with_lag(
        &config.kafka,
        &settings.group_id,
        metrics.consumer_lag.clone(),
    )?;
    kafka::subscribe(&consumer, &[&config.kafka.alerts_topic])?;
    let dead_letters = DeadLetters::new(
        Arc::new(kafka::Producer::new(&config.kafka)?),
        &config.kafka.dead_letter_topic,
    );
    let window_ms = (settings.storm_window_s * 1000) as i64;
    let mut notifier = Notifier {
        ledger: Ledger::new(ucx_common::clickhouse::client(&config.clickhouse)),
        mailer: Mailer::new(&settings)?,
        templates: Templates::new(&settings.language),
        throttle: Throttle::new(settings.storm_max_mails, window_ms),
        digest_customers: settings.digest_customers.iter().cloned().collect(),
        registry: registry_view,
        metrics,
        settings: settings.clone(),
        shutdown: shutdown.clone(),
    };
    // storm control survives a restart: the mails of the current window count
    let since = ucx_common::now_ms() - window_ms;
    if let Ok(sent) = notifier
        .retry("reading recent mails", || notifier.ledger.sent_since(since))
        .await
    {
        for (customer_id, at_s) in sent {
            notifier
                .throttle
                .record(&customer_id, i64::from(at_s) * 1000);
        }
    }

    let mut uncommitted: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut commits =
        tokio::time::interval(Duration::from_millis(settings.commit_interval_ms.max(10)));
    let mut deferred = tokio::time::interval(Duration::from_millis(
        settings.deferred_interval_ms.max(100),
    ));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = commits.tick() => commit(&consumer, &mut uncommitted),
            _ = deferred.tick() => {
                if notifier.send_deferred().await.is_err() {
                    break;
                }
            }
            received = consumer.recv() => {
                let message = match received {
                    Ok(message) => message,
                    Err(error) => {
                        kafka::pause_after_consume_error(&error).await;
                        continue;
                    }
                };
                notifier.metrics.alerts_received.inc();
                match decode_alert(message.payload().unwrap_or_default()) {
                    Ok(alert) => match notifier.handle(&alert).await {
                        Ok(None) => {}
                        Ok(Some(reason)) => dead_letters.send(STAGE, &message, &reason).await,
                        Err(Interrupted) => break,
                    },
                    Err(error) => {
                        let reason = format!("not an alert: {error}");
                        tracing::warn!(partition = message.partition(), offset = message.offset(), %reason, "record dead-lettered");
                        notifier.metrics.dead_letters.inc();
                        dead_letters.send(STAGE, &message, &reason).await;
                    }
                }
                uncommitted.insert(
                    (message.topic().to_string(), message.partition()),
                    message.offset() + 1,
                );
            }
        }
    }
    commit(&consumer, &mut uncommitted);
    tracing::info!("notifier stopped");
    ops.await??;
    Ok(())
}

fn commit(
    consumer: &rdkafka::consumer::StreamConsumer<kafka::LagContext>,
    uncommitted: &mut BTreeMap<(String, i32), i64>,
) {
    if uncommitted.is_empty() {
        return;
    }
    let mut offsets = TopicPartitionList::new();
    for ((topic, partition), offset) in uncommitted.iter() {
        if let Err(error) = offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))
        {
            tracing::warn!(%error, "offset not committed");
        }
    }
    uncommitted.clear();
    if let Err(error) = consumer.commit(&offsets, CommitMode::Sync) {
        // every handled alert is in the ledger: reading it again mails nothing twice
        tracing::warn!(%error, "offset commit failed; alerts since the last commit are read again");
    }
}

fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

struct Notifier {
    ledger: Ledger,
    mailer: Mailer,
    templates: Templates,
    throttle: Throttle,
    digest_customers: HashSet<String>,
    registry: Arc<RegistryView>,
    metrics: NotifierMetrics,
    settings: NotifierSettings,
    shutdown: CancellationToken,
}

impl Notifier {
    /// The customer's contacts who want to hear of `severity`.
    fn recipients(&self, customer_id: &str, severity: Severity) -> Vec<String> {
        let Some(customer) = self.registry.customer(customer_id) else {
            return Vec::new();
        };
        customer
            .alert_contacts
            .iter()
            .filter(|contact| rank(severity) >= rank(contact.min_severity))
            .map(|contact| contact.email.clone())
            .collect()
    }

    /// Handles one alert record; `Ok(Some(reason))` when its mail could not be rendered (the
    /// record goes to the dead-letter topic too); `Err` only when stopped half-way.
    async fn handle(&mut self, alert: &Alert) -> Result<Option<String>, Interrupted> {
        let mailable = matches!(
            alert.state,
            AlertState::Open | AlertState::Reminder | AlertState::Resolved
        );
        if !alert.reaches_customer() || !mailable {
            self.metrics.skipped("not_for_the_customer");
            return Ok(None);
        }
        let recipients = self.recipients(&alert.customer_id, alert.severity);
        if recipients.is_empty() {
            self.metrics.skipped("no_contact_for_the_severity");
            return Ok(None);
        }
        let notification_id = ledger::notification_id(alert);
        let previous = self
            .retry("looking up the notification", || {
                self.ledger.status(&notification_id)
            })
            .await?;
        if let Some(status) = previous {
            tracing::info!(%notification_id, status, "notification handled before; not mailed again");
            self.metrics.skipped("already_handled");
            return Ok(None);
        }
        let now = ucx_common::now_ms();
        if self.digest_customers.contains(&alert.customer_id) {
            let row = NotificationRow::new(alert, Status::Digest, &recipients, "", "");
            self.record(vec![row]).await?;
            self.metrics.deferred("digest");
            return Ok(None);
        }
        if !self.throttle.allows(&alert.customer_id, now) {
            let row = NotificationRow::new(alert, Status::Throttled, &recipients, "", "");
            self.record(vec![row]).await?;
            self.metrics.deferred("throttled");
            return Ok(None);
        }
        let mail = match self.templates.alert(alert) {
            Ok(mail) => mail,
            Err(error) => {
                let reason = format!("the mail could not be rendered: {error}");
                tracing::error!(alert_id = %alert.alert_id, %reason, "notification failed");
                let row = NotificationRow::new(alert, Status::Failed, &recipients, "", &reason);
                self.record(vec![row]).await?;
                self.metrics.failed("render");
                return Ok(Some(reason));
            }
        };
        let row = match self.send(&recipients, &mail, &notification_id).await? {
            Ok(()) => {
                self.throttle.record(&alert.customer_id, now);
                self.metrics.sent("alert");
                NotificationRow::new(alert, Status::Sent, &recipients, &mail.subject, "")
            }
            Err(reason) => {
                self.metrics.failed("refused");
                NotificationRow::new(alert, Status::Failed, &recipients, &mail.subject, &reason)
            }
        };
        self.record(vec![row]).await?;
        Ok(None)
    }

    /// Sends a mail, retrying while the server is away or answers 4xx; the inner `Err` is a
    /// final refusal's reason.
    async fn send(
        &self,
        recipients: &[String],
        mail: &templates::Rendered,
        message_id: &str,
    ) -> Result<Result<(), String>, Interrupted> {
        let mut backoff = Duration::from_millis(250);
        let longest = Duration::from_millis(self.settings.retry_backoff_max_ms.max(250));
        loop {
            match self.mailer.send(recipients, mail, message_id).await {
                Ok(()) => return Ok(Ok(())),
                Err(MailError::Permanent(reason)) => {
                    tracing::warn!(message_id, %reason, "mail refused for good");
                    return Ok(Err(reason));
                }
                Err(error @ MailError::Transient(_)) => {
                    tracing::warn!(message_id, %error, retry_in_ms = backoff.as_millis() as u64, "mail not sent, retrying");
                    self.metrics.retries.inc();
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return Err(Interrupted),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(longest);
                }
            }
        }
    }

    async fn record(&self, rows: Vec<NotificationRow>) -> Result<(), Interrupted> {
        self.retry("recording notifications", || self.ledger.record(&rows))
            .await
    }

    /// Runs a ClickHouse call until it succeeds (consumption waits; nothing is skipped).
    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Interrupted>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, clickhouse::error::Error>>,
    {
        let mut backoff = Duration::from_millis(250);
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::warn!(%error, what, "clickhouse call failed, retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => return Err(Interrupted),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Summaries of throttled notifications whose customer has room again, and the daily digests
    /// once their hour has come.
    async fn send_deferred(&mut self) -> Result<(), Interrupted> {
        let now = ucx_common::now_ms();
        let throttled = self
            .retry("reading throttled notifications", || {
                self.ledger.waiting(Status::Throttled)
            })
            .await?;
        for (customer_id, rows) in by_customer(throttled) {
            if self.throttle.allows(&customer_id, now) {
                self.send_list(ListKind::Summary, &customer_id, rows, Status::Summarised)
                    .await?;
                self.throttle.record(&customer_id, now);
            }
        }
        if let Some(cutoff) = digest_cutoff(now, self.settings.digest_hour_utc) {
            let waiting = self
                .retry("reading digest notifications", || {
                    self.ledger.waiting(Status::Digest)
                })
                .await?;
            let due = waiting
                .into_iter()
                .filter(|row| i64::from(row.recorded_at) * 1000 < cutoff);
            for (customer_id, rows) in by_customer(due.collect()) {
                self.send_list(ListKind::Digest, &customer_id, rows, Status::Digested)
                    .await?;
            }
        }
        Ok(())
    }

    async fn send_list(
        &mut self,
        kind: ListKind,
        customer_id: &str,
        rows: Vec<NotificationRow>,
        done: Status,
    ) -> Result<(), Interrupted> {
        let mut recipients: Vec<String> =
            rows.iter().flat_map(|row| row.recipients.clone()).collect();
        recipients.sort();
        recipients.dedup();
        let mail = match self.templates.list(kind, &rows) {
            Ok(mail) => mail,
            Err(error) => {
                tracing::error!(%error, customer_id, "list mail could not be rendered");
                self.metrics.failed("render");
                return Ok(());
            }
        };
        let list_id = ledger::list_id(&rows);
        let status = match self.send(&recipients, &mail, &list_id).await? {
            Ok(()) => {
                self.metrics.sent(match kind {
                    ListKind::Summary => "summary",
                    ListKind::Digest => "digest",
                });
                done
            }
            Err(reason) => {
                tracing::warn!(customer_id, %reason, "list mail refused for good");
                self.metrics.failed("refused");
                Status::Failed
            }
        };
        let done_rows: Vec<NotificationRow> = rows
            .iter()
            .map(|row| row.with_status(status, &mail.subject))
            .collect();
        self.record(done_rows).await
    }
}

/// Once today's digest hour (UTC) has come: the instant it came. A digest lists what waited
/// until then; what came later waits for tomorrow's.
fn digest_cutoff(now_ms: i64, digest_hour_utc: u8) -> Option<i64> {
    let today_digest_ms =
        now_ms - now_ms.rem_euclid(DAY_MS) + i64::from(digest_hour_utc) * 3_600_000;
    (now_ms >= today_digest_ms).then_some(today_digest_ms)
}

fn by_customer(rows: Vec<NotificationRow>) -> BTreeMap<String, Vec<NotificationRow>> {
    let mut grouped: BTreeMap<String, Vec<NotificationRow>> = BTreeMap::new();
    for row in rows {
        grouped
            .entry(row.customer_id.clone())
            .or_default()
            .push(row);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn the_digest_goes_out_from_its_hour_with_what_waited_until_then() {
        let midnight = 20_000 * DAY_MS;
        assert_eq!(digest_cutoff(midnight + 6 * HOUR_MS, 7), None, "not yet");
        assert_eq!(
            digest_cutoff(midnight + 7 * HOUR_MS, 7),
            Some(midnight + 7 * HOUR_MS)
        );
        assert_eq!(
            digest_cutoff(midnight + 23 * HOUR_MS, 7),
            Some(midnight + 7 * HOUR_MS),
            "later the same day: still only what waited until 07:00"
        );
    }
}
