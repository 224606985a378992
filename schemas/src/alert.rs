//! Alerts: state changes raised by the processors, read by the sinks and the notifier.

use serde::{Deserialize, Serialize};

use crate::beats::Region;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertState {
    Open,
    Resolved,
    /// Still open after the tier's reminder interval (v3).
    Reminder,
    /// Support took it on through the admin API: no more reminders (v3).
    Acknowledged,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "OPEN",
            AlertState::Resolved => "RESOLVED",
            AlertState::Reminder => "REMINDER",
            AlertState::Acknowledged => "ACKNOWLEDGED",
        }
    }
}

/// A change of an alert's state; mirrors `avro/alerts/alert.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id of one alert episode of (installation, node, rule, subject).
    pub alert_id: String,
    pub installation_id: String,
    pub node_id: String,
    pub region: Region,
    pub rule_id: String,
    pub rule_version: i32,
    /// What the alert is about within the node, e.g. `disk C:`.
    pub subject: String,
    pub severity: Severity,
    pub state: AlertState,
    /// One sentence a support engineer can act on.
    pub summary: String,
    pub observed_value: f64,
    pub threshold: f64,
    /// The beat that carried the evidence.
    pub beat_id: String,
    /// `sent_at` of that beat, UTC ms.
    pub event_at: i64,
    /// When the processor decided, UTC ms.
    pub raised_at: i64,
    /// The installation's customer when the alert was raised ('' if unknown).
    #[serde(default)]
    pub customer_id: String,
    /// `BASIC`, `GOLD` or `PLATINUM` at that moment ('' if unknown).
    #[serde(default)]
    pub contract_tier: String,
    /// Proactive Support: the customer is e-mailed too; otherwise support engineers only.
    #[serde(default)]
    pub notify_customer: bool,
    /// Why the rule matters and what to do (rule library).
    #[serde(default)]
    pub explanation: String,
    /// The server's dashboard.
    #[serde(default)]
    pub dashboard_url: String,
    /// `silence:<id>` / `maintenance:<id>` when one withheld the customer notification.
    #[serde(default)]
    pub suppressed_by: String,
    /// Who acknowledged the alert, once someone did.
    #[serde(default)]
    pub acknowledged_by: String,
    /// Why a `RESOLVED` alert resolved (see [`Resolution`]); '' for the other states (v4).
    #[serde(default)]
    pub resolution: String,
    /// Related findings on one installation share it: the first open alert's id of the rule's
    /// correlation group (`group` in the rule library); the alert's own id otherwise (v5).
    #[serde(default)]
    pub incident_id: String,
    /// The rule library's `library_version` the change was judged under; 0 before v6.
    #[serde(default)]
    pub library_version: i32,
}

/// Why an alert resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The rule's condition cleared (`clear_beats` good verdicts).
    Cleared,
    /// Its subject (a process, a service, a disk) is no longer in the beats that carried it.
    SubjectGone,
    /// Its rule left the rule library.
    RuleRetired,
    /// The installation was revoked, or its customer switched telemetry off.
    InstallationInactive,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Cleared => "cleared",
            Resolution::SubjectGone => "subject_gone",
            Resolution::RuleRetired => "rule_retired",
            Resolution::InstallationInactive => "installation_inactive",
        }
    }
}

impl Alert {
    /// Whether the customer hears of this record: Proactive Support and nothing withholding it.
    pub fn reaches_customer(&self) -> bool {
        self.notify_customer && self.suppressed_by.is_empty()
    }
}

pub(crate) const ALERT_SCHEMA_SOURCE: &str = include_str!("../avro/alerts/alert.avsc");

/// Earlier versions of the alert schema: records they wrote stay readable.
pub(crate) const ALERT_SCHEMA_HISTORY: &[(&str, &str)] = &[
    ("alert.v1", include_str!("../avro/history/alert.v1.avsc")),
    ("alert.v2", include_str!("../avro/history/alert.v2.avsc")),
    ("alert.v3", include_str!("../avro/history/alert.v3.avsc")),
    ("alert.v4", include_str!("../avro/history/alert.v4.avsc")),
    ("alert.v5", include_str!("../avro/history/alert.v5.avsc")),
];
