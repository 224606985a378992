//! Signals: the values rules judge, computed from one beat (and what earlier beats of the same
//! installation told, see [`Facts`]). Each gives one observation per subject, e.g. per disk.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use ucx_schemas::{Beat, BeatPayload};

use crate::changes::compare_versions;

/// Express editions of SQL Server refuse writes past 10 GB per database.
const EXPRESS_LIMIT_BYTES: f64 = 10.0 * 1024.0 * 1024.0 * 1024.0;
const DAY_MS: f64 = 86_400_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Per disk: free space, percent of its size.
    DiskFreePercent,
    /// Available memory, percent of the total.
    MemoryAvailablePercent,
    /// Memory in use, percent of the total (100 − available): what peers are compared on.
    MemoryUsedPercent,
    /// Per process name: CPU percent (the busiest instance).
    ProcessCpuPercent,
    /// Per process name: open handles (the largest instance).
    ProcessHandleCount,
    /// Per process name: working set, percent of the server's memory (the largest instance;
    /// once a memory beat told the total).
    ProcessMemoryPercent,
    /// Per service: 1 when it is stopped: listed in a state other than `Running` or a `…Pending`
    /// one, or an automatic service of the inventory missing from the running list.
    ServiceNotRunning,
    /// Per firewall profile: 1 when it is disabled.
    FirewallProfileDisabled,
    /// Days from the newest hotfix to the beat.
    DaysSinceLastHotfix,
    /// Per database on an Express edition: size, percent of the 10 GB limit.
    DatabasePercentOfEditionLimit,
    /// Per database: days from its last maintenance to the beat.
    DaysSinceDatabaseMaintenance,
    /// Per database: 1 when its full-text catalog is not `Healthy`.
    FullTextCatalogUnhealthy,
    /// 1 when UCX Suite logging is off.
    LoggingDisabled,
    /// Days logs are kept (when logging is on).
    LogRetentionDays,
    /// Nodes seen in the cluster before that are missing from its membership now.
    ClusterNodesMissing,
    /// Calls queued in ACD (FIFO and camp-on).
    AcdQueuedCalls,
    /// Faxes waiting to be transmitted.
    FaxesTransmitting,
    /// The year of the UCX Suite release (`2024.Winter.1` → 2024).
    SuiteReleaseYear,
    /// 1 while the node runs an older UCX Suite than it ran before (a downgrade or a restore).
    SuiteDowngraded,
    /// Call-manager users, percent of what the installation's licences cover (once known).
    CucmUsersPercentOfLicence,
    /// Call-manager devices, percent of what the licences cover.
    CucmDevicesPercentOfLicence,
}

/// One value of a signal about one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub subject: String,
    pub value: f64,
    /// Disks: the free space itself, GiB (for `healthy_above_gib`).
    pub free_gib: Option<f64>,
}

fn observe(subject: impl Into<String>, value: f64) -> Observation {
    Observation {
        subject: subject.into(),
        value,
        free_gib: None,
    }
}

fn flag(bad: bool) -> f64 {
    if bad {
        1.0
    } else {
        0.0
    }
}

/// What earlier beats of one installation told that a rule needs to judge a later one.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Facts {
    sql_server_edition: Option<String>,
    cluster_nodes_seen: Vec<String>,
    /// Per node.
    total_memory_bytes: HashMap<String, i64>,
    /// Per node: the newest UCX Suite version it ever ran.
    newest_suite_version: HashMap<String, String>,
    /// What the installation's licences cover, from the registry.
    licensed_users: Option<i64>,
    licensed_devices: Option<i64>,
    /// Per node: the installed services that start automatically (the inventory's newest list):
    /// one of them missing from the running list is stopped.
    automatic_services: HashMap<String, BTreeSet<String>>,
}

/// Automatic services remembered per node, at most (a node lists a few hundred).
const MAX_AUTOMATIC_SERVICES: usize = 1_000;

/// A state Windows reports while a service starts, stops, pauses or continues: not stopped.
fn transitional(status: &str) -> bool {
    status.to_ascii_lowercase().ends_with("pending")
}

