//! The rows of the tables that are not beats: `alerts` (one row per alert state change) and
//! `installation_changes` (one row per change an inventory beat showed).

use serde::{Deserialize, Serialize};
use ucx_schemas::{Alert, Change, FleetIncident};

use crate::columns::{seconds, unsigned, RowError, RowSink, Seconds};

/// `alerts`: one row per alert state change.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub installation_id: String,
    pub customer_id: String,
    pub contract_tier: String,
    pub notify_customer: bool,
    pub node_id: String,
    pub region: String,
    pub rule_id: String,
    pub rule_version: u16,
    pub subject: String,
    pub severity: String,
    pub state: String,
    pub summary: String,
    pub explanation: String,
    pub dashboard_url: String,
    pub suppressed_by: String,
    pub acknowledged_by: String,
    pub resolution: String,
    pub incident_id: String,
    pub library_version: u32,
    pub observed_value: f64,
    pub threshold: f64,
    pub beat_id: String,
    pub event_at: Seconds,
    pub raised_at: Seconds,
}

/// `backtest_results`: one row per rule and tier of one `ucx-backtest` run: what the library in
/// force and the candidate did within the window, and how their findings differ.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct BacktestRow {
    pub run_id: String,
    pub run_at: Seconds,
    pub window_from: Seconds,
    pub window_to: Seconds,
    pub rules_file: String,
    pub in_force_version: u32,
    pub candidate_version: u32,
    pub rule_id: String,
    pub contract_tier: String,
    pub opened_in_force: u32,
    pub opened_candidate: u32,
    pub resolved_in_force: u32,
    pub resolved_candidate: u32,
    pub mails_in_force: u32,
    pub mails_candidate: u32,
    pub new: u32,
    pub gone: u32,
    pub earlier: u32,
    pub later: u32,
    pub resolved_otherwise: u32,
}

pub const BACKTEST_RESULTS: &str = "backtest_results";

/// `installation_changes`: one row per change an inventory beat showed.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ChangeRow {
    pub change_id: String,
    pub installation_id: String,
    pub customer_id: String,
    pub node_id: String,
    pub region: String,
    pub kind: String,
    pub subject: String,
    pub before: String,
    pub after: String,
    pub beat_id: String,
    pub event_at: Seconds,
    pub detected_at: Seconds,
}

/// `fleet_incidents`: the newest state of each fleet incident episode (see
/// `migrations/0010_fleet_incidents.sql`), written by the notifier from the registry.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct FleetIncidentRow {
    pub incident_id: String,
    pub rule_id: String,
    /// '' for every version.
    pub ucx_version: String,
    pub state: String,
    pub installations: Vec<String>,
    pub installation_count: u32,
    pub fleet_size: u32,
    pub opened_at: Seconds,
    pub hold_until: Seconds,
    pub decided_by: String,
    pub comment: String,
    pub updated_at: Seconds,
    pub version: u64,
}

impl FleetIncidentRow {
    pub fn of(incident: &FleetIncident) -> Result<Self, RowError> {
        Ok(FleetIncidentRow {
            incident_id: incident.incident_id.clone(),
            rule_id: incident.rule_id.clone(),
            ucx_version: incident.ucx_version.clone().unwrap_or_default(),
            state: incident.state.as_str().to_string(),
            installations: incident.installations.clone(),
            installation_count: unsigned(
                "installation_count",
                incident.installations.len() as i64,
            )?,
            fleet_size: unsigned("fleet_size", i64::from(incident.fleet_size))?,
            opened_at: seconds("opened_at", incident.opened_at)?,
            hold_until: seconds("hold_until", incident.hold_until)?,
            decided_by: incident.decided_by.clone(),
            comment: incident.comment.clone(),
            updated_at: seconds("updated_at", incident.updated_at)?,
            version: unsigned("updated_at", incident.updated_at)?,
        })
    }
}

pub const FLEET_INCIDENTS: &str = "fleet_incidents";
pub const ALERTS: &str = "alerts";
pub const INSTALLATION_CHANGES: &str = "installation_changes";

pub fn add_alert<S: RowSink>(
    alert: &Alert,
    customer_id: &str,
    sink: &mut S,
) -> Result<&'static str, RowError> {
    let row = AlertRow {
        alert_id: alert.alert_id.clone(),
        installation_id: alert.installation_id.clone(),
        customer_id: customer_id.to_string(),
        contract_tier: alert.contract_tier.clone(),
        notify_customer: alert.notify_customer,
        node_id: alert.node_id.clone(),
        region: alert.region.as_str().to_string(),
        rule_id: alert.rule_id.clone(),
        rule_version: unsigned("rule_version", i64::from(alert.rule_version))?,
        subject: alert.subject.clone(),
        severity: alert.severity.as_str().to_string(),
        state: alert.state.as_str().to_string(),
        summary: alert.summary.clone(),
        explanation: alert.explanation.clone(),
        dashboard_url: alert.dashboard_url.clone(),
        suppressed_by: alert.suppressed_by.clone(),
        acknowledged_by: alert.acknowledged_by.clone(),
        resolution: alert.resolution.clone(),
        incident_id: alert.incident_id.clone(),
        library_version: unsigned("library_version", i64::from(alert.library_version))?,
        observed_value: alert.observed_value,
        threshold: alert.threshold,
        beat_id: alert.beat_id.clone(),
        event_at: seconds("event_at", alert.event_at)?,
        raised_at: seconds("raised_at", alert.raised_at)?,
    };
    sink.push(ALERTS, vec![row]);
    Ok(ALERTS)
}

pub fn add_change<S: RowSink>(
    change: &Change,
    customer_id: &str,
    sink: &mut S,
) -> Result<&'static str, RowError> {
    let row = ChangeRow {
        change_id: change.change_id.clone(),
        installation_id: change.installation_id.clone(),
        customer_id: customer_id.to_string(),
        node_id: change.node_id.clone(),
        region: change.region.as_str().to_string(),
        kind: change.kind.as_str().to_string(),
        subject: change.subject.clone(),
        before: change.before.clone(),
        after: change.after.clone(),
        beat_id: change.beat_id.clone(),
        event_at: seconds("event_at", change.event_at)?,
        detected_at: seconds("detected_at", change.detected_at)?,
    };
    sink.push(INSTALLATION_CHANGES, vec![row]);
    Ok(INSTALLATION_CHANGES)
}
