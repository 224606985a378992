//! UCX Suite beats. Generated from the seed table's spec; keep in step with `avro/beats/ucx_suite.*.avsc`.

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::validation::{ItemPath, Validate, Violations, MAX_LIST_ITEMS};

/// `ucx_suite.suite_info`: UCX Suite / UCX Suite Info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteSuiteInfo {
    /// UCX Suite version, e.g. 2024.Winter.1.
    pub version: String,
    /// UCX Suite platform.
    pub platform: String,
    /// Installation folder.
    pub install_path: String,
    /// Size of the installation folder.
    pub install_folder_size_bytes: i64,
}

impl Validate for UcxSuiteSuiteInfo {
    fn validate(&self, violations: &mut Violations) {
        violations.check_not_empty("data.version", &self.version);
        violations.check_non_negative(
            "data.install_folder_size_bytes",
            self.install_folder_size_bytes,
        );
    }
}

/// `ucx_suite.cluster`: UCX Suite / UCX Suite Cluster info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteCluster {
    /// The cluster's nodes.
    pub nodes: Vec<String>,
    /// Database replication strategy.
    pub replication_strategy: String,
}

impl Validate for UcxSuiteCluster {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.nodes", self.nodes.len(), MAX_LIST_ITEMS);
    }
}

/// `ucx_suite.voip_architecture`: UCX Suite / VOIP architecture: the Cisco call manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteVoipArchitecture {
    /// CUCM version.
    pub cucm_version: String,
    /// Number of CUCM users.
    pub cucm_users: i64,
    /// Number of CUCM devices.
    pub cucm_devices: i64,
    /// CUCM IP address.
    pub cucm_ip: String,
}

impl Validate for UcxSuiteVoipArchitecture {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.cucm_users", self.cucm_users);
        violations.check_non_negative("data.cucm_devices", self.cucm_devices);
    }
}

/// `ucx_suite.database_server`: UCX Suite / Database Server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteDatabaseServer {
    /// E.g. Express Edition (64-bit).
    pub sql_server_edition: String,
    /// E.g. 16.0.1000.6.
    pub sql_server_version: String,
    /// SQL Server instance name.
    pub instance_name: String,
}

impl Validate for UcxSuiteDatabaseServer {
    fn validate(&self, violations: &mut Violations) {
        violations.check_not_empty("data.sql_server_edition", &self.sql_server_edition);
        violations.check_not_empty("data.sql_server_version", &self.sql_server_version);
    }
}

/// `ucx_suite.database`: UCX Suite / UCX Suite Database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteDatabase {
    /// Database name.
    pub database_name: String,
    /// Database size.
    pub size_bytes: i64,
    /// Data and log file paths.
    pub file_paths: Vec<String>,
    /// SQL or Windows.
    pub authentication: String,
    /// Status of the full-text catalog, e.g. Healthy.
    pub full_text_catalog_status: String,
    /// Last maintenance, UTC ms; null if never.
    #[serde(default)]
    pub last_maintenance_at: Option<i64>,
}

impl Validate for UcxSuiteDatabase {
    fn validate(&self, violations: &mut Violations) {
        violations.check_not_empty("data.database_name", &self.database_name);
        violations.check_non_negative("data.size_bytes", self.size_bytes);
        violations.check_list_len("data.file_paths", self.file_paths.len(), MAX_LIST_ITEMS);
        violations.check_not_empty("data.authentication", &self.authentication);
        if !matches!(self.authentication.as_str(), "SQL" | "Windows") {
            violations.push(
                "data.authentication",
                "SQL or Windows",
                format!("{:?}", self.authentication),
            );
        }
    }
}

/// `ucx_suite.logging`: UCX Suite / Logging Configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteLogging {
    /// Whether logging is enabled.
    pub enabled: bool,
    /// Days logs are kept.
    pub retention_days: i64,
}

impl Validate for UcxSuiteLogging {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.retention_days", self.retention_days);
    }
}

/// `ucx_suite.attendant_console`: UCX Suite / Attendant Console: connected consoles per type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteAttendantConsole {
    /// Connected consoles per type.
    pub consoles: Vec<ConsoleCount>,
}

/// One item of `UcxSuiteAttendantConsole::consoles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleCount {
    /// Console type.
    pub console_type: String,
    /// Consoles of this type connected.
    pub connected: i64,
}

impl Validate for UcxSuiteAttendantConsole {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.consoles", self.consoles.len(), MAX_LIST_ITEMS);
        for (index, item) in self.consoles.iter().enumerate() {
            let path = ItemPath::new("data.consoles", index);
            violations.check_not_empty(path.field("console_type"), &item.console_type);
            violations.check_non_negative(path.field("connected"), item.connected);
        }
    }
}

/// `ucx_suite.call_recording`: UCX Suite / Call Recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteCallRecording {
    /// Calls being recorded.
    pub recording_calls: i64,
}

impl Validate for UcxSuiteCallRecording {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.recording_calls", self.recording_calls);
    }
}

/// `ucx_suite.ivr`: UCX Suite / IVR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteIvr {
    /// Active IVR calls.
    pub active_calls: i64,
}

impl Validate for UcxSuiteIvr {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.active_calls", self.active_calls);
    }
}

/// `ucx_suite.acd`: UCX Suite / ACD: call queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteAcd {
    /// Calls waiting in FIFO queues.
    pub fifo_queued_calls: i64,
    /// Calls waiting in Camp On queues.
    pub camp_on_queued_calls: i64,
    /// Consultation calls in progress.
    pub active_consultation_calls: i64,
}

impl Validate for UcxSuiteAcd {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.fifo_queued_calls", self.fifo_queued_calls);
        violations.check_non_negative("data.camp_on_queued_calls", self.camp_on_queued_calls);
        violations.check_non_negative(
            "data.active_consultation_calls",
            self.active_consultation_calls,
        );
    }
}

/// `ucx_suite.digital_fax`: UCX Suite / Digital Fax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteDigitalFax {
    /// Faxes being transmitted.
    pub faxes_transmitting: i64,
    /// Faxes being received.
    pub faxes_receiving: i64,
}

impl Validate for UcxSuiteDigitalFax {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.faxes_transmitting", self.faxes_transmitting);
        violations.check_non_negative("data.faxes_receiving", self.faxes_receiving);
    }
}

/// `ucx_suite.phone_lock`: UCX Suite / Phone Lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuitePhoneLock {
    /// ECC-CURRI request rate.
    pub curri_requests_per_second: f64,
}

impl Validate for UcxSuitePhoneLock {
    fn validate(&self, violations: &mut Violations) {
        violations.check_rate(
            "data.curri_requests_per_second",
            self.curri_requests_per_second,
        );
    }
}

/// `ucx_suite.contact_manager`: UCX Suite / Contact Manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UcxSuiteContactManager {
    /// ECC-CURRI request rate.
    pub curri_requests_per_second: f64,
}

impl Validate for UcxSuiteContactManager {
    fn validate(&self, violations: &mut Violations) {
        violations.check_rate(
            "data.curri_requests_per_second",
            self.curri_requests_per_second,
        );
    }
}
