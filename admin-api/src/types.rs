//! What the admin API's requests carry and its answers hold.

use serde::{Deserialize, Serialize};
use ucx_schemas::{
    AlertContact, ContractTier, Customer, FleetIncident, InstallationStatus, Region, Silence,
};

/// `PUT /v1/admin/customers/{customer_id}`: creates (201) or updates (200) a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub name: String,
    pub region: Region,
    pub contract_tier: ContractTier,
    /// Last day of the support contract, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub care_end_date: Option<String>,
    #[serde(default)]
    pub alert_contacts: Vec<AlertContact>,
    /// On for a new customer when absent; left as it is for an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_enabled: Option<bool>,
}

/// `PUT /v1/admin/customers/{customer_id}/telemetry`: off also requests a purge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryInput {
    pub enabled: bool,
    /// Who asks: the customer, a reseller on its behalf, a support engineer. Kept with the
    /// purge request a switch-off makes (and in the `purges` table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why, kept likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/admin/customers/{customer_id}/erase`: the customer's data erased everywhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureInput {
    /// Who asks (the customer, a reseller on its behalf); kept with the purge request.
    pub by: String,
    /// Why, kept likewise.
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasureView {
    pub customer_id: String,
    /// Its installations, whose registry records (keys) are deleted.
    pub installation_ids: Vec<String>,
    /// Registry records deleted: the customer (contacts included), its installations and
    /// silences.
    pub registry_records_deleted: usize,
}

/// `POST /v1/admin/customers/{customer_id}/installations`: registers an installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallationInput {
    pub installation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_users: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensed_devices: Option<i32>,
}

/// `PUT /v1/admin/installations/{installation_id}/licence`: the call-manager capacity an
/// installation's licences cover (leave a count out when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenceInput {
    #[serde(default)]
    pub licensed_users: Option<i32>,
    #[serde(default)]
    pub licensed_devices: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceKindInput {
    /// Recorded for support; the customer is not notified, no reminders.
    Silence,
    /// No alert opens meanwhile, heartbeat loss included.
    Maintenance,
}

/// `PUT /v1/admin/silences/{silence_id}`: declares (201) or replaces (200) a silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceInput {
    /// `silence` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SilenceKindInput>,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// RFC 3339; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// RFC 3339; or give `duration_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    /// Why, for the next engineer.
    pub comment: String,
    /// Who.
    pub created_by: String,
}

/// `POST /v1/admin/alerts/{alert_id}/acknowledge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementInput {
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /v1/admin/fleet-incidents/{incident_id}/release`: support confirmed the incident (or
/// ends a fleet-wide silence early); the held customer mail goes out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetReleaseInput {
    pub by: String,
    #[serde(default)]
    pub comment: String,
}

/// `POST /v1/admin/fleet-silences`: no customer mail of `rule_id` (on `ucx_version`, or every
/// version) anywhere in the fleet until it ends; alerts are still recorded for support. Also the
/// answer to a held fleet incident of that rule and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSilenceInput {
    pub rule_id: String,
    /// Every version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ucx_version: Option<String>,
    /// RFC 3339; or give `duration_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    /// Why, for the next engineer.
    pub comment: String,
    /// Who.
    pub created_by: String,
}

/// A fleet incident as the API shows it: the record and whether it holds or withholds customer
/// mail now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetIncidentView {
    #[serde(flatten)]
    pub incident: FleetIncident,
    pub in_force: bool,
}

impl FleetIncidentView {
    pub fn at(incident: FleetIncident, now_ms: i64) -> Self {
        FleetIncidentView {
            in_force: incident.in_force(now_ms),
            incident,
        }
    }
}

/// What the admin API shows of an installation: never the key's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallationView {
    pub installation_id: String,
    pub customer_id: String,
    pub key_id: String,
    pub status: InstallationStatus,
    pub updated_at: i64,
    pub licensed_users: Option<i32>,
    pub licensed_devices: Option<i32>,
}

impl From<ucx_schemas::Installation> for InstallationView {
    fn from(installation: ucx_schemas::Installation) -> Self {
        InstallationView {
            installation_id: installation.installation_id,
            customer_id: installation.customer_id,
            key_id: installation.key_id,
            status: installation.status,
            updated_at: installation.updated_at,
            licensed_users: installation.licensed_users,
            licensed_devices: installation.licensed_devices,
        }
    }
}

/// A customer and its installations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: Customer,
    pub installations: Vec<InstallationView>,
}

/// An installation and its new key, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedKeyView {
    #[serde(flatten)]
    pub installation: InstallationView,
    pub key: String,
}

/// A silence as the API shows it: the record and whether it is in force now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: Silence,
    pub active: bool,
}

impl SilenceView {
    /// `silence` and whether it is in force at `now_ms`.
    pub fn at(silence: Silence, now_ms: i64) -> Self {
        SilenceView {
            active: (silence.starts_at..silence.ends_at).contains(&now_ms),
            silence,
        }
    }
}

/// Every refusal's body: `code` for programs, `error` for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub error: String,
}
