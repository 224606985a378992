//! The notifier's ledger in ClickHouse: what became of every customer notification
//! (`notifications`) and of every mail to one recipient (`notification_deliveries`). A
//! notification is looked up before it is mailed and recorded as soon as it was, before its
//! offset is committed, so an alert read again after a crash is not mailed again; a recipient
//! already served is not mailed again either. Deliveries waiting for a retry keep their message,
//! so the notifier can send it again later (after a restart too).

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use ucx_schemas::Alert;

/// UTC ms as the ledger's whole seconds (its `DateTime` columns).
pub fn seconds(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000)).unwrap_or_default()
}

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every recipient's mail was accepted.
    Sent,
    /// Some recipients' mail was accepted, the others' refused for good.
    Partial,
    /// Some recipients' mail waits for a retry.
    Retrying,
    Failed,
    Throttled,
    Summarised,
    Digest,
    Digested,
    /// Waiting for the fleet guard: the settle time of a new alert, or a fleet incident of its
    /// rule that support has not decided on yet.
    Held,
    /// A fleet-wide silence of its rule withheld it.
    Silenced,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "SENT",
            Status::Partial => "PARTIAL",
            Status::Retrying => "RETRYING",
            Status::Failed => "FAILED",
            Status::Throttled => "THROTTLED",
            Status::Summarised => "SUMMARISED",
            Status::Digest => "DIGEST",
            Status::Digested => "DIGESTED",
            Status::Held => "HELD",
            Status::Silenced => "SILENCED",
        }
    }
}

#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct NotificationRow {
    pub notification_id: String,
    pub alert_id: String,
    /// The alert's incident (related findings share it; alert schema v5).
    pub incident_id: String,
    pub customer_id: String,
    pub installation_id: String,
    pub rule_id: String,
    pub state: String,
    pub severity: String,
    pub summary: String,
    pub dashboard_url: String,
    pub status: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub reason: String,
    pub event_at: u32,
    pub recorded_at: u32,
    pub version: u64,
}

/// One notification per alert state change: the same record read twice has the same id.
pub fn notification_id(alert: &Alert) -> String {
    let name = format!(
        "notification/{}/{}/{}",
        alert.alert_id,
        alert.state.as_str(),
        alert.event_at
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

impl NotificationRow {
    /// The ledger's record of what became of the notification about `alert`.
    pub fn new(
        alert: &Alert,
        status: Status,
        recipients: &[String],
        subject: &str,
        reason: &str,
    ) -> Self {
        NotificationRow {
            notification_id: notification_id(alert),
            alert_id: alert.alert_id.clone(),
            incident_id: alert.incident_id.clone(),
            customer_id: alert.customer_id.clone(),
            installation_id: alert.installation_id.clone(),
            rule_id: alert.rule_id.clone(),
            state: alert.state.as_str().to_string(),
            severity: alert.severity.as_str().to_string(),
            summary: alert.summary.clone(),
            dashboard_url: alert.dashboard_url.clone(),
            status: status.as_str().to_string(),
            recipients: recipients.to_vec(),
            subject: subject.to_string(),
            reason: reason.to_string(),
            event_at: seconds(alert.event_at),
            recorded_at: 0,
            version: 0,
        }
    }

    /// The ledger's record of a renewal warning to a customer (see `renewal.rs`).
    pub fn renewal(
        notification_id: &str,
        customer_id: &str,
        summary: &str,
        recipients: &[String],
        subject: &str,
        now_ms: i64,
    ) -> Self {
        NotificationRow {
            notification_id: notification_id.to_string(),
            alert_id: String::new(),
            incident_id: String::new(),
            customer_id: customer_id.to_string(),
            installation_id: String::new(),
            rule_id: crate::renewal::RULE_ID.to_string(),
            state: "RENEWAL".into(),
            severity: "INFO".into(),
            summary: summary.to_string(),
            dashboard_url: String::new(),
            status: Status::Sent.as_str().to_string(),
            recipients: recipients.to_vec(),
            subject: subject.to_string(),
            reason: String::new(),
            event_at: seconds(now_ms),
            recorded_at: 0,
            version: 0,
        }
    }

    /// The same notification, moved on to `status`.
    pub fn with_status(&self, status: Status, subject: &str) -> Self {
        NotificationRow {
            status: status.as_str().to_string(),
            subject: subject.to_string(),
            ..self.clone()
        }
    }
}

pub struct Ledger {
    client: Client,
}

impl Ledger {
    pub fn new(client: Client) -> Self {
        Ledger { client }
    }

    /// The newest status of a notification, if it was handled before.
    pub async fn status(
        &self,
        notification_id: &str,
    ) -> Result<Option<String>, clickhouse::error::Error> {
        self.client
            .query("SELECT status FROM notifications FINAL WHERE notification_id = ? LIMIT 1")
            .bind(notification_id)
            .fetch_optional::<String>()
            .await
    }

    /// A notification's newest row.
    pub async fn notification(
        &self,
        notification_id: &str,
    ) -> Result<Option<NotificationRow>, clickhouse::error::Error> {
        self.client
            .query("SELECT ?fields FROM notifications FINAL WHERE notification_id = ? LIMIT 1")
            .bind(notification_id)
            .fetch_optional::<NotificationRow>()
            .await
    }

    /// Records rows, stamped now: the newest status of a notification wins.
    pub async fn record(&self, rows: &[NotificationRow]) -> Result<(), clickhouse::error::Error> {
        self.insert_stamped("notifications", rows).await
    }

    /// Inserts `rows` into `table` stamped with now (`recorded_at`, and `version`, which the
    /// table's ReplacingMergeTree keeps the newest of).
    async fn insert_stamped<R: Stamped>(
        &self,
        table: &str,
        rows: &[R],
    ) -> Result<(), clickhouse::error::Error> {
        let now = ucx_common::now_ms();
        let mut insert = self.client.insert::<R>(table).await?;
        for row in rows {
            let mut row = row.clone();
            row.stamp(seconds(now), u64::try_from(now).unwrap_or_default());
            insert.write(&row).await?;
        }
        insert.end().await
    }

    /// Notifications whose newest status is `status` (waiting for a summary or digest), by
    /// customer, oldest first.
    pub async fn waiting(
        &self,
        status: Status,
    ) -> Result<Vec<NotificationRow>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT ?fields FROM notifications FINAL WHERE status = ? ORDER BY customer_id, event_at",
            )
            .bind(status.as_str())
            .fetch_all::<NotificationRow>()
            .await
    }

    /// Mails sent to a customer since `since_ms` (storm control after a restart).
    pub async fn sent_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, u32)>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT customer_id, recorded_at FROM notifications FINAL \
                 WHERE status IN ('SENT', 'PARTIAL', 'RETRYING') AND recorded_at >= ?",
            )
            .bind(seconds(since_ms))
            .fetch_all::<(String, u32)>()
            .await
    }
}

