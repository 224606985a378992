//! A fleet of simulated UCX Suite installations and the beats each one sends per tick: healthy
//! servers of varied size (nodes, memory, disks, call volume) whose readings wander within
//! normal bounds, until a scheduled [`Fault`] strikes.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ucx_schemas::beats::{Disk, Hotfix, RunningProcess, RunningService};
use ucx_schemas::{Beat, BeatPayload, Category, DataClass, Envelope, Region};

use crate::faults::{Fault, FaultKind};

const GIB: i64 = 1024 * 1024 * 1024;
const MIB: i64 = 1024 * 1024;
const DAY_MS: i64 = 86_400_000;
/// Each category comes at its data class's pace (`Category::data_class`, the declaration the
/// processors' liveness judges by too): measurements every tick, the slower-moving UCX Suite
/// counters every fifth, inventory and configuration every fifteenth.
const COUNTERS_EVERY_TICKS: u64 = 5;
const INVENTORY_EVERY_TICKS: u64 = 15;
pub const REGIONS: [Region; 3] = [Region::EU, Region::US, Region::ME];
pub const TIERS: [&str; 3] = ["BASIC", "GOLD", "PLATINUM"];
/// Process name, usual working set, usual handle count; the first runs as ApolloService.
const PROCESSES: [(&str, i64, i64); 5] = [
    ("ApolloService.exe", GIB / 2, 1_800),
    ("sqlservr.exe", 2 * GIB, 1_200),
    ("StonevoiceAS.exe", GIB / 4, 900),
    ("w3wp.exe", GIB / 3, 1_500),
    ("AttendantConsoleServer.exe", GIB / 5, 600),
];
const SERVICES: [&str; 5] = [
    "ApolloService",
    "MSSQL$SQLEXPRESS",
    "StonevoiceAS",
    "W3SVC",
    "AttendantConsoleServer",
];
const SUITE_VERSIONS: [&str; 3] = ["2024.Winter.1", "2025.Summer.2", "2025.Winter.1"];

/// The customer of installation `index` as the simulator registers it: care until 2030, one
/// contact who wants warnings and worse.
pub fn customer_input(index: usize) -> (String, ucx_admin_api::CustomerInput) {
    let (customer, tier, region) = customer_of(index);
    let input = ucx_admin_api::CustomerInput {
        name: format!(
            "Simulated {} customer ({})",
            tier.to_ascii_lowercase(),
            region.as_str()
        ),
        region,
        contract_tier: match tier {
            "PLATINUM" => ucx_schemas::ContractTier::Platinum,
            "GOLD" => ucx_schemas::ContractTier::Gold,
            _ => ucx_schemas::ContractTier::Basic,
        },
        care_end_date: Some("2030-12-31".into()),
        alert_contacts: vec![ucx_schemas::AlertContact {
            email: format!("it@{customer}.example"),
            min_severity: ucx_schemas::Severity::Warning,
        }],
        telemetry_enabled: None,
    };
    (customer, input)
}

/// The customer of installation `index`: one per tier and region.
pub fn customer_of(index: usize) -> (String, &'static str, Region) {
    let tier = TIERS[index % TIERS.len()];
    let region = REGIONS[index / TIERS.len() % REGIONS.len()];
    (
        format!(
            "cust-sim-{}-{}",
            tier.to_ascii_lowercase(),
            region.as_str().to_ascii_lowercase()
        ),
        tier,
        region,
    )
}

pub struct Installation {
    pub id: String,
    pub customer_id: String,
    region: Region,
    pub nodes: usize,
    memory_total: i64,
    data_disk_size: i64,
    /// Free space of the data disk when healthy, percent.
    data_disk_free_percent: f64,
    /// Calls in the busiest hour, a scale for queues and counters.
    call_volume: f64,
    database_bytes: i64,
    suite_version: &'static str,
    newest_hotfix_at: i64,
    pub faults: Vec<Fault>,
    ticks: u64,
    rng: StdRng,
}

impl Installation {
    /// Installation `index` of the fleet: small, medium and large servers in turn.
    pub fn new(index: usize, sim_start_ms: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(index as u64);
        let size = index % 3;
        let (customer_id, _, region) = customer_of(index);
        Installation {
            id: format!("inst-{:04}", index + 1),
            customer_id,
            region,
            nodes: 1 + (index / 2) % 3,
            memory_total: [16, 32, 64][size] * GIB,
            data_disk_size: [200, 500, 1000][size] * GIB,
            data_disk_free_percent: rng.random_range(35.0..60.0),
            call_volume: [10.0, 40.0, 120.0][size] * rng.random_range(0.7..1.3),
            database_bytes: rng.random_range(2 * GIB..5 * GIB),
            suite_version: SUITE_VERSIONS[index % SUITE_VERSIONS.len()],
            newest_hotfix_at: sim_start_ms - rng.random_range(5..40) * DAY_MS,
            faults: Vec::new(),
            ticks: 0,
            rng,
        }
    }

