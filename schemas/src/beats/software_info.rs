//! Software Info beats. Generated from the seed table's spec; keep in step with `avro/beats/software_info.*.avsc`.

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::validation::{ItemPath, Validate, Violations, MAX_LIST_ITEMS};

/// `software_info.installed_applications`: Software Info / Installed applications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfoInstalledApplications {
    /// Installed applications.
    pub applications: Vec<InstalledApplication>,
}

/// One item of `SoftwareInfoInstalledApplications::applications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledApplication {
    /// Display name.
    pub name: String,
    /// Version as registered.
    pub version: String,
    /// Publisher.
    pub vendor: String,
    /// Installation folder.
    pub install_path: String,
    /// Installation date as registered (YYYY-MM-DD), when known.
    #[serde(default)]
    pub install_date: Option<String>,
}

impl Validate for SoftwareInfoInstalledApplications {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.applications", self.applications.len(), MAX_LIST_ITEMS);
        for (index, item) in self.applications.iter().enumerate() {
            let path = ItemPath::new("data.applications", index);
            violations.check_not_empty(path.field("name"), &item.name);
        }
    }
}

/// `software_info.os`: Software Info / General Operating System info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfoOs {
    /// Windows edition name, e.g. Windows Server 2022 Standard.
    pub edition: String,
    /// Windows version, e.g. 10.0.20348.
    pub version: String,
    /// Windows display language, e.g. en-US.
    pub language: String,
    /// System drive, e.g. C:.
    pub system_drive: String,
    /// System directory, e.g. C:\\Windows\\system32.
    pub system_directory: String,
}

impl Validate for SoftwareInfoOs {
    fn validate(&self, violations: &mut Violations) {
        violations.check_not_empty("data.edition", &self.edition);
        violations.check_not_empty("data.version", &self.version);
    }
}

/// `software_info.windows_services`: Software Info / Windows Services information: installed services and how they start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfoWindowsServices {
    /// Installed Windows services.
    pub services: Vec<InstalledService>,
}

/// One item of `SoftwareInfoWindowsServices::services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledService {
    /// Service name.
    pub name: String,
    /// Start mode: Auto, Manual, Disabled… ('Startup mode' in the 2021 terms, 'Startup name' in 2024; alias startup_name).
    #[serde(alias = "startup_name")]
    pub startup_mode: String,
    /// Account the service runs as, e.g. LocalSystem.
    pub startup_identity: String,
    /// Path of the service executable.
    pub exe_path: String,
}

impl Validate for SoftwareInfoWindowsServices {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.services", self.services.len(), MAX_LIST_ITEMS);
        for (index, item) in self.services.iter().enumerate() {
            let path = ItemPath::new("data.services", index);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_not_empty(path.field("startup_mode"), &item.startup_mode);
        }
    }
}

/// `software_info.windows_updates`: Software Info / Installed Windows Updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfoWindowsUpdates {
    /// Installed hotfix packages.
    pub hotfixes: Vec<Hotfix>,
}

/// One item of `SoftwareInfoWindowsUpdates::hotfixes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hotfix {
    /// E.g. KB5034439.
    pub hotfix_id: String,
    /// Installation time, UTC ms, when Windows reports it.
    #[serde(default)]
    pub installed_at: Option<i64>,
}

impl Validate for SoftwareInfoWindowsUpdates {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.hotfixes", self.hotfixes.len(), MAX_LIST_ITEMS);
        for (index, item) in self.hotfixes.iter().enumerate() {
            let path = ItemPath::new("data.hotfixes", index);
            violations.check_not_empty(path.field("hotfix_id"), &item.hotfix_id);
        }
    }
}

/// `software_info.windows_firewall`: Software Info / Windows Firewall: enabled per profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfoWindowsFirewall {
    /// Firewall enabled for the domain profile.
    pub domain_enabled: bool,
    /// Firewall enabled for the public profile.
    pub public_enabled: bool,
    /// Firewall enabled for the private profile.
    pub private_enabled: bool,
}

impl Validate for SoftwareInfoWindowsFirewall {
    fn validate(&self, _violations: &mut Violations) {}
}