/// What became of one mail to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Failed,
    Retrying,
    /// Not tried yet: held by the fleet guard until `next_attempt_at`.
    Held,
    /// Never sent: a fleet-wide silence withheld it.
    Silenced,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "SENT",
            Delivery::Failed => "FAILED",
            Delivery::Retrying => "RETRYING",
            Delivery::Held => "HELD",
            Delivery::Silenced => "SILENCED",
        }
    }
}

/// One mail to one recipient (`notification_deliveries`).
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// Also the mail's `Message-ID`: the same for every try.
    pub delivery_id: String,
    /// The notification's id, or a summary's or digest's.
    pub notification_id: String,
    pub customer_id: String,
    pub recipient: String,
    /// `alert`, `summary` or `digest`.
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: u32,
    pub reason: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: u32,
    pub recorded_at: u32,
    pub version: u64,
}

impl DeliveryRow {
    pub fn delivery(&self) -> Delivery {
        match self.status.as_str() {
            "SENT" => Delivery::Sent,
            "RETRYING" => Delivery::Retrying,
            "HELD" => Delivery::Held,
            "SILENCED" => Delivery::Silenced,
            _ => Delivery::Failed,
        }
    }
}

/// The mail of `notification_id` to `recipient`: one id for every try.
pub fn delivery_id(notification_id: &str, recipient: &str) -> String {
    let name = format!("delivery/{notification_id}/{recipient}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// What a notification's deliveries make of it.
pub fn status_of(deliveries: &[DeliveryRow]) -> Status {
    let count = |wanted: Delivery| {
        deliveries
            .iter()
            .filter(|row| row.delivery() == wanted)
            .count()
    };
    if count(Delivery::Held) > 0 {
        Status::Held
    } else if count(Delivery::Silenced) == deliveries.len() && !deliveries.is_empty() {
        Status::Silenced
    } else if count(Delivery::Retrying) > 0 {
        Status::Retrying
    } else if count(Delivery::Failed) == 0 {
        Status::Sent
    } else if count(Delivery::Sent) > 0 {
        Status::Partial
    } else {
        Status::Failed
    }
}

impl Ledger {
    /// The deliveries of one notification (or list mail) so far.
    pub async fn deliveries_of(
        &self,
        notification_id: &str,
    ) -> Result<Vec<DeliveryRow>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT ?fields FROM notification_deliveries FINAL WHERE notification_id = ? \
                 ORDER BY recipient",
            )
            .bind(notification_id)
            .fetch_all::<DeliveryRow>()
            .await
    }

    /// Deliveries waiting for a retry, or held, whose time has come at `now_ms`.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
    ) -> Result<Vec<DeliveryRow>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT ?fields FROM notification_deliveries FINAL \
                 WHERE status IN ('RETRYING', 'HELD') AND next_attempt_at <= ? ORDER BY next_attempt_at",
            )
            .bind(seconds(now_ms))
            .fetch_all::<DeliveryRow>()
            .await
    }

    /// Records deliveries, stamped now: the newest version of each wins.
    pub async fn record_deliveries(
        &self,
        rows: &[DeliveryRow],
    ) -> Result<(), clickhouse::error::Error> {
        self.insert_stamped("notification_deliveries", rows).await
    }
}

/// A ledger row that says when it was recorded and which version of its key it is.
trait Stamped: Clone + clickhouse::RowOwned + clickhouse::RowWrite {
    fn stamp(&mut self, recorded_at: u32, version: u64);
}

impl Stamped for NotificationRow {
    fn stamp(&mut self, recorded_at: u32, version: u64) {
        self.recorded_at = recorded_at;
        self.version = version;
    }
}

impl Stamped for DeliveryRow {
    fn stamp(&mut self, recorded_at: u32, version: u64) {
        self.recorded_at = recorded_at;
        self.version = version;
    }
}

/// One summary or digest mail: derived from the notifications it lists.
pub fn list_id(rows: &[NotificationRow]) -> String {
    let ids: Vec<&str> = rows
        .iter()
        .map(|row| row.notification_id.as_str())
        .collect();
    let name = format!("list/{}", ids.join(","));
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}
