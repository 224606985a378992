//! Faults the simulator injects into otherwise healthy servers, and the ground-truth label of
//! each: what, where, from when to when, and which rules should notice it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A UCX Suite process's working set grows steadily.
    MemoryLeak,
    /// A process's handle count grows steadily.
    HandleLeak,
    /// Something writes the data disk full (runaway logs, recordings).
    DiskFilling,
    /// The UCX Suite's main service stops (and its process goes).
    ServiceStopped,
    /// A firewall profile is switched off.
    FirewallOff,
    /// The database maintenance plan has not run for over a month.
    DatabaseMaintenanceOverdue,
    /// Far more callers than usual wait in ACD.
    QueueSpike,
    /// Outgoing faxes pile up.
    FaxBacklog,
    /// A cluster node drops out of the membership and stops reporting.
    NodeLoss,
    /// The whole server stops sending beats.
    ServerSilent,
}

impl FaultKind {
    pub const ALL: [FaultKind; 10] = [
        FaultKind::ServiceStopped,
        FaultKind::FirewallOff,
        FaultKind::QueueSpike,
        FaultKind::DiskFilling,
        FaultKind::MemoryLeak,
        FaultKind::ServerSilent,
        FaultKind::NodeLoss,
        FaultKind::DatabaseMaintenanceOverdue,
        FaultKind::FaxBacklog,
        FaultKind::HandleLeak,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::MemoryLeak => "memory_leak",
            FaultKind::HandleLeak => "handle_leak",
            FaultKind::DiskFilling => "disk_filling",
            FaultKind::ServiceStopped => "service_stopped",
            FaultKind::FirewallOff => "firewall_off",
            FaultKind::DatabaseMaintenanceOverdue => "database_maintenance_overdue",
            FaultKind::QueueSpike => "queue_spike",
            FaultKind::FaxBacklog => "fax_backlog",
            FaultKind::NodeLoss => "node_loss",
            FaultKind::ServerSilent => "server_silent",
        }
    }

    /// The rules that should detect the fault (recall counts them), and rules whose alerts are
    /// also right about it but need not come within a run (precision counts them as true).
    pub fn rules(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            FaultKind::MemoryLeak => (&["process_memory_leak"], &["memory_low"]),
            FaultKind::HandleLeak => (&["handle_leak"], &["handle_count_high"]),
            FaultKind::DiskFilling => (&["disk_full_forecast", "disk_free_low"], &[]),
            FaultKind::ServiceStopped => (&["required_service_stopped"], &[]),
            FaultKind::FirewallOff => (&["firewall_disabled"], &[]),
            FaultKind::DatabaseMaintenanceOverdue => (&["database_maintenance_overdue"], &[]),
            FaultKind::QueueSpike => (&["acd_queue_high", "acd_queue_abnormal"], &[]),
            FaultKind::FaxBacklog => (&["fax_backlog", "fax_backlog_abnormal"], &[]),
            // the lost node's own silence is seen too, per node
            FaultKind::NodeLoss => (&["cluster_node_missing", "heartbeat_lost"], &[]),
            FaultKind::ServerSilent => (&["heartbeat_lost"], &[]),
        }
    }

    /// How long the fault lasts; `None`: until the run ends (nobody fixes it).
    fn duration_ms(self) -> Option<i64> {
        match self {
            FaultKind::ServiceStopped => Some(HOUR_MS),
            FaultKind::FirewallOff => Some(2 * HOUR_MS),
            FaultKind::QueueSpike => Some(30 * MINUTE_MS),
            FaultKind::FaxBacklog => Some(HOUR_MS),
            FaultKind::ServerSilent => Some(HOUR_MS),
            _ => None,
        }
    }

    /// The node it strikes on an installation of `nodes` nodes (node loss takes the last one
    /// of a cluster; the database and the queues live on the first), and its subject.
    fn place(self, nodes: usize) -> (Option<String>, Option<&'static str>) {
        let first = Some("node-1".to_string());
        match self {
            FaultKind::MemoryLeak => (first, Some("process ApolloService.exe")),
            FaultKind::HandleLeak => (first, Some("process StonevoiceAS.exe")),
            FaultKind::DiskFilling => (first, Some("disk D:")),
            FaultKind::ServiceStopped => (first, Some("service ApolloService")),
            FaultKind::FirewallOff => (first, Some("domain")),
            FaultKind::DatabaseMaintenanceOverdue => (first, Some("database ApolloDb")),
            FaultKind::QueueSpike => (first, Some("acd")),
            FaultKind::FaxBacklog => (first, Some("fax")),
            FaultKind::NodeLoss => (Some(format!("node-{nodes}")), Some("cluster")),
            FaultKind::ServerSilent => (None, Some("heartbeat")),
        }
    }
}

/// One injected fault: the ground truth the detection-quality report compares alerts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub fault_id: String,
    pub kind: FaultKind,
    pub installation_id: String,
    pub customer_id: String,
    /// The node it strikes; none when the whole installation is struck.
    pub node_id: Option<String>,
    pub subject: Option<String>,
    /// Simulated time, UTC milliseconds (what beats' `sent_at` says).
    pub started_at: i64,
    /// `None`: lasts until the run ends.
    pub ended_at: Option<i64>,
    /// Real time the simulator started injecting it (heartbeat loss is judged on the gateway's
    /// clock, not on `sent_at`).
    #[serde(default)]
    pub started_at_wall: i64,
    /// Simulated milliseconds per real millisecond while it was injected.
    #[serde(default = "one")]
    pub speed: f64,
    pub detected_by: Vec<String>,
    pub also_by: Vec<String>,
}

