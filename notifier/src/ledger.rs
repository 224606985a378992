//! The notifier's ledger in ClickHouse (`notifications`): what became of every customer
//! notification. A notification is looked up before it is mailed and recorded as soon as it
//! was, before its offset is committed, so an alert read again after a crash is not mailed again.

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use ucx_schemas::Alert;

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Failed,
    Throttled,
    Summarised,
    Digest,
    Digested,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "SENT",
            Status::Failed => "FAILED",
            Status::Throttled => "THROTTLED",
            Status::Summarised => "SUMMARISED",
            Status::Digest => "DIGEST",
            Status::Digested => "DIGESTED",
        }
    }
}

#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize)]
pub struct NotificationRow {
    pub notification_id: String,
    pub alert_id: String,
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
            event_at: u32::try_from(alert.event_at.div_euclid(1000)).unwrap_or_default(),
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

    /// Records rows, stamped now: the newest status of a notification wins.
    pub async fn record(&self, rows: &[NotificationRow]) -> Result<(), clickhouse::error::Error> {
        let now = ucx_common::now_ms();
        let mut insert = self
            .client
            .insert::<NotificationRow>("notifications")
            .await?;
        for row in rows {
            let mut row = row.clone();
            row.recorded_at = u32::try_from(now.div_euclid(1000)).unwrap_or_default();
            row.version = u64::try_from(now).unwrap_or_default();
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
                 WHERE status = 'SENT' AND recorded_at >= ?",
            )
            .bind(u32::try_from(since_ms.div_euclid(1000)).unwrap_or_default())
            .fetch_all::<(String, u32)>()
            .await
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
