//! Processes beats.

use serde::{Deserialize, Serialize};

use crate::validation::{Validate, Violations, MAX_LIST_ITEMS};

/// Processes / Running Processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessesRunningProcesses {
    pub processes: Vec<RunningProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningProcess {
    pub pid: i64,
    /// Image name, e.g. `sqlservr.exe`.
    pub name: String,
    /// Working set in bytes.
    pub memory_bytes: i64,
    pub handle_count: i64,
    pub thread_count: i64,
    /// CPU usage over the sampling interval, 0–100 % of the whole machine.
    pub cpu_percent: f64,
}

impl Validate for ProcessesRunningProcesses {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.processes", self.processes.len(), MAX_LIST_ITEMS);
        for (index, process) in self.processes.iter().enumerate() {
            let path = format!("data.processes[{index}]");
            violations.check_non_negative(&format!("{path}.pid"), process.pid);
            violations.check_not_empty(&format!("{path}.name"), &process.name);
            violations.check_non_negative(&format!("{path}.memory_bytes"), process.memory_bytes);
            violations.check_non_negative(&format!("{path}.handle_count"), process.handle_count);
            violations.check_non_negative(&format!("{path}.thread_count"), process.thread_count);
            violations.check_percent(&format!("{path}.cpu_percent"), process.cpu_percent);
        }
    }
}
