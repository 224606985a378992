//! The customer registry: customers, their installations and purge requests. They live as
//! records on a compacted Kafka topic, keyed by [`RegistryRecord::key`], so the latest record
//! per key is the current state and every stage can rebuild its view by reading the topic.

use serde::{Deserialize, Serialize};

use crate::alert::Severity;
use crate::beats::Region;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContractTier {
    Basic,
    Gold,
    Platinum,
}

impl ContractTier {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractTier::Basic => "BASIC",
            ContractTier::Gold => "GOLD",
            ContractTier::Platinum => "PLATINUM",
        }
    }

    /// Gold and Platinum customers are e-mailed (Proactive Support); Basic alerts stay with
    /// the support team (Enhanced Support).
    pub fn is_proactive(self) -> bool {
        matches!(self, ContractTier::Gold | ContractTier::Platinum)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertContact {
    pub email: String,
    /// The contact hears of alerts of this severity or worse.
    pub min_severity: Severity,
}

/// Mirrors `avro/registry/customer.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    pub region: Region,
    pub contract_tier: ContractTier,
    /// Last day of the support contract, `YYYY-MM-DD`.
    pub care_end_date: Option<String>,
    pub telemetry_enabled: bool,
    pub alert_contacts: Vec<AlertContact>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstallationStatus {
    Active,
    Revoked,
}

/// Mirrors `avro/registry/installation.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installation {
    pub installation_id: String,
    pub customer_id: String,
    /// Public part of the key: finds the record without comparing secrets.
    pub key_id: String,
    /// Hex SHA-256 of the key's secret part.
    pub key_sha256: String,
    pub status: InstallationStatus,
    pub updated_at: i64,
    /// Call-manager users and devices the installation's licences cover (v2).
    #[serde(default)]
    pub licensed_users: Option<i32>,
    #[serde(default)]
    pub licensed_devices: Option<i32>,
}

/// Mirrors `avro/registry/purge_request.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurgeRequest {
    pub customer_id: String,
    pub installation_ids: Vec<String>,
    /// Beats received up to this instant (UTC ms) are to be deleted.
    pub requested_at: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SilenceKind {
    /// Alerts are recorded for support, but the customer is not notified and no reminders go out.
    Silence,
    /// No alert opens, heartbeat loss included: the server is being worked on.
    Maintenance,
}

impl SilenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceKind::Silence => "silence",
            SilenceKind::Maintenance => "maintenance",
        }
    }
}

/// Mirrors `avro/registry/silence.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub silence_id: String,
    pub kind: SilenceKind,
    pub customer_id: String,
    /// One installation of the customer; all of them when `None`.
    pub installation_id: Option<String>,
    /// One rule; all when `None`.
    pub rule_id: Option<String>,
    /// UTC ms, from (inclusive) …
    pub starts_at: i64,
    /// … to (exclusive).
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
}

impl Silence {
    /// Whether it covers an alert of `rule_id` on `installation_id` (of `customer_id`) at `at_ms`.
    pub fn covers(
        &self,
        customer_id: &str,
        installation_id: &str,
        rule_id: &str,
        at_ms: i64,
    ) -> bool {
        self.customer_id == customer_id
            && self
                .installation_id
                .as_deref()
                .is_none_or(|id| id == installation_id)
            && self.rule_id.as_deref().is_none_or(|id| id == rule_id)
            && (self.starts_at..self.ends_at).contains(&at_ms)
    }

    /// How alerts name it in `suppressed_by`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.silence_id)
    }
}

/// Mirrors `avro/registry/acknowledgement.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub alert_id: String,
    pub acknowledged_by: String,
    pub comment: String,
    pub acknowledged_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FleetIncidentState {
    /// Customer mail of the rule waits until `hold_until` or a decision.
    Held,
    /// Support confirmed it: the mail goes out.
    Released,
    /// No customer mail of the rule until `hold_until`; alerts are still recorded for support.
    Silenced,
}

