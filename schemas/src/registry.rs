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

/// One record of the registry topic.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryRecord {
    Customer(Customer),
    Installation(Installation),
    Purge(PurgeRequest),
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
        }
    }
}

pub(crate) const CUSTOMER_SCHEMA_SOURCE: &str = include_str!("../avro/registry/customer.avsc");
pub(crate) const INSTALLATION_SCHEMA_SOURCE: &str =
    include_str!("../avro/registry/installation.avsc");
pub(crate) const PURGE_SCHEMA_SOURCE: &str = include_str!("../avro/registry/purge_request.avsc");