impl Facts {
    /// The installation's peer group: its UCX Suite release family (`2024.Winter`) and memory
    /// size class (the largest node's memory rounded up to a power of two: `32 GiB`); `None`
    /// until a suite-info and a memory beat told both. Servers of one group are alike enough
    /// that one using far more than the others is worth a look.
    pub fn peer_group(&self) -> Option<String> {
        let version = self
            .newest_suite_version
            .values()
            .max_by(|a, b| compare_versions(a, b))?;
        let release: Vec<&str> = version.split('.').take(2).collect();
        let memory = *self.total_memory_bytes.values().max()?;
        let gib = (memory as f64 / (1u64 << 30) as f64).ceil().max(1.0) as u64;
        Some(format!(
            "UCX Suite {}, {} GiB class",
            release.join("."),
            gib.next_power_of_two()
        ))
    }

    /// Takes the licensed call-manager capacity from the registry (it changes there, not in beats).
    pub fn licence(&mut self, users: Option<i32>, devices: Option<i32>) {
        self.licensed_users = users.map(i64::from);
        self.licensed_devices = devices.map(i64::from);
    }

    /// Learns from `beat`, a beat of this installation.
    pub fn learn(&mut self, beat: &Beat) {
        let facts = self;
        match &beat.payload {
            BeatPayload::HardwareInfoMemory(memory) if memory.total_bytes > 0 => {
                facts
                    .total_memory_bytes
                    .insert(beat.envelope.node_id.clone(), memory.total_bytes);
            }
            BeatPayload::UcxSuiteSuiteInfo(info) => {
                let newest = facts
                    .newest_suite_version
                    .entry(beat.envelope.node_id.clone())
                    .or_insert_with(|| info.version.clone());
                if compare_versions(&info.version, newest) == Ordering::Greater {
                    *newest = info.version.clone();
                }
            }
            BeatPayload::UcxSuiteDatabaseServer(server) => {
                facts.sql_server_edition = Some(server.sql_server_edition.clone());
            }
            BeatPayload::SoftwareInfoWindowsServices(inventory) => {
                let automatic: BTreeSet<String> = inventory
                    .services
                    .iter()
                    .filter(|service| {
                        service
                            .startup_mode
                            .to_ascii_lowercase()
                            .starts_with("auto")
                    })
                    .map(|service| service.name.clone())
                    .take(MAX_AUTOMATIC_SERVICES)
                    .collect();
                facts
                    .automatic_services
                    .insert(beat.envelope.node_id.clone(), automatic);
            }
            BeatPayload::UcxSuiteCluster(cluster) => {
                for node in &cluster.nodes {
                    if !facts.cluster_nodes_seen.contains(node) {
                        facts.cluster_nodes_seen.push(node.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

impl Signal {
    /// Whether a subject missing from a beat this signal observes is gone (a process that
    /// exited, a disk removed). A service missing from the running list is stopped, not gone.
    pub fn gone_when_absent(self) -> bool {
        !matches!(self, Signal::ServiceNotRunning)
    }

    /// The name series of this signal are remembered under.
    pub fn key(self) -> &'static str {
        match self {
            Signal::DiskFreePercent => "disk_free_percent",
            Signal::MemoryAvailablePercent => "memory_available_percent",
            Signal::MemoryUsedPercent => "memory_used_percent",
            Signal::ProcessCpuPercent => "process_cpu_percent",
            Signal::ProcessHandleCount => "process_handle_count",
            Signal::ProcessMemoryPercent => "process_memory_percent",
            Signal::ServiceNotRunning => "service_not_running",
            Signal::FirewallProfileDisabled => "firewall_profile_disabled",
            Signal::DaysSinceLastHotfix => "days_since_last_hotfix",
            Signal::DatabasePercentOfEditionLimit => "database_percent_of_edition_limit",
            Signal::DaysSinceDatabaseMaintenance => "days_since_database_maintenance",
            Signal::FullTextCatalogUnhealthy => "full_text_catalog_unhealthy",
            Signal::LoggingDisabled => "logging_disabled",
            Signal::LogRetentionDays => "log_retention_days",
            Signal::ClusterNodesMissing => "cluster_nodes_missing",
            Signal::AcdQueuedCalls => "acd_queued_calls",
            Signal::FaxesTransmitting => "faxes_transmitting",
            Signal::SuiteReleaseYear => "suite_release_year",
            Signal::SuiteDowngraded => "suite_downgraded",
            Signal::CucmUsersPercentOfLicence => "cucm_users_percent_of_licence",
            Signal::CucmDevicesPercentOfLicence => "cucm_devices_percent_of_licence",
        }
    }

    /// The observations of this signal in `beat`; none when the beat is of another category.
    pub fn observe(self, beat: &Beat, facts: &Facts) -> Vec<Observation> {
        let sent_at = beat.envelope.sent_at as f64;
        match (self, &beat.payload) {
            (Signal::DiskFreePercent, BeatPayload::HardwareInfoDisks(data)) => data
                .disks
                .iter()
                .filter(|disk| disk.size_bytes > 0)
                .map(|disk| Observation {
                    free_gib: Some(disk.free_bytes as f64 / (1u64 << 30) as f64),
                    ..observe(
                        format!("disk {}", disk.name),
                        100.0 * disk.free_bytes as f64 / disk.size_bytes as f64,
                    )
                })
                .collect(),
            (Signal::MemoryAvailablePercent, BeatPayload::HardwareInfoMemory(data))
                if data.total_bytes > 0 =>
            {
                vec![observe(
                    "memory",
                    100.0 * data.available_bytes as f64 / data.total_bytes as f64,
                )]
            }
            (Signal::MemoryUsedPercent, BeatPayload::HardwareInfoMemory(data))
                if data.total_bytes > 0 =>
            {
                vec![observe(
                    "memory",
                    100.0 - 100.0 * data.available_bytes as f64 / data.total_bytes as f64,
                )]
            }
            (Signal::ProcessCpuPercent, BeatPayload::ProcessesRunningProcesses(data)) => {
                per_name(data.processes.iter().map(|p| (&p.name, p.cpu_percent)))
            }
            (Signal::ProcessHandleCount, BeatPayload::ProcessesRunningProcesses(data)) => per_name(
                data.processes
                    .iter()
                    .map(|p| (&p.name, p.handle_count as f64)),
            ),
            (Signal::ProcessMemoryPercent, BeatPayload::ProcessesRunningProcesses(data)) => {
                match facts.total_memory_bytes.get(&beat.envelope.node_id) {
                    Some(&total) => per_name(
                        data.processes
                            .iter()
                            .map(|p| (&p.name, 100.0 * p.memory_bytes as f64 / total as f64)),
                    ),
                    None => Vec::new(),
                }
            }
            (Signal::ServiceNotRunning, BeatPayload::ProcessesWindowsServices(data)) => {
                // listed: stopped unless running or on its way (StartPending during a reboot)
                let mut observations: Vec<Observation> = data
                    .services
                    .iter()
                    .map(|service| {
                        let stopped = !service.status.eq_ignore_ascii_case("running")
                            && !transitional(&service.status);
                        observe(format!("service {}", service.name), flag(stopped))
                    })
                    .collect();
                // the list is of running services: an automatic one missing from it is stopped
                if let Some(automatic) = facts.automatic_services.get(&beat.envelope.node_id) {
                    for name in automatic {
                        if !data.services.iter().any(|service| &service.name == name) {
                            observations.push(observe(format!("service {name}"), 1.0));
                        }
                    }
                }
                observations
            }
            (Signal::FirewallProfileDisabled, BeatPayload::SoftwareInfoWindowsFirewall(data)) => {
                vec![
                    observe("domain", flag(!data.domain_enabled)),
                    observe("private", flag(!data.private_enabled)),
                    observe("public", flag(!data.public_enabled)),
                ]
            }
            (Signal::DaysSinceLastHotfix, BeatPayload::SoftwareInfoWindowsUpdates(data)) => data
                .hotfixes
                .iter()
                .filter_map(|hotfix| hotfix.installed_at)
                .max()
                .map(|newest| vec![observe("windows updates", days(sent_at, newest))])
                .unwrap_or_default(),
            (Signal::DatabasePercentOfEditionLimit, BeatPayload::UcxSuiteDatabase(data)) => {
                let express = facts
                    .sql_server_edition
                    .as_deref()
                    .is_some_and(|edition| edition.to_ascii_lowercase().contains("express"));
                if express {
                    vec![observe(
                        format!("database {}", data.database_name),
                        100.0 * data.size_bytes as f64 / EXPRESS_LIMIT_BYTES,
                    )]
                } else {
                    Vec::new()
                }
            }
            (Signal::DaysSinceDatabaseMaintenance, BeatPayload::UcxSuiteDatabase(data)) => data
                .last_maintenance_at
                .map(|at| {
                    vec![observe(
                        format!("database {}", data.database_name),
                        days(sent_at, at),
                    )]
                })
                .unwrap_or_default(),
            (Signal::FullTextCatalogUnhealthy, BeatPayload::UcxSuiteDatabase(data)) => {
                vec![observe(
                    format!("database {}", data.database_name),
                    flag(
                        !data
                            .full_text_catalog_status
                            .eq_ignore_ascii_case("healthy"),
                    ),
                )]
            }
            (Signal::LoggingDisabled, BeatPayload::UcxSuiteLogging(data)) => {
                vec![observe("logging", flag(!data.enabled))]
            }
            (Signal::LogRetentionDays, BeatPayload::UcxSuiteLogging(data)) if data.enabled => {
                vec![observe("logging", data.retention_days as f64)]
            }
            (Signal::ClusterNodesMissing, BeatPayload::UcxSuiteCluster(data)) => {
                let missing = facts
                    .cluster_nodes_seen
                    .iter()
                    .filter(|node| !data.nodes.contains(node))
                    .count();
                vec![observe("cluster", missing as f64)]
            }
            (Signal::AcdQueuedCalls, BeatPayload::UcxSuiteAcd(data)) => vec![observe(
                "acd",
                (data.fifo_queued_calls + data.camp_on_queued_calls) as f64,
            )],
            (Signal::FaxesTransmitting, BeatPayload::UcxSuiteDigitalFax(data)) => {
                vec![observe("fax", data.faxes_transmitting as f64)]
            }
            (Signal::SuiteReleaseYear, BeatPayload::UcxSuiteSuiteInfo(data)) => data
                .version
                .split('.')
                .next()
                .and_then(|year| year.parse::<f64>().ok())
                .map(|year| vec![observe("ucx suite", year)])
                .unwrap_or_default(),
            (Signal::SuiteDowngraded, BeatPayload::UcxSuiteSuiteInfo(data)) => {
                match facts.newest_suite_version.get(&beat.envelope.node_id) {
                    Some(newest) => vec![observe(
                        "ucx suite",
                        flag(compare_versions(&data.version, newest) == Ordering::Less),
                    )],
                    None => Vec::new(),
                }
            }
            (Signal::CucmUsersPercentOfLicence, BeatPayload::UcxSuiteVoipArchitecture(data)) => {
                percent_of(data.cucm_users, facts.licensed_users, "cucm users")
            }
            (Signal::CucmDevicesPercentOfLicence, BeatPayload::UcxSuiteVoipArchitecture(data)) => {
                percent_of(data.cucm_devices, facts.licensed_devices, "cucm devices")
            }
            _ => Vec::new(),
        }
    }
}

/// `count` as a percentage of a licensed capacity, when the capacity is known.
fn percent_of(count: i64, licensed: Option<i64>, subject: &str) -> Vec<Observation> {
    match licensed {
        Some(licensed) if licensed > 0 => {
            vec![observe(subject, 100.0 * count as f64 / licensed as f64)]
        }
        _ => Vec::new(),
    }
}

fn days(sent_at_ms: f64, then_ms: i64) -> f64 {
    ((sent_at_ms - then_ms as f64) / DAY_MS).max(0.0).floor()
}

/// One observation per process name, the largest value among its instances.
fn per_name<'a>(values: impl Iterator<Item = (&'a String, f64)>) -> Vec<Observation> {
    let (listed, _) = values.size_hint();
    let mut by_name: Vec<Observation> = Vec::with_capacity(listed);
    // a beat may list thousands of processes: found by name, not by a scan (a seeded fast hash:
    // SipHash was a tenth of this, per process of every process beat)
    let mut position: foldhash::HashMap<&str, usize> =
        foldhash::HashMap::with_capacity_and_hasher(listed, Default::default());
    for (name, value) in values {
        match position.entry(name.as_str()) {
            Entry::Occupied(index) => {
                let seen = &mut by_name[*index.get()].value;
                *seen = seen.max(value);
            }
            Entry::Vacant(vacant) => {
                vacant.insert(by_name.len());
                let mut subject = String::with_capacity("process ".len() + name.len());
                subject.push_str("process ");
                subject.push_str(name);
                by_name.push(observe(subject, value));
            }
        }
    }
    by_name
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::{
        InstalledService, ProcessesWindowsServices, RunningService, SoftwareInfoWindowsServices,
    };
    use ucx_schemas::{Envelope, Region};

    fn beat(payload: BeatPayload) -> Beat {
        Beat {
            envelope: Envelope {
                beat_id: "b".into(),
                installation_id: "inst".into(),
                node_id: "node-1".into(),
                region: Region::EU,
                sent_at: 1,
                received_at: 1,
                source_ip: None,
            },
            payload,
        }
    }

    fn running(services: &[(&str, &str)]) -> Beat {
        beat(BeatPayload::ProcessesWindowsServices(
            ProcessesWindowsServices {
                services: services
                    .iter()
                    .map(|(name, status)| RunningService {
                        pid: 1,
                        name: name.to_string(),
                        status: status.to_string(),
                    })
                    .collect(),
            },
        ))
    }

    #[test]
    fn processes_of_one_name_are_one_subject_at_their_highest_value() {
        let process = |name: &str, cpu_percent: f64| ucx_schemas::beats::RunningProcess {
            pid: 1,
            name: name.into(),
            memory_bytes: 1,
            handle_count: 1,
            thread_count: 1,
            cpu_percent,
        };
        let beat = beat(BeatPayload::ProcessesRunningProcesses(
            ucx_schemas::beats::ProcessesRunningProcesses {
                processes: vec![
                    process("w3wp.exe", 5.0),
                    process("sqlservr.exe", 30.0),
                    process("w3wp.exe", 40.0),
                    process("w3wp.exe", 1.0),
                ],
            },
        ));
        let observed: Vec<(String, f64)> = Signal::ProcessCpuPercent
            .observe(&beat, &Facts::default())
            .into_iter()
            .map(|observation| (observation.subject, observation.value))
            .collect();
        assert_eq!(
            observed,
            [
                ("process w3wp.exe".to_string(), 40.0),
                ("process sqlservr.exe".to_string(), 30.0)
            ]
        );
    }

    fn stopped(beat: &Beat, facts: &Facts) -> Vec<String> {
        Signal::ServiceNotRunning
            .observe(beat, facts)
            .into_iter()
            .filter(|observation| observation.value == 1.0)
            .map(|observation| observation.subject)
            .collect()
    }

    #[test]
    fn an_automatic_service_missing_from_the_running_list_is_stopped_a_pending_one_is_not() {
        let mut facts = Facts::default();
        let inventory = |name: &str, mode: &str| InstalledService {
            name: name.into(),
            startup_mode: mode.into(),
            startup_identity: "LocalSystem".into(),
            exe_path: "C:\\x.exe".into(),
        };
        facts.learn(&beat(BeatPayload::SoftwareInfoWindowsServices(
            SoftwareInfoWindowsServices {
                services: vec![
                    inventory("ApolloService", "Auto"),
                    inventory("MSSQL$SQLEXPRESS", "Automatic (Delayed Start)"),
                    inventory("MSSQLSERVER", "Manual"),
                ],
            },
        )));
        // the database service vanished: stopped; the manual one is not expected
        assert_eq!(
            stopped(&running(&[("ApolloService", "Running")]), &facts),
            ["service MSSQL$SQLEXPRESS"]
        );
        // a reboot: starting and stopping are not stopped
        assert!(stopped(
            &running(&[
                ("ApolloService", "StartPending"),
                ("MSSQL$SQLEXPRESS", "StopPending")
            ]),
            &facts
        )
        .is_empty());
        // listed as stopped still counts
        assert_eq!(
            stopped(
                &running(&[
                    ("ApolloService", "Stopped"),
                    ("MSSQL$SQLEXPRESS", "Running")
                ]),
                &facts
            ),
            ["service ApolloService"]
        );
        // without an inventory only the listed states count
        assert!(stopped(&running(&[]), &Facts::default()).is_empty());
    }
}