impl FleetIncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            FleetIncidentState::Held => "HELD",
            FleetIncidentState::Released => "RELEASED",
            FleetIncidentState::Silenced => "SILENCED",
        }
    }
}

/// Mirrors `avro/registry/fleet_incident.avsc`: a rule opening on a large share of the fleet at
/// once (raised by the fleet guard), or a fleet-wide silence of a rule (declared by support).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetIncident {
    pub incident_id: String,
    pub rule_id: String,
    /// Every version when `None`.
    pub ucx_version: Option<String>,
    pub state: FleetIncidentState,
    pub installations: Vec<String>,
    pub fleet_size: i32,
    pub opened_at: i64,
    pub hold_until: i64,
    pub decided_by: String,
    pub comment: String,
    pub updated_at: i64,
}

impl FleetIncident {
    /// The id of the incident of `rule_id` on `ucx_version` (every version: `None`).
    pub fn id_of(rule_id: &str, ucx_version: Option<&str>) -> String {
        format!("{rule_id}@{}", ucx_version.unwrap_or(ALL_VERSIONS))
    }

    /// The registry key of the incident `incident_id`.
    pub fn key_of(incident_id: &str) -> String {
        format!("fleet:{incident_id}")
    }

    /// Whether it covers an alert of `rule_id` on an installation running `ucx_version`.
    pub fn covers(&self, rule_id: &str, ucx_version: Option<&str>) -> bool {
        self.rule_id == rule_id
            && match &self.ucx_version {
                None => true,
                Some(version) => ucx_version == Some(version.as_str()),
            }
    }

    /// Held or silenced at `now_ms`: customer mail of its rule waits or is withheld.
    pub fn in_force(&self, now_ms: i64) -> bool {
        self.state != FleetIncidentState::Released && now_ms < self.hold_until
    }
}

/// How an incident id names "every version".
pub const ALL_VERSIONS: &str = "all-versions";

/// One record of the registry topic.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryRecord {
    Customer(Customer),
    Installation(Installation),
    Purge(PurgeRequest),
    Silence(Silence),
    Acknowledgement(Acknowledgement),
    FleetIncident(FleetIncident),
}

impl RegistryRecord {
    /// The compaction key: one current record per customer, installation and purge.
    pub fn key(&self) -> String {
        match self {
            RegistryRecord::Customer(customer) => format!("customer:{}", customer.customer_id),
            RegistryRecord::Installation(installation) => {
                format!("installation:{}", installation.installation_id)
            }
            RegistryRecord::Purge(purge) => format!("purge:{}", purge.customer_id),
            RegistryRecord::Silence(silence) => format!("silence:{}", silence.silence_id),
            RegistryRecord::Acknowledgement(ack) => format!("ack:{}", ack.alert_id),
            RegistryRecord::FleetIncident(incident) => FleetIncident::key_of(&incident.incident_id),
        }
    }
}

pub(crate) const CUSTOMER_SCHEMA_SOURCE: &str = include_str!("../avro/registry/customer.avsc");
pub(crate) const INSTALLATION_SCHEMA_SOURCE: &str =
    include_str!("../avro/registry/installation.avsc");
/// Earlier versions of registry schemas: records they wrote stay readable.
pub(crate) const INSTALLATION_SCHEMA_HISTORY: &[(&str, &str)] = &[(
    "installation.v1",
    include_str!("../avro/history/installation.v1.avsc"),
)];
pub(crate) const PURGE_SCHEMA_SOURCE: &str = include_str!("../avro/registry/purge_request.avsc");
pub(crate) const SILENCE_SCHEMA_SOURCE: &str = include_str!("../avro/registry/silence.avsc");
pub(crate) const FLEET_INCIDENT_SCHEMA_SOURCE: &str =
    include_str!("../avro/registry/fleet_incident.avsc");
pub(crate) const ACKNOWLEDGEMENT_SCHEMA_SOURCE: &str =
    include_str!("../avro/registry/acknowledgement.avsc");
