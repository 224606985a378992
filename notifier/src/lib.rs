//! The customer notifier: alert state changes meant for Proactive Support customers (Gold and
//! Platinum, care in force, nothing silencing them) become e-mails to the customer's alert
//! contacts whose minimum severity the alert meets.
//!
//! Never the same notification twice: before mailing, the ledger (`notifications` in
//! ClickHouse) is asked whether it was handled; once mailed it is recorded there, and only then
//! may its offset be committed (the stage runtime commits them every `commit_interval_ms`). A
//! mail server that is away or answers 4xx is retried with backoff (consumption waits); a 5xx
//! answer is final and recorded as FAILED with the reason.
//! Storm control holds back what exceeds a customer's limit for a summary mail; customers who
//! chose a daily digest get one mail a day. The fleet guard holds the mail of a rule that opens
//! across the fleet at once until support decides (one fleet incident instead of hundreds of
//! mails).
//!
//! - `config`: `[notifier]`; `templates`: the mails; `mailer`: SMTP; `ledger`: what was sent;
//!   `throttle`: storm control; `fleet`: the fleet guard; `renewal`: care ending soon.

pub mod config;
pub mod fleet;
mod ledger;
mod mailer;
mod metrics;
mod renewal;
pub mod templates;
mod throttle;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::BorrowedMessage;
use rdkafka::Message;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ucx_common::registry::RegistryView;
use ucx_common::retry::{retry_transient, Backoff, Stopped};
use ucx_common::stage::{Context, DeadLetterReason, Flow, Stage, StageError, StageSpec, Tick};
use ucx_schemas::{decode_alert, Alert, AlertState, Severity};

pub use config::{NotifierConfig, NotifierSettings};
use fleet::{FleetGuard, Thresholds, Verdict};
use ledger::{seconds, Delivery, DeliveryRow, Ledger, NotificationRow, Status};
use mailer::{MailError, Mailer};
use metrics::NotifierMetrics;
use templates::{ListKind, Templates};
use throttle::Throttle;

const DAY_MS: i64 = 86_400_000;

/// The notifier binary's whole `main`.
pub async fn main() -> anyhow::Result<()> {
    ucx_common::service::main(|config: &NotifierConfig| &config.notifier.listen, run).await
}

/// Runs the notifier until `shutdown` is cancelled; `ops_listener` serves `/metrics`.
pub async fn run(
    config: NotifierConfig,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    config.notifier.check()?;
    ucx_tables::migrations::apply(&config.clickhouse).await?;
    let spec = StageSpec {
        name: "notifier",
        group_id: config.notifier.group_id.clone(),
        topics: vec![config.kafka.alerts_topic.clone()],
        clickhouse: Some(config.clickhouse.clone()),
        tick_interval: config.notifier.deferred_interval_ms,
        watch_progress: false,
        fetch_wait: Duration::from_millis(100),
    };
    let kafka = config.kafka.clone();
    ucx_common::stage::run(spec, &kafka, ops_listener, shutdown, |context| {
        Notifier::start(context, config)
    })
    .await
}

/// ClickHouse calls (the ledger) are retried like this until they succeed: consumption waits,
/// nothing is skipped.
const LEDGER_BACKOFF: Backoff = Backoff::STANDARD;

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
    /// The stage's give-up token: waits for the mail server or ClickHouse end with it.
    give_up: CancellationToken,
    commit_interval: Duration,
    /// Since when handled alerts wait for their offsets to be committed.
    uncommitted_since: Option<Instant>,
    /// A mail linking to loopback was warned about (once per run).
    warned_loopback_link: bool,
    fleet: FleetGuard,
}