    fn struck(&self, kind: FaultKind, node: &str, at_ms: i64) -> Option<&Fault> {
        self.faults
            .iter()
            .find(|fault| fault.kind == kind && fault.strikes(node, at_ms))
    }

    /// Whether a fault keeps the node from sending anything at `at_ms`.
    fn silent(&self, node: &str, at_ms: i64) -> bool {
        self.struck(FaultKind::ServerSilent, node, at_ms).is_some()
            || self.struck(FaultKind::NodeLoss, node, at_ms).is_some()
    }

    /// The beats of one tick at simulated time `now_ms`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Beat> {
        let due = |class: DataClass| match class {
            DataClass::Measurements => true,
            DataClass::Counters => self.ticks.is_multiple_of(COUNTERS_EVERY_TICKS),
            DataClass::Inventory => self.ticks.is_multiple_of(INVENTORY_EVERY_TICKS),
        };
        let categories: Vec<Category> = Category::ALL
            .iter()
            .copied()
            .filter(|category| due(category.data_class()))
            .collect();
        self.ticks += 1;
        let mut beats = Vec::new();
        for node in 1..=self.nodes {
            let node_id = format!("node-{node}");
            if self.silent(&node_id, now_ms) {
                continue;
            }
            for category in &categories {
                let payload = self.payload(*category, &node_id, now_ms);
                beats.push(Beat {
                    envelope: Envelope {
                        beat_id: uuid::Uuid::new_v4().to_string(),
                        installation_id: self.id.clone(),
                        node_id: node_id.clone(),
                        region: self.region,
                        sent_at: now_ms,
                        received_at: 0,
                        source_ip: None,
                    },
                    payload,
                });
            }
        }
        beats
    }

    /// Calls follow the working day: quiet at night, busiest mid-afternoon (UTC, roughly).
    fn daytime(now_ms: i64) -> f64 {
        let hour = (now_ms % DAY_MS) as f64 / 3_600_000.0;
        (((hour - 8.0) / 24.0) * std::f64::consts::TAU)
            .sin()
            .max(0.05)
    }

    fn processes(&mut self, node: &str, now_ms: i64) -> Vec<RunningProcess> {
        let daytime = Self::daytime(now_ms);
        let apollo_stopped = self
            .struck(FaultKind::ServiceStopped, node, now_ms)
            .is_some();
        let leak = self
            .struck(FaultKind::MemoryLeak, node, now_ms)
            .map(|fault| fault.hours_in(now_ms));
        let handle_leak = self
            .struck(FaultKind::HandleLeak, node, now_ms)
            .map(|fault| fault.hours_in(now_ms));
        let mut processes = Vec::new();
        for (index, (name, memory, handles)) in PROCESSES.iter().enumerate() {
            if index == 0 && apollo_stopped {
                continue;
            }
            let mut memory_bytes = memory + self.rng.random_range(-32 * MIB..32 * MIB);
            let mut handle_count = handles + self.rng.random_range(-40..40);
            if index == 0 {
                // A leak of about a third of a gigabyte an hour.
                memory_bytes += leak.map_or(0, |hours| (hours * 340.0) as i64 * MIB);
            }
            if index == 2 {
                handle_count += handle_leak.map_or(0, |hours| (hours * 900.0) as i64);
            }
            processes.push(RunningProcess {
                pid: 1000 + 4 * index as i64,
                name: name.to_string(),
                memory_bytes,
                handle_count,
                thread_count: self.rng.random_range(10..120),
                cpu_percent: (self.rng.random_range(0.0..25.0) * daytime * 10.0).round() / 10.0,
            });
        }
        processes
    }

    fn payload(&mut self, category: Category, node: &str, now_ms: i64) -> BeatPayload {
        let mut payload = example(category);
        let daytime = Self::daytime(now_ms);
        match &mut payload {
            BeatPayload::HardwareInfoDisks(data) => {
                let mut free = self.data_disk_free_percent + self.rng.random_range(-0.2..0.2);
                if let Some(fault) = self.struck(FaultKind::DiskFilling, node, now_ms) {
                    // Runaway logs: fifteen points of the disk an hour.
                    free = (free - 15.0 * fault.hours_in(now_ms)).max(0.5);
                }
                data.disks = vec![
                    Disk {
                        name: "C:".into(),
                        model: "VMware Virtual disk".into(),
                        size_bytes: 100 * GIB,
                        free_bytes: 38 * GIB + self.rng.random_range(0..GIB / 4),
                    },
                    Disk {
                        name: "D:".into(),
                        model: "VMware Virtual disk".into(),
                        size_bytes: self.data_disk_size,
                        free_bytes: (self.data_disk_size as f64 * free / 100.0) as i64,
                    },
                ];
            }
            BeatPayload::ProcessesRunningProcesses(data) => {
                data.processes = self.processes(node, now_ms);
            }
            BeatPayload::HardwareInfoMemory(data) => {
                let used: i64 = self
                    .processes(node, now_ms)
                    .iter()
                    .map(|p| p.memory_bytes)
                    .sum();
                let system = 3 * GIB + self.rng.random_range(0..GIB / 2);
                data.total_bytes = self.memory_total;
                data.available_bytes = (self.memory_total - used - system).max(GIB / 8);
            }
            BeatPayload::ProcessesWindowsServices(data) => {
                let stopped = self
                    .struck(FaultKind::ServiceStopped, node, now_ms)
                    .is_some();
                data.services = SERVICES
                    .iter()
                    .enumerate()
                    .map(|(index, name)| RunningService {
                        pid: if index == 0 && stopped {
                            0
                        } else {
                            4000 + 8 * index as i64
                        },
                        name: name.to_string(),
                        status: if index == 0 && stopped {
                            "Stopped"
                        } else {
                            "Running"
                        }
                        .into(),
                    })
                    .collect();
            }
            BeatPayload::UcxSuiteAcd(data) => {
                let mut queued =
                    (self.call_volume / 20.0 * daytime * self.rng.random_range(0.0..1.0)) as i64;
                if self.struck(FaultKind::QueueSpike, node, now_ms).is_some() {
                    queued += self.rng.random_range(45..70);
                }
                data.fifo_queued_calls = queued;
                data.camp_on_queued_calls = queued / 5;
                data.active_consultation_calls = self.rng.random_range(0..3);
            }
            BeatPayload::UcxSuiteDigitalFax(data) => {
                data.faxes_transmitting = self.rng.random_range(0..3);
                data.faxes_receiving = self.rng.random_range(0..3);
                if self.struck(FaultKind::FaxBacklog, node, now_ms).is_some() {
                    data.faxes_transmitting += self.rng.random_range(35..60);
                }
            }
            BeatPayload::UcxSuiteIvr(data) => {
                data.active_calls = (self.call_volume / 10.0 * daytime) as i64;
            }
            BeatPayload::UcxSuiteCallRecording(data) => {
                data.recording_calls = (self.call_volume / 8.0 * daytime) as i64;
            }
            BeatPayload::SoftwareInfoWindowsFirewall(data) => {
                data.domain_enabled = self.struck(FaultKind::FirewallOff, node, now_ms).is_none();
                data.private_enabled = true;
                data.public_enabled = true;
            }
            BeatPayload::SoftwareInfoWindowsUpdates(data) => {
                data.hotfixes = vec![Hotfix {
                    hotfix_id: "KB5034439".into(),
                    installed_at: Some(self.newest_hotfix_at),
                }];
            }
            BeatPayload::UcxSuiteDatabase(data) => {
                // A nightly maintenance plan at 02:00, unless it stopped a month ago.
                let nightly = (now_ms - 2 * 3_600_000) / DAY_MS * DAY_MS + 2 * 3_600_000;
                data.last_maintenance_at = Some(
                    match self.struck(FaultKind::DatabaseMaintenanceOverdue, node, now_ms) {
                        Some(fault) => fault.started_at - 31 * DAY_MS,
                        None => nightly,
                    },
                );
                data.size_bytes = self.database_bytes + self.rng.random_range(0..MIB);
                data.full_text_catalog_status = "Healthy".into();
            }
            BeatPayload::UcxSuiteCluster(data) => {
                data.nodes = (1..=self.nodes)
                    .map(|n| format!("node-{n}"))
                    .filter(|n| self.struck(FaultKind::NodeLoss, n, now_ms).is_none())
                    .collect();
            }
            BeatPayload::UcxSuiteSuiteInfo(data) => data.version = self.suite_version.into(),
            BeatPayload::UcxSuiteVoipArchitecture(data) => {
                data.cucm_users = (self.call_volume * 20.0) as i64;
                data.cucm_devices = (self.call_volume * 28.0) as i64;
            }
            _ => {}
        }
        payload
    }
}

