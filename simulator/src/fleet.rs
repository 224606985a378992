//! A fleet of simulated UCX Suite installations and the beats each one sends per tick.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ucx_schemas::beats::{
    Disk, HardwareInfoDisks, ProcessesRunningProcesses, RunningProcess, UcxSuiteAcd,
};
use ucx_schemas::{Beat, BeatPayload, Category, Envelope, Region};

const GIB: i64 = 1024 * 1024 * 1024;
/// Inventory and configuration beats (software, hardware, suite set-up) change slowly: they are
/// sent every this many ticks, the measurements every tick.
const INVENTORY_EVERY_TICKS: u64 = 12;
const REGIONS: [Region; 3] = [Region::EU, Region::US, Region::ME];
const PROCESSES: [(&str, i64); 5] = [
    ("sqlservr.exe", 2 * GIB),
    ("ApolloService.exe", GIB / 2),
    ("StonevoiceAS.exe", GIB / 4),
    ("w3wp.exe", GIB / 3),
    ("AttendantConsoleServer.exe", GIB / 5),
];

pub struct Installation {
    pub id: String,
    region: Region,
    nodes: usize,
    data_disk_size: i64,
    data_disk_free: i64,
    /// Bytes the data disk loses per tick: a filling disk for the processors to catch.
    data_disk_fill_per_tick: i64,
    call_volume: f64,
    ticks: u64,
    rng: StdRng,
}

impl Installation {
    /// Installation `index` of the fleet; every fifth one has a data disk that fills up.
    pub fn new(index: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(index as u64);
        let data_disk_size = 200 * GIB;
        let filling = index.is_multiple_of(5);
        Installation {
            id: format!("inst-{:04}", index + 1),
            region: REGIONS[index % REGIONS.len()],
            nodes: 1 + index % 3,
            data_disk_size,
            data_disk_free: if filling {
                data_disk_size * 20 / 100
            } else {
                data_disk_size * rng.random_range(40..80) / 100
            },
            data_disk_fill_per_tick: if filling { data_disk_size / 200 } else { 0 },
            call_volume: rng.random_range(5.0..50.0),
            ticks: 0,
            rng,
        }
    }

    /// The beats of one tick at `now_ms`: per node, disks, running processes and ACD queues.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Beat> {
        self.data_disk_free = (self.data_disk_free - self.data_disk_fill_per_tick).max(GIB);
        // Calls follow the working day: quiet at night, busiest mid-afternoon (UTC, roughly).
        let hour = (now_ms / 3_600_000 % 24) as f64;
        let daytime = (((hour - 8.0) / 24.0) * std::f64::consts::TAU)
            .sin()
            .max(0.05);
        let mut beats = Vec::new();
        for node in 1..=self.nodes {
            let envelope = Envelope {
                beat_id: uuid::Uuid::new_v4().to_string(),
                installation_id: self.id.clone(),
                node_id: format!("node-{node}"),
                region: self.region,
                sent_at: now_ms,
                received_at: 0,
                source_ip: None,
            };
            let disks = HardwareInfoDisks {
                disks: vec![
                    Disk {
                        name: "C:".into(),
                        model: "VMware Virtual disk".into(),
                        size_bytes: 100 * GIB,
                        free_bytes: 35 * GIB,
                    },
                    Disk {
                        name: "D:".into(),
                        model: "VMware Virtual disk".into(),
                        size_bytes: self.data_disk_size,
                        free_bytes: self.data_disk_free,
                    },
                ],
            };
            let processes = ProcessesRunningProcesses {
                processes: PROCESSES
                    .iter()
                    .enumerate()
                    .map(|(index, (name, memory))| RunningProcess {
                        pid: 1000 + 4 * index as i64,
                        name: name.to_string(),
                        memory_bytes: memory + self.rng.random_range(0..GIB / 16),
                        handle_count: self.rng.random_range(200..2000),
                        thread_count: self.rng.random_range(10..120),
                        cpu_percent: (self.rng.random_range(0.0..20.0) * daytime * 10.0).round()
                            / 10.0,
                    })
                    .collect(),
            };
            let queued = (self.call_volume * daytime * self.rng.random_range(0.0..0.3)) as i64;
            let acd = UcxSuiteAcd {
                fifo_queued_calls: queued,
                camp_on_queued_calls: queued / 4,
                active_consultation_calls: self.rng.random_range(0..3),
            };
            let mut payloads = vec![
                BeatPayload::HardwareInfoDisks(disks),
                BeatPayload::ProcessesRunningProcesses(processes),
                BeatPayload::UcxSuiteAcd(acd),
            ];
            if self.ticks.is_multiple_of(INVENTORY_EVERY_TICKS) {
                payloads.extend(inventory(now_ms));
            }
            for payload in payloads {
                let mut envelope = envelope.clone();
                envelope.beat_id = uuid::Uuid::new_v4().to_string();
                beats.push(Beat { envelope, payload });
            }
        }
        self.ticks += 1;
        beats
    }
}

/// The beats of every category the simulation does not model, as their examples say.
fn inventory(now_ms: i64) -> Vec<BeatPayload> {
    let modelled = [
        Category::HardwareInfoDisks,
        Category::ProcessesRunningProcesses,
        Category::UcxSuiteAcd,
    ];
    Category::ALL
        .iter()
        .filter(|category| !modelled.contains(category))
        .map(|category| {
            let mut example: serde_json::Value =
                serde_json::from_str(category.example_source()).expect("examples are JSON");
            example["sent_at"] = now_ms.into();
            let body = serde_json::to_vec(&example).expect("JSON");
            ucx_schemas::parse_beat_json(&body, now_ms)
                .expect("examples are valid beats")
                .payload
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_beat_of_a_tick_passes_the_gateway_validation() {
        let now = ucx_common::now_ms();
        for index in 0..10 {
            for beat in Installation::new(index).tick(now) {
                let body = serde_json::to_vec(&beat.to_wire_json()).unwrap();
                ucx_schemas::parse_beat_json(&body, now).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    #[test]
    fn inventory_beats_come_every_twelfth_tick_and_measurements_every_tick() {
        let mut installation = Installation::new(1); // two nodes
        let categories = |beats: &[Beat]| {
            let mut ids: Vec<&str> = beats.iter().map(|b| b.category().id()).collect();
            ids.sort();
            ids.dedup();
            ids.len()
        };
        let first = installation.tick(ucx_common::now_ms());
        assert_eq!((first.len(), categories(&first)), (2 * 25, 25));
        let second = installation.tick(ucx_common::now_ms());
        assert_eq!((second.len(), categories(&second)), (2 * 3, 3));
    }

    #[test]
    fn a_filling_disk_drops_below_the_warning_threshold_within_20_ticks() {
        let mut installation = Installation::new(0);
        let free_percent = |beats: &[Beat]| match &beats[0].payload {
            BeatPayload::HardwareInfoDisks(d) => {
                100 * d.disks[1].free_bytes / d.disks[1].size_bytes
            }
            _ => unreachable!(),
        };
        assert!(free_percent(&installation.tick(0)) >= 15);
        let last = (0..20).map(|_| installation.tick(0)).last().unwrap();
        assert!(free_percent(&last) < 15);
    }
}
