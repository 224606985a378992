//! Processes beats. Generated from the seed table's spec; keep in step with `avro/beats/processes.*.avsc`.

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::validation::{ItemPath, Validate, Violations, MAX_LIST_ITEMS};

/// `processes.running_processes`: Processes / Running Processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessesRunningProcesses {
    /// Running processes.
    pub processes: Vec<RunningProcess>,
}

/// One item of `ProcessesRunningProcesses::processes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningProcess {
    /// Process id.
    pub pid: i64,
    /// Image name, e.g. sqlservr.exe.
    pub name: String,
    /// Working set in bytes.
    pub memory_bytes: i64,
    /// Open handles.
    pub handle_count: i64,
    /// Threads.
    pub thread_count: i64,
    /// CPU usage over the sampling interval, 0-100 of the whole machine.
    pub cpu_percent: f64,
}

impl Validate for ProcessesRunningProcesses {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.processes", self.processes.len(), MAX_LIST_ITEMS);
        for (index, item) in self.processes.iter().enumerate() {
            let path = ItemPath::new("data.processes", index);
            violations.check_non_negative(path.field("pid"), item.pid);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_non_negative(path.field("memory_bytes"), item.memory_bytes);
            violations.check_non_negative(path.field("handle_count"), item.handle_count);
            violations.check_non_negative(path.field("thread_count"), item.thread_count);
            violations.check_percent(path.field("cpu_percent"), item.cpu_percent);
        }
    }
}

/// `processes.windows_services`: Processes / Windows Services running to provide the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessesWindowsServices {
    /// Windows services.
    pub services: Vec<RunningService>,
}

/// One item of `ProcessesWindowsServices::services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningService {
    /// Process id of the service host.
    pub pid: i64,
    /// Service name.
    pub name: String,
    /// Service state as Windows reports it, e.g. Running, Stopped, StartPending.
    pub status: String,
}

impl Validate for ProcessesWindowsServices {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.services", self.services.len(), MAX_LIST_ITEMS);
        for (index, item) in self.services.iter().enumerate() {
            let path = ItemPath::new("data.services", index);
            violations.check_non_negative(path.field("pid"), item.pid);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_not_empty(path.field("status"), &item.status);
        }
    }
}
