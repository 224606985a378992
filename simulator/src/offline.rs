//! The fleet without a gateway: a labelled scenario generated in memory, beat by beat in event
//! time, for backtests and the rule library's quality gate (no network, no clock: a day of a
//! fleet takes seconds).

use ucx_schemas::Beat;

use crate::faults::Fault;
use crate::labels::RunInfo;

/// The shape of a scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub installations: usize,
    pub tick_s: u64,
    pub hours: f64,
    /// Share of the installations that get a fault (kinds in turn).
    pub fault_share: f64,
    pub seed: u64,
    /// Simulated start, UTC ms.
    pub start_ms: i64,
}

impl Scenario {
    /// Where the scenario's simulated time ends, UTC ms.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + (self.hours * 3_600_000.0) as i64
    }
}

/// Generates the scenario's beats in event-time order (`received_at` = `sent_at`), handing each
/// to `each`; returns the run and its faults, as the label file would hold them.
pub fn play(scenario: Scenario, mut each: impl FnMut(Beat)) -> (RunInfo, Vec<Fault>) {
    let end_ms = scenario.end_ms();
    let mut installations = crate::plan(
        scenario.installations,
        scenario.start_ms,
        end_ms,
        true,
        scenario.fault_share,
        scenario.seed,
    );
    let mut faults: Vec<Fault> = installations
        .iter()
        .flat_map(|installation| installation.faults.iter().cloned())
        .collect();
    for fault in &mut faults {
        fault.started_at_wall = fault.started_at;
        fault.speed = 1.0;
    }
    let run = RunInfo {
        installations: installations.iter().map(|i| i.id.clone()).collect(),
        sim_start_ms: scenario.start_ms,
        speed: 1.0,
        tick_s: scenario.tick_s,
    };
    in_event_time(
        &mut installations,
        scenario.start_ms,
        end_ms,
        scenario.tick_s,
        &mut each,
    );
    (run, faults)
}

/// The fleet's beats from `start_ms` to `end_ms`, tick by tick in event time (the installations
/// spread over each tick, as `ucx-sim` spreads them), `received_at` = `sent_at`.
pub fn in_event_time(
    fleet: &mut [crate::fleet::Installation],
    start_ms: i64,
    end_ms: i64,
    tick_s: u64,
    mut each: impl FnMut(Beat),
) {
    let tick_ms = tick_s.max(1) as i64 * 1000;
    let fleet_size = fleet.len().max(1) as i64;
    for tick in 0.. {
        let tick_start = start_ms + tick * tick_ms;
        if tick_start >= end_ms {
            break;
        }
        for (index, installation) in fleet.iter_mut().enumerate() {
            let at = tick_start + index as i64 * tick_ms / fleet_size;
            for mut beat in installation.tick(at) {
                beat.envelope.received_at = beat.envelope.sent_at;
                each(beat);
            }
        }
    }
}

/// The registry a scenario's fleet would have: its customers (as `ucx-sim` provisions them)
/// and active installations, for routing without a gateway.
pub fn registry(installations: usize) -> Vec<ucx_schemas::registry::RegistryRecord> {
    use ucx_schemas::registry::{Customer, Installation, InstallationStatus, RegistryRecord};
    let mut records = Vec::new();
    for index in 0..installations {
        let (customer_id, input) = crate::fleet::customer_input(index);
        if index < 9 {
            records.push(RegistryRecord::Customer(Customer {
                customer_id: customer_id.clone(),
                name: input.name,
                region: input.region,
                contract_tier: input.contract_tier,
                care_end_date: input.care_end_date,
                telemetry_enabled: true,
                alert_contacts: input.alert_contacts,
                updated_at: 0,
            }));
        }
        records.push(RegistryRecord::Installation(Installation {
            installation_id: format!("inst-{:04}", index + 1),
            customer_id,
            key_id: format!("offline-{index}"),
            key_sha256: String::new(),
            status: InstallationStatus::Active,
            updated_at: 0,
            licensed_users: None,
            licensed_devices: None,
        }));
    }
    records
}