/// The example beat of `category` (schemas/examples/), the starting point of every payload.
fn example(category: Category) -> BeatPayload {
    // Any time will do: the envelope is replaced, only the data is kept.
    const AT: i64 = 1_795_000_000_000;
    let mut example: serde_json::Value =
        serde_json::from_str(category.example_source()).expect("examples are JSON");
    example["sent_at"] = AT.into();
    let body = serde_json::to_vec(&example).expect("JSON");
    ucx_schemas::parse_beat_json(&body, AT)
        .expect("examples are valid beats")
        .payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{schedule, Target};

    const START: i64 = 1_795_000_000_000;

    /// The beats of `category` of an inventory tick at `at`.
    fn beats_of(installation: &mut Installation, at: i64, category: Category) -> Vec<Beat> {
        installation.ticks = 0;
        installation
            .tick(at)
            .into_iter()
            .filter(|beat| beat.category() == category)
            .collect()
    }

    #[test]
    fn every_beat_of_a_tick_passes_the_gateway_validation() {
        for index in 0..10 {
            for beat in Installation::new(index, START).tick(START) {
                let body = serde_json::to_vec(&beat.to_wire_json()).unwrap();
                ucx_schemas::parse_beat_json(&body, START).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn inventory_comes_every_fifteenth_tick_counters_every_fifth_measurements_every_tick() {
        let mut installation = Installation::new(2, START); // two nodes
        assert_eq!(installation.nodes, 2);
        let mut sizes = Vec::new();
        for tick in 0..16 {
            sizes.push(installation.tick(START + tick * 60_000).len());
        }
        assert_eq!(sizes[0], 2 * Category::ALL.len());
        assert_eq!(
            (sizes[1], sizes[5], sizes[15]),
            (12, 22, 2 * Category::ALL.len())
        );
    }

    #[test]
    fn faults_change_exactly_what_they_say() {
        let mut installation = Installation::new(2, START);
        let targets = [Target {
            installation_id: "inst-0003",
            customer_id: "c",
            nodes: 2,
        }];
        let mut faults = schedule(&targets, 1.0, START, START + 1, 1);
        faults[0].kind = FaultKind::FirewallOff;
        faults[0].node_id = Some("node-1".into());
        let mut disk = faults[0].clone();
        disk.kind = FaultKind::DiskFilling;
        disk.ended_at = None;
        let mut loss = faults[0].clone();
        loss.kind = FaultKind::NodeLoss;
        loss.node_id = Some("node-2".into());
        installation.faults = vec![faults[0].clone(), disk, loss];
        let before = START - 60_000;
        let firewall = |beats: &[Beat]| match &beats[0].payload {
            BeatPayload::SoftwareInfoWindowsFirewall(f) => f.domain_enabled,
            _ => unreachable!(),
        };
        assert!(firewall(&beats_of(
            &mut installation,
            before,
            Category::SoftwareInfoWindowsFirewall
        )));
        let during = beats_of(
            &mut installation,
            START,
            Category::SoftwareInfoWindowsFirewall,
        );
        assert_eq!(during.len(), 1, "node-2 is lost: it sends nothing");
        assert!(!firewall(&during));
        let mut d_free =
            |at| match &beats_of(&mut installation, at, Category::HardwareInfoDisks)[0].payload {
                BeatPayload::HardwareInfoDisks(d) => {
                    100 * d.disks[1].free_bytes / d.disks[1].size_bytes
                }
                _ => unreachable!(),
            };
        let healthy = d_free(START);
        assert!(healthy >= 34);
        assert!(
            d_free(START + 2 * 3_600_000) <= healthy - 29,
            "fifteen points an hour"
        );
    }

    #[test]
    fn healthy_readings_stay_clear_of_the_rules_thresholds() {
        for index in 0..9 {
            let mut installation = Installation::new(index, START);
            for tick in 0..30 {
                for beat in installation.tick(START + tick * 60_000) {
                    match &beat.payload {
                        BeatPayload::HardwareInfoMemory(m) => {
                            assert!(m.available_bytes * 100 / m.total_bytes > 20)
                        }
                        BeatPayload::UcxSuiteAcd(a) => assert!(a.fifo_queued_calls < 15),
                        BeatPayload::SoftwareInfoWindowsFirewall(f) => {
                            assert!(f.domain_enabled && f.private_enabled && f.public_enabled)
                        }
                        BeatPayload::ProcessesWindowsServices(s) => {
                            assert!(s.services.iter().all(|s| s.status == "Running"))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