fn one() -> f64 {
    1.0
}

impl Fault {
    /// Whether the fault is in effect at simulated time `at_ms`.
    pub fn active(&self, at_ms: i64) -> bool {
        at_ms >= self.started_at && self.ended_at.is_none_or(|end| at_ms < end)
    }

    /// Whether the fault is in effect on `node` at `at_ms`.
    pub fn strikes(&self, node: &str, at_ms: i64) -> bool {
        self.active(at_ms) && self.node_id.as_deref().is_none_or(|struck| struck == node)
    }

    /// Hours it has been in effect at `at_ms` (0 before).
    pub fn hours_in(&self, at_ms: i64) -> f64 {
        ((at_ms - self.started_at).max(0)) as f64 / HOUR_MS as f64
    }
}

/// What a fleet member needs to tell the schedule.
pub struct Target<'a> {
    pub installation_id: &'a str,
    pub customer_id: &'a str,
    pub nodes: usize,
}

/// Picks the faulty installations (about `share` of them, at least one when `share` > 0) and
/// gives them fault kinds in turn, each starting at a random time in `[from_ms, to_ms)` (short
/// faults also end before `to_ms`). Deterministic for a seed.
pub fn schedule(targets: &[Target], share: f64, from_ms: i64, to_ms: i64, seed: u64) -> Vec<Fault> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_fa17);
    let wanted = ((targets.len() as f64 * share).round() as usize)
        .max(usize::from(share > 0.0))
        .min(targets.len());
    // Spread the faulty ones over the fleet: every (len / wanted)-th installation.
    let mut faults = Vec::new();
    // Kinds in turn; one a target cannot have (node loss on a single server) waits for the next.
    let mut kinds = std::collections::VecDeque::new();
    for pick in 0..wanted {
        let target = &targets[pick * targets.len() / wanted];
        if kinds.len() < FaultKind::ALL.len() {
            kinds.extend(FaultKind::ALL);
        }
        let position = kinds
            .iter()
            .position(|kind| *kind != FaultKind::NodeLoss || target.nodes > 1)
            .expect("most kinds fit every installation");
        let kind = kinds.remove(position).expect("a found position");
        let length = kind.duration_ms().unwrap_or(0);
        let latest = (to_ms - length).max(from_ms + 1);
        let started_at = rng.random_range(from_ms..latest) / MINUTE_MS * MINUTE_MS;
        let (node_id, subject) = kind.place(target.nodes);
        let (detected_by, also_by) = kind.rules();
        faults.push(Fault {
            fault_id: format!("fault-{:03}-{}", pick + 1, kind.name()),
            kind,
            installation_id: target.installation_id.to_string(),
            customer_id: target.customer_id.to_string(),
            node_id,
            subject: subject.map(str::to_string),
            started_at,
            ended_at: kind.duration_ms().map(|length| started_at + length),
            started_at_wall: 0,
            speed: 1.0,
            detected_by: detected_by.iter().map(|rule| rule.to_string()).collect(),
            also_by: also_by.iter().map(|rule| rule.to_string()).collect(),
        });
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("inst-{i}"), 1 + i % 3)).collect()
    }

    #[test]
    fn every_kind_is_scheduled_once_in_a_fleet_of_twenty_with_half_faulty() {
        let fleet = fleet(20);
        let targets: Vec<Target> = fleet
            .iter()
            .map(|(id, nodes)| Target {
                installation_id: id,
                customer_id: "c",
                nodes: *nodes,
            })
            .collect();
        let faults = schedule(&targets, 0.5, 0, 10 * HOUR_MS, 7);
        let mut kinds: Vec<&str> = faults.iter().map(|f| f.kind.name()).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!((faults.len(), kinds.len()), (10, 10));
        for fault in &faults {
            assert!(fault.started_at >= 0 && fault.started_at < 10 * HOUR_MS);
            if let Some(end) = fault.ended_at {
                assert!(end <= 10 * HOUR_MS, "{fault:?} ends after the window");
            }
            if fault.kind == FaultKind::NodeLoss {
                let nodes = fleet
                    .iter()
                    .find(|(id, _)| *id == fault.installation_id)
                    .unwrap()
                    .1;
                assert!(nodes > 1 && fault.node_id == Some(format!("node-{nodes}")));
            }
        }
        assert_eq!(
            faults,
            schedule(&targets, 0.5, 0, 10 * HOUR_MS, 7),
            "deterministic"
        );
        assert!(schedule(&targets, 0.0, 0, HOUR_MS, 7).is_empty());
    }

    #[test]
    fn a_fault_strikes_its_node_within_its_window() {
        let targets = [Target {
            installation_id: "i",
            customer_id: "c",
            nodes: 2,
        }];
        let fault = &schedule(&targets, 1.0, 0, 10 * HOUR_MS, 1)[0];
        assert_eq!(fault.kind, FaultKind::ServiceStopped);
        let start = fault.started_at;
        assert!(!fault.strikes("node-1", start - 1));
        assert!(fault.strikes("node-1", start));
        assert!(!fault.strikes("node-2", start));
        assert!(
            !fault.strikes("node-1", start + HOUR_MS),
            "a stopped service is restarted"
        );
    }
}