impl Notifier {
    async fn start(context: Arc<Context>, config: NotifierConfig) -> anyhow::Result<Self> {
        let settings = config.notifier;
        let window_ms = settings.storm_window_s.as_millis() as i64;
        let client = ucx_common::clickhouse::client(&config.clickhouse);
        let mut notifier = Notifier {
            fleet: FleetGuard::new(
                client.clone(),
                context.registry.clone(),
                context.producer.clone(),
                config.kafka.registry_topic.clone(),
                Thresholds::of(&settings),
            ),
            ledger: Ledger::new(client),
            mailer: Mailer::new(&settings)?,
            templates: Templates::new(&settings.language),
            throttle: Throttle::new(settings.storm_max_mails, window_ms),
            digest_customers: settings.digest_customers.iter().cloned().collect(),
            registry: context.registry.clone(),
            metrics: NotifierMetrics::new(&context.metrics_registry),
            give_up: context.give_up.clone(),
            commit_interval: settings.commit_interval_ms,
            uncommitted_since: None,
            warned_loopback_link: false,
            settings,
        };
        // storm control survives a restart: the mails of the current window count
        let since = ucx_common::now_ms() - window_ms;
        let sent = notifier
            .retry("reading recent mails", || notifier.ledger.sent_since(since))
            .await?;
        for (customer_id, at_s) in sent {
            notifier
                .throttle
                .record(&customer_id, i64::from(at_s) * 1000);
        }
        Ok(notifier)
    }

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
    async fn notify(&mut self, alert: &Alert) -> Result<Option<String>, Stopped> {
        if !self.warned_loopback_link && alert.reaches_customer() && links_to_loopback(alert) {
            tracing::warn!(dashboard_url = %alert.dashboard_url, "customer mails link to a loopback address the customer cannot open: set processors.dashboard_url (UCX_PROCESSORS__DASHBOARD_URL) to the dashboards' public address");
            self.warned_loopback_link = true;
        }
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
        let verdict = self.fleet.verdict(alert, now);
        if let Verdict::Silenced { reason } = &verdict {
            let row = NotificationRow::new(alert, Status::Silenced, &recipients, "", reason);
            self.record(vec![row]).await?;
            self.metrics.skipped("fleet_silence");
            return Ok(None);
        }
        if self.digest_customers.contains(&alert.customer_id) {
            let row = NotificationRow::new(alert, Status::Digest, &recipients, "", "");
            self.record(vec![row]).await?;
            self.metrics.deferred("digest");
            return Ok(None);
        }
        let held = match verdict {
            Verdict::Hold { until_ms, reason } => Some((until_ms, reason)),
            _ => None,
        };
        // CRITICAL always goes out at once: the budget is for what can wait for a summary
        if held.is_none()
            && alert.severity != Severity::Critical
            && !self.throttle.allows(&alert.customer_id, now)
        {
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
        let deliveries = self
            .deliver(
                "alert",
                &notification_id,
                &alert.customer_id,
                &recipients,
                &mail,
                held.as_ref().map(|(until_ms, _)| *until_ms),
            )
            .await?;
        let status = ledger::status_of(&deliveries);
        if let Some((_, reason)) = held {
            let row = NotificationRow::new(alert, status, &recipients, &mail.subject, &reason);
            self.record(vec![row]).await?;
            self.metrics.deferred("fleet_hold");
            return Ok(None);
        }
        if status != Status::Failed {
            self.throttle.record(&alert.customer_id, now);
        }
        let reason = refusals(&deliveries);
        let row = NotificationRow::new(alert, status, &recipients, &mail.subject, &reason);
        self.record(vec![row]).await?;
        Ok(None)
    }

    /// Mails `mail` to each recipient in a transaction of its own, once: accepted → SENT,
    /// refused for good → FAILED, 4xx or no answer → RETRYING (tried again later by
    /// [`Notifier::retry_deliveries`], while everything else goes on). Recipients served before
    /// (a record read again after a crash) are not mailed again. Returns every recipient's
    /// delivery, recorded in the ledger. `held_until`: not tried now but parked as HELD until
    /// then (the fleet guard's hold).
    async fn deliver(
        &self,
        kind: &str,
        notification_id: &str,
        customer_id: &str,
        recipients: &[String],
        mail: &templates::Rendered,
        held_until: Option<i64>,
    ) -> Result<Vec<DeliveryRow>, Stopped> {
        let earlier = self
            .retry("looking up deliveries", || {
                self.ledger.deliveries_of(notification_id)
            })
            .await?;
        let now_s = seconds(ucx_common::now_ms());
        let mut fresh = Vec::new();
        for recipient in recipients {
            if earlier.iter().any(|row| &row.recipient == recipient) {
                continue;
            }
            let mut row = DeliveryRow {
                delivery_id: ledger::delivery_id(notification_id, recipient),
                notification_id: notification_id.to_string(),
                customer_id: customer_id.to_string(),
                recipient: recipient.clone(),
                kind: kind.to_string(),
                status: String::new(),
                attempts: 0,
                next_attempt_at: now_s,
                reason: String::new(),
                subject: mail.subject.clone(),
                text: mail.text.clone(),
                html: mail.html.clone(),
                created_at: now_s,
                recorded_at: 0,
                version: 0,
            };
            match held_until {
                Some(until_ms) => {
                    row.status = ledger::Delivery::Held.as_str().into();
                    row.next_attempt_at = seconds(until_ms);
                }
                None => self.attempt(&mut row).await,
            }
            fresh.push(row);
        }
        self.retry("recording deliveries", || {
            self.ledger.record_deliveries(&fresh)
        })
        .await?;
        let mut all: Vec<DeliveryRow> = earlier;
        all.extend(fresh);
        Ok(all)
    }

    /// One try of one delivery; `row` says what became of it.
    async fn attempt(&self, row: &mut DeliveryRow) {
        let mail = templates::Rendered {
            subject: row.subject.clone(),
            text: row.text.clone(),
            html: row.html.clone(),
        };
        row.attempts += 1;
        let outcome = self
            .mailer
            .send(
                std::slice::from_ref(&row.recipient),
                &mail,
                &row.delivery_id,
            )
            .await;
        let now_ms = ucx_common::now_ms();
        let given_up = |row: &DeliveryRow| {
            i64::from(row.created_at) * 1000 + self.settings.retry_give_up_s.as_millis() as i64
                <= now_ms
        };
        match outcome {
            Ok(()) => {
                row.status = Delivery::Sent.as_str().into();
                row.reason.clear();
                self.metrics.sent(&row.kind);
            }
            Err(MailError::Permanent(reason)) => {
                tracing::warn!(delivery_id = %row.delivery_id, recipient = %row.recipient, %reason, "mail refused for good");
                row.status = Delivery::Failed.as_str().into();
                row.reason = reason;
                self.metrics.failed("refused");
            }
            Err(error @ MailError::Transient(_)) if given_up(row) => {
                tracing::warn!(delivery_id = %row.delivery_id, recipient = %row.recipient, %error, attempts = row.attempts, "mail given up");
                row.status = Delivery::Failed.as_str().into();
                row.reason = format!("given up after {} tries: {error}", row.attempts);
                self.metrics.failed("given_up");
            }
            Err(error @ MailError::Transient(_)) => {
                let wait = self.retry_wait(row.attempts);
                tracing::info!(delivery_id = %row.delivery_id, recipient = %row.recipient, %error, retry_in_s = wait.as_secs(), "mail not accepted for now; parked");
                row.status = Delivery::Retrying.as_str().into();
                row.reason = error.to_string();
                row.next_attempt_at = seconds(now_ms + wait.as_millis() as i64);
                self.metrics.retries.inc();
            }
        }
    }

    /// How long a delivery waits after its `attempts`-th try: 5 s, doubling, at most
    /// `retry_backoff_max_ms`.
    fn retry_wait(&self, attempts: u32) -> Duration {
        let doubled =
            Duration::from_secs(5).saturating_mul(1 << attempts.min(16).saturating_sub(1));
        doubled.min(self.settings.retry_backoff_max_ms)
    }

    /// Tries again every parked delivery whose time has come, and brings its notification's
    /// status up to date.
    async fn retry_deliveries(&mut self) -> Result<(), Stopped> {
        let now = ucx_common::now_ms();
        let due = self
            .retry("reading parked deliveries", || {
                self.ledger.due_deliveries(now)
            })
            .await?;
        // what the held deliveries are about: one read of the held notifications per round
        let held: HashMap<String, NotificationRow> =
            if due.iter().any(|row| row.delivery() == Delivery::Held) {
                self.retry("reading held notifications", || {
                    self.ledger.waiting(Status::Held)
                })
                .await?
                .into_iter()
                .map(|row| (row.notification_id.clone(), row))
                .collect()
            } else {
                HashMap::new()
            };
        // held mails of one incident released in one round: one mail per recipient
        let mut incidents: BTreeMap<(String, String), Vec<DeliveryRow>> = BTreeMap::new();
        for mut row in due {
            if row.delivery() == Delivery::Held {
                let notification = held.get(&row.notification_id);
                let verdict = match notification {
                    Some(notification) => self.fleet.incident_verdict(
                        &notification.rule_id,
                        &notification.installation_id,
                        now,
                    ),
                    None => Verdict::Send,
                };
                match verdict {
                    Verdict::Send => match notification.filter(|n| !n.incident_id.is_empty()) {
                        Some(notification) => {
                            let incident =
                                (row.recipient.clone(), notification.incident_id.clone());
                            incidents.entry(incident).or_default().push(row);
                            continue;
                        }
                        None => self.attempt(&mut row).await,
                    },
                    // stays due: looked at again next round, so a release sends it at once
                    Verdict::Hold { .. } => continue,
                    Verdict::Silenced { reason } => {
                        row.status = Delivery::Silenced.as_str().into();
                        row.reason = reason;
                        self.metrics.skipped("fleet_silence");
                    }
                }
            } else {
                self.attempt(&mut row).await;
            }
            self.record_delivery(row).await?;
        }
        for ((recipient, incident_id), mut rows) in incidents {
            // findings of the incident still settling go out with the first
            for (notification_id, notification) in &held {
                let settling = notification.incident_id == incident_id
                    && !rows
                        .iter()
                        .any(|row| &row.notification_id == notification_id)
                    && self.fleet.incident_verdict(
                        &notification.rule_id,
                        &notification.installation_id,
                        now,
                    ) == Verdict::Send;
                if !settling {
                    continue;
                }
                let more = self
                    .retry("looking up deliveries", || {
                        self.ledger.deliveries_of(notification_id)
                    })
                    .await?;
                rows.extend(
                    more.into_iter().filter(|row| {
                        row.recipient == recipient && row.delivery() == Delivery::Held
                    }),
                );
            }
            if rows.len() > 1 {
                self.send_incident(&recipient, &mut rows, &held).await;
            }
            for mut row in rows {
                if row.delivery() == Delivery::Held {
                    self.attempt(&mut row).await;
                }
                self.record_delivery(row).await?;
            }
        }
        Ok(())
    }

    /// Several held findings of one incident for one recipient, as one mail listing them; each
    /// delivery takes its outcome. Should the mail server ask to try later, they are tried one
    /// by one instead (each left `HELD` here).
    async fn send_incident(
        &self,
        recipient: &str,
        rows: &mut [DeliveryRow],
        held: &HashMap<String, NotificationRow>,
    ) {
        let listed: Vec<&NotificationRow> = rows
            .iter()
            .filter_map(|row| held.get(&row.notification_id))
            .collect();
        let mail = match self.templates.list(ListKind::Incident, &listed) {
            Ok(mail) => mail,
            Err(error) => {
                tracing::error!(%error, "incident mail could not be rendered; mailing its findings one by one");
                return;
            }
        };
        // one try, as of the first delivery with the listing mail; the rest take its outcome
        let mut listing = DeliveryRow {
            kind: "incident".into(),
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            ..rows[0].clone()
        };
        self.attempt(&mut listing).await;
        if listing.delivery() == Delivery::Retrying {
            tracing::info!(
                recipient,
                "incident mail not accepted for now; its findings go one by one"
            );
            return;
        }
        for row in rows.iter_mut() {
            row.attempts += 1;
            row.status = listing.status.clone();
            row.reason = listing.reason.clone();
            row.subject = listing.subject.clone();
        }
    }

    /// Records what became of a delivery, and brings its notification's status up to date.
    async fn record_delivery(&self, row: DeliveryRow) -> Result<(), Stopped> {
        let done = std::slice::from_ref(&row);
        self.retry("recording a delivery", || {
            self.ledger.record_deliveries(done)
        })
        .await?;
        if row.kind != "alert" && row.kind != "renewal" {
            return Ok(());
        }
        let deliveries = self
            .retry("looking up deliveries", || {
                self.ledger.deliveries_of(&row.notification_id)
            })
            .await?;
        let previous = self
            .retry("looking up the notification", || {
                self.ledger.notification(&row.notification_id)
            })
            .await?;
        if let Some(previous) = previous {
            let mut updated = previous.with_status(ledger::status_of(&deliveries), &row.subject);
            updated.reason = refusals(&deliveries);
            self.record(vec![updated]).await?;
        }
        Ok(())
    }

    async fn record(&self, rows: Vec<NotificationRow>) -> Result<(), Stopped> {
        self.retry("recording notifications", || self.ledger.record(&rows))
            .await
    }

    /// Runs a ClickHouse call until it succeeds (consumption waits; nothing is skipped).
    async fn retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, Stopped>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, clickhouse::error::Error>>,
    {
        retry_transient(what, LEDGER_BACKOFF, &self.give_up, call).await
    }

    /// The renewal warnings due today, each once (the ledger knows which went out).
    async fn send_renewals(&mut self) -> Result<(), Stopped> {
        if self.settings.renewal_lead_days.is_empty() {
            return Ok(());
        }
        let now = ucx_common::now_ms();
        let today = time::OffsetDateTime::now_utc().date();
        for customer in self.registry.customers() {
            let Some(due) = renewal::due(&customer, today, &self.settings.renewal_lead_days) else {
                continue;
            };
            let notification_id = renewal::notification_id(&customer.customer_id, &due);
            let previous = self
                .retry("looking up the notification", || {
                    self.ledger.status(&notification_id)
                })
                .await?;
            if previous.is_some() {
                continue;
            }
            let recipients: Vec<String> = customer
                .alert_contacts
                .iter()
                .map(|contact| contact.email.clone())
                .collect();
            let mail = self
                .templates
                .renewal(&customer.name, &due.end_date, due.days_left);
            let deliveries = self
                .deliver(
                    "renewal",
                    &notification_id,
                    &customer.customer_id,
                    &recipients,
                    &mail,
                    None,
                )
                .await?;
            let summary = format!(
                "care ends on {} (in {} days; the {}-day warning)",
                due.end_date, due.days_left, due.lead_days
            );
            let mut row = NotificationRow::renewal(
                &notification_id,
                &customer.customer_id,
                &summary,
                &recipients,
                &mail.subject,
                now,
            );
            row.status = ledger::status_of(&deliveries).as_str().to_string();
            row.reason = refusals(&deliveries);
            tracing::info!(customer_id = %customer.customer_id, end_date = %due.end_date, lead_days = due.lead_days, "renewal warning sent");
            self.record(vec![row]).await?;
        }
        Ok(())
    }

    /// Summaries of throttled notifications whose customer has room again, and the daily digests
    /// once their hour has come.
    async fn send_deferred(&mut self) -> Result<(), Stopped> {
        // incidents first: a held mail due now is judged against the newest of them
        if let Err(error) = self.fleet.check(ucx_common::now_ms()).await {
            tracing::warn!(error = %format!("{error:#}"), "fleet guard check failed; trying again next round");
        }
        for (state, count) in self.fleet.in_force(ucx_common::now_ms()) {
            self.metrics.fleet_incidents(state.as_str(), count);
        }
        self.retry_deliveries().await?;
        self.send_renewals().await?;
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

    /// A summary or digest: each current contact of the customer gets one mail listing the
    /// notifications whose severity they want (none if none); then every listed notification
    /// moves on to `done`.
    async fn send_list(
        &mut self,
        kind: ListKind,
        customer_id: &str,
        rows: Vec<NotificationRow>,
        done: Status,
    ) -> Result<(), Stopped> {
        let kind_name = match kind {
            ListKind::Summary => "summary",
            ListKind::Digest => "digest",
            ListKind::Incident => "incident",
        };
        let contacts = self
            .registry
            .customer(customer_id)
            .map(|customer| customer.alert_contacts)
            .unwrap_or_default();
        let mut subject = String::new();
        for contact in contacts {
            let wanted: Vec<NotificationRow> = rows
                .iter()
                .filter(|row| {
                    severity_of(&row.severity)
                        .is_some_and(|severity| rank(severity) >= rank(contact.min_severity))
                })
                .cloned()
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let mail = match self.templates.list(kind, &wanted) {
                Ok(mail) => mail,
                Err(error) => {
                    tracing::error!(%error, customer_id, "list mail could not be rendered");
                    self.metrics.failed("render");
                    continue;
                }
            };
            let list_id = ledger::list_id(&wanted);
            let recipient = std::slice::from_ref(&contact.email);
            self.deliver(kind_name, &list_id, customer_id, recipient, &mail, None)
                .await?;
            subject = mail.subject;
        }
        let done_rows: Vec<NotificationRow> = rows
            .iter()
            .map(|row| row.with_status(done, &subject))
            .collect();
        self.record(done_rows).await
    }
}

impl Stage for Notifier {
    async fn handle(
        &mut self,
        context: &Context,
        record: &BorrowedMessage<'_>,
    ) -> Result<Flow, StageError> {
        match decode_alert(record.payload().unwrap_or_default()) {
            Ok(alert) => {
                if let Some(reason) = self.notify(&alert).await? {
                    context
                        .dead_letter(record, DeadLetterReason::Unrenderable, &reason)
                        .await?;
                }
            }
            Err(error) => {
                let reason = format!("not an alert: {error}");
                context
                    .dead_letter(record, DeadLetterReason::Undecodable, &reason)
                    .await?;
            }
        }
        self.uncommitted_since.get_or_insert_with(Instant::now);
        Ok(Flow::Continue)
    }

    /// Every handled alert is in the ledger already: a checkpoint is only the commit, every
    /// `commit_interval_ms` (a crash in between re-reads alerts but mails none twice).
    fn checkpoint_due(&self) -> Option<Instant> {
        self.uncommitted_since
            .map(|since| since + self.commit_interval)
    }

    async fn checkpoint(&mut self, _context: &Context) -> Result<(), StageError> {
        self.uncommitted_since = None;
        Ok(())
    }

    async fn tick(&mut self, _context: &Context, _tick: Tick) -> Result<Flow, StageError> {
        self.send_deferred().await?;
        Ok(Flow::Continue)
    }
}

/// Whether the alert's dashboard link points at loopback (the default of a local run).
fn links_to_loopback(alert: &Alert) -> bool {
    ucx_common::is_loopback_url(&alert.dashboard_url)
}

/// The refusals among `deliveries`, for the ledger: `recipient: reason; …`.
fn refusals(deliveries: &[DeliveryRow]) -> String {
    deliveries
        .iter()
        .filter(|row| row.delivery() != Delivery::Sent)
        .map(|row| format!("{}: {}", row.recipient, row.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn severity_of(text: &str) -> Option<Severity> {
    match text {
        "INFO" => Some(Severity::Info),
        "WARNING" => Some(Severity::Warning),
        "CRITICAL" => Some(Severity::Critical),
        _ => None,
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

    #[test]
    fn a_loopback_dashboard_link_is_told_from_a_public_one() {
        let mut alert = templates::tests::alert(AlertState::Open);
        for (url, loopback) in [
            (
                "http://127.0.0.1:3000/d/ucx-server/server?var-installation=i",
                true,
            ),
            ("http://localhost/d/x", true),
            ("https://grafana.example.com/d/ucx-server/server", false),
        ] {
            alert.dashboard_url = url.into();
            assert_eq!(links_to_loopback(&alert), loopback, "{url}");
        }
    }
}
