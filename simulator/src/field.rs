//! The field scenario: failures and harmless look-alikes written from how they show on real
//! Windows / UCX Suite servers (support cases, vendor knowledge-base articles: a crashed service
//! simply vanishes from the running list, a cluster node goes quiet while its peer still lists
//! it, logs fill a disk in nightly bursts, SQL Server grabs memory after a restart and levels
//! off…), not from the rule library's thresholds. The simulator's own faults (`faults.rs`) were
//! written together with the rules; this scenario is the independent check of detection
//! quality. A healthy fleet (`fleet.rs`, no faults of its own) is generated in memory and each
//! incident perturbs the beats of its installation; [`evaluate`] scores the alerts per episode.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use ucx_schemas::registry::{RegistryRecord, Silence, SilenceKind};
use ucx_schemas::{Alert, AlertState, Beat, BeatPayload, Severity};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const GIB: i64 = 1024 * 1024 * 1024;
const MIB: i64 = 1024 * 1024;
/// An alert opened this long after its fault ended still belongs to it.
const GRACE_MS: i64 = 30 * MINUTE_MS;

/// The shape of a field scenario.
#[derive(Debug, Clone, Copy)]
pub struct FieldScenario {
    pub installations: usize,
    /// The scored span: faults and one-off look-alikes happen in it, and only episodes opened
    /// in it count.
    pub hours: f64,
    /// Days the fleet ran before (the servers' traits, like a daily peak, included), so that
    /// what a server usually does is known when scoring starts; nothing in them is scored.
    pub history_hours: f64,
    pub tick_s: u64,
    pub seed: u64,
    /// Simulated start, UTC ms.
    pub start_ms: i64,
}

impl FieldScenario {
    pub fn end_ms(&self) -> i64 {
        self.start_ms + (self.hours * HOUR_MS as f64) as i64
    }

    /// Where the unscored history begins.
    pub fn history_start_ms(&self) -> i64 {
        self.start_ms - (self.history_hours * HOUR_MS as f64) as i64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The UCX Suite service crashed: it is gone from the running list (and its process).
    ServiceVanished,
    /// A cluster node stops sending while its peer keeps listing it as a member.
    NodeSilent,
    /// Runaway logs fill the data disk in hourly bursts.
    DiskBursts,
    /// A handle leak of about 3,600 handles a day.
    SlowHandleLeak,
    /// The suite's service leaks about 120 MB an hour.
    MemoryLeak,
    /// 45 minutes of 30–55 callers waiting in ACD (a trunk failure upstream).
    QueueSustained,
    /// Outgoing faxes pile up over two hours (the fax gateway stopped accepting).
    FaxBuildUp,
    /// A Windows update switched the public firewall profile off.
    FirewallProfileOff,
    /// The database was restored from a month-old backup; its maintenance plan was not
    /// re-created.
    MaintenanceJobFailing,
    /// Look-alike: a 2 TB data disk steady at 12 % free (245 GB).
    StableFullDisk,
    /// Look-alike: the morning peak of a busy call centre, 18–26 callers, every day.
    DailyQueuePeak,
    /// Look-alike: SQL Server restarted and takes its memory back over 40 minutes, then levels.
    SqlWarmUp,
    /// Look-alike: a planned reboot in a maintenance window (silent, then services starting).
    PlannedReboot,
    /// Look-alike: the nightly backup takes 12 points of the data disk for 40 minutes.
    BackupDip,
    /// Look-alike: a fax broadcast of 40 pages that drains in 25 minutes.
    FaxBroadcast,
}

impl Kind {
    pub const FAULTS: [Kind; 9] = [
        Kind::ServiceVanished,
        Kind::NodeSilent,
        Kind::DiskBursts,
        Kind::SlowHandleLeak,
        Kind::MemoryLeak,
        Kind::QueueSustained,
        Kind::FaxBuildUp,
        Kind::FirewallProfileOff,
        Kind::MaintenanceJobFailing,
    ];
    pub const LOOK_ALIKES: [Kind; 6] = [
        Kind::StableFullDisk,
        Kind::DailyQueuePeak,
        Kind::SqlWarmUp,
        Kind::PlannedReboot,
        Kind::BackupDip,
        Kind::FaxBroadcast,
    ];

    pub fn benign(self) -> bool {
        Kind::LOOK_ALIKES.contains(&self)
    }

    /// The rules that should see the fault (recall counts them), and rules whose alerts are
    /// also right about it.
    pub fn rules(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::ServiceVanished => (&["required_service_stopped"], &[]),
            Kind::NodeSilent => (&["heartbeat_lost"], &["cluster_node_missing"]),
            Kind::DiskBursts => (&["disk_full_forecast", "disk_free_low"], &[]),
            Kind::SlowHandleLeak => (&["handle_leak"], &["handle_count_high"]),
            Kind::MemoryLeak => (
                &["process_memory_leak"],
                &["memory_low", "memory_above_peers"],
            ),
            Kind::QueueSustained => (&["acd_queue_high", "acd_queue_abnormal"], &[]),
            Kind::FaxBuildUp => (&["fax_backlog", "fax_backlog_abnormal"], &[]),
            Kind::FirewallProfileOff => (&["firewall_disabled"], &[]),
            Kind::MaintenanceJobFailing => (&["database_maintenance_overdue"], &[]),
            _ => (&[], &[]),
        }
    }

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// How long it lasts from its start; `None`: to the end of the run.
    fn duration_ms(self) -> Option<i64> {
        match self {
            Kind::ServiceVanished | Kind::NodeSilent => Some(HOUR_MS),
            Kind::QueueSustained => Some(45 * MINUTE_MS),
            Kind::FaxBuildUp => Some(2 * HOUR_MS),
            Kind::FirewallProfileOff => Some(3 * HOUR_MS),
            Kind::PlannedReboot => Some(30 * MINUTE_MS),
            Kind::FaxBroadcast => Some(25 * MINUTE_MS),
            _ => None,
        }
    }

    /// Present from the first beat (a trait of the server, not an event).
    fn is_a_trait(self) -> bool {
        matches!(
            self,
            Kind::StableFullDisk | Kind::DailyQueuePeak | Kind::BackupDip
        )
    }
}

/// One injected incident: the ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub kind: Kind,
    pub installation_id: String,
    pub customer_id: String,
    pub node_id: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

impl Incident {
    fn active(&self, at_ms: i64) -> bool {
        at_ms >= self.started_at && self.ended_at.is_none_or(|end| at_ms < end)
    }

    fn minutes_in(&self, at_ms: i64) -> f64 {
        (at_ms - self.started_at).max(0) as f64 / MINUTE_MS as f64
    }
}

/// What a field scenario generated besides its beats.
pub struct Generated {
    pub incidents: Vec<Incident>,
    /// Customers, installations and the planned reboots' maintenance windows.
    pub registry: Vec<RegistryRecord>,
    pub installations: Vec<String>,
    /// Episodes opened before this (in the history) are not scored.
    pub scored_from: i64,
}

/// Generates the scenario's beats in event-time order (`received_at` = `sent_at`), handing
/// each to `each`. Two thirds of the installations get a fault (kinds in turn), the rest a
/// look-alike.
pub fn play(scenario: FieldScenario, mut each: impl FnMut(Beat)) -> Generated {
    let end_ms = scenario.end_ms();
    let history_start_ms = scenario.history_start_ms();
    let mut fleet = crate::plan(
        scenario.installations,
        history_start_ms,
        end_ms,
        true,
        0.0,
        scenario.seed,
    );
    let mut rng = StdRng::seed_from_u64(scenario.seed ^ 0x5eed_f1e1d);
    let incidents = schedule(&fleet, scenario, &mut rng);
    let mut registry = crate::offline::registry(scenario.installations);
    for (index, incident) in incidents.iter().enumerate() {
        if incident.kind == Kind::PlannedReboot {
            registry.push(RegistryRecord::Silence(Silence {
                silence_id: format!("reboot-{index}"),
                kind: SilenceKind::Maintenance,
                customer_id: incident.customer_id.clone(),
                installation_id: Some(incident.installation_id.clone()),
                rule_id: None,
                starts_at: incident.started_at - 5 * MINUTE_MS,
                ends_at: incident.started_at + 35 * MINUTE_MS,
                comment: "monthly patch reboot".into(),
                created_by: "field-scenario".into(),
                created_at: scenario.start_ms,
            }));
        }
    }
    let by_installation: HashMap<&str, Vec<&Incident>> =
        incidents.iter().fold(HashMap::new(), |mut map, incident| {
            map.entry(incident.installation_id.as_str())
                .or_default()
                .push(incident);
            map
        });
    crate::offline::in_event_time(
        &mut fleet,
        history_start_ms,
        end_ms,
        scenario.tick_s,
        |mut beat| {
            let at = beat.envelope.sent_at;
            let mine = by_installation
                .get(beat.envelope.installation_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            if mine
                .iter()
                .all(|incident| perturb(incident, &mut beat, at, &mut rng))
            {
                each(beat);
            }
        },
    );
    Generated {
        installations: fleet.iter().map(|i| i.id.clone()).collect(),
        incidents,
        registry,
        scored_from: scenario.start_ms,
    }
}

fn schedule(
    fleet: &[crate::fleet::Installation],
    scenario: FieldScenario,
    rng: &mut StdRng,
) -> Vec<Incident> {
    let mut order: Vec<usize> = (0..fleet.len()).collect();
    order.shuffle(rng);
    let faults = (fleet.len() * 2).div_ceil(3);
    let span = (scenario.end_ms() - scenario.start_ms) as f64;
    let mut taken = vec![false; fleet.len()];
    let mut incidents = Vec::new();
    for slot in 0..fleet.len() {
        let kind = if slot < faults {
            Kind::FAULTS[slot % Kind::FAULTS.len()]
        } else {
            Kind::LOOK_ALIKES[(slot - faults) % Kind::LOOK_ALIKES.len()]
        };
        // a node can only go silent beside a peer
        let Some(&index) = order
            .iter()
            .find(|&&i| !taken[i] && (kind != Kind::NodeSilent || fleet[i].nodes >= 2))
        else {
            continue;
        };
        taken[index] = true;
        let installation = &fleet[index];
        let started_at = if kind.is_a_trait() {
            scenario.history_start_ms()
        } else {
            scenario.start_ms + (span * rng.random_range(0.35..0.65)) as i64
        };
        let node_id = if kind == Kind::NodeSilent {
            format!("node-{}", installation.nodes)
        } else {
            "node-1".to_string()
        };
        incidents.push(Incident {
            kind,
            installation_id: installation.id.clone(),
            customer_id: installation.customer_id.clone(),
            node_id,
            started_at,
            ended_at: kind.duration_ms().map(|d| started_at + d),
        });
    }
    incidents
}

/// Changes `beat` as `incident` shows on the server at `at_ms`; `false` drops it (the node sends
/// nothing).
fn perturb(incident: &Incident, beat: &mut Beat, at_ms: i64, rng: &mut StdRng) -> bool {
    if beat.envelope.node_id != incident.node_id || !incident.active(at_ms) {
        return true;
    }
    let minutes = incident.minutes_in(at_ms);
    let hour_of_day = (at_ms.rem_euclid(DAY_MS)) as f64 / HOUR_MS as f64;
    match (incident.kind, &mut beat.payload) {
        (Kind::NodeSilent, _) => return false,
        (Kind::PlannedReboot, _) if minutes < 10.0 => return false,
        (Kind::ServiceVanished, BeatPayload::ProcessesWindowsServices(data)) => {
            data.services
                .retain(|service| service.name != "ApolloService");
        }
        (Kind::ServiceVanished, BeatPayload::ProcessesRunningProcesses(data)) => {
            data.processes.retain(|p| p.name != "ApolloService.exe");
        }
        (Kind::PlannedReboot, BeatPayload::ProcessesWindowsServices(data)) if minutes < 20.0 => {
            for service in data.services.iter_mut().skip(1) {
                service.status = "StartPending".into();
                service.pid = 0;
            }
        }
        (
            Kind::DiskBursts | Kind::StableFullDisk | Kind::BackupDip,
            BeatPayload::HardwareInfoDisks(data),
        ) => {
            let Some(disk) = data.disks.iter_mut().find(|d| d.name == "D:") else {
                return true;
            };
            match incident.kind {
                Kind::DiskBursts => {
                    // 2.5 points of the disk in the first 10 minutes of every hour
                    let hours = (minutes / 60.0).floor();
                    let burst = ((minutes - 60.0 * hours) / 10.0).min(1.0);
                    let lost = 2.5 * (hours + burst) / 100.0;
                    let floor = disk.size_bytes / 200;
                    disk.free_bytes =
                        (disk.free_bytes - (disk.size_bytes as f64 * lost) as i64).max(floor);
                }
                Kind::StableFullDisk => {
                    disk.size_bytes = 2_000 * GIB;
                    disk.free_bytes = 245 * GIB + rng.random_range(0..GIB);
                }
                _ => {
                    if (1.0..1.0 + 40.0 / 60.0).contains(&hour_of_day) {
                        disk.free_bytes -= disk.size_bytes * 12 / 100;
                    }
                }
            }
        }
        (Kind::SlowHandleLeak, BeatPayload::ProcessesRunningProcesses(data)) => {
            if let Some(p) = data
                .processes
                .iter_mut()
                .find(|p| p.name == "StonevoiceAS.exe")
            {
                p.handle_count += (150.0 * minutes / 60.0) as i64;
            }
        }
        (Kind::MemoryLeak, BeatPayload::ProcessesRunningProcesses(data)) => {
            if let Some(p) = data
                .processes
                .iter_mut()
                .find(|p| p.name == "ApolloService.exe")
            {
                p.memory_bytes += leaked(minutes);
            }
        }
        (Kind::MemoryLeak, BeatPayload::HardwareInfoMemory(data)) => {
            data.available_bytes = (data.available_bytes - leaked(minutes)).max(GIB / 8);
        }
        (Kind::SqlWarmUp, BeatPayload::ProcessesRunningProcesses(data)) => {
            if let Some(p) = data.processes.iter_mut().find(|p| p.name == "sqlservr.exe") {
                p.memory_bytes += warm_up(minutes);
            }
        }
        (Kind::SqlWarmUp, BeatPayload::HardwareInfoMemory(data)) => {
            data.available_bytes = (data.available_bytes - warm_up(minutes)).max(GIB / 8);
        }
        (Kind::QueueSustained, BeatPayload::UcxSuiteAcd(data)) => {
            data.fifo_queued_calls = 30 + rng.random_range(0..26);
            data.camp_on_queued_calls = data.fifo_queued_calls / 5;
        }
        (Kind::DailyQueuePeak, BeatPayload::UcxSuiteAcd(data))
            if (8.5..10.0).contains(&hour_of_day) =>
        {
            data.fifo_queued_calls = 18 + rng.random_range(0..9);
            data.camp_on_queued_calls = data.fifo_queued_calls / 5;
        }
        (Kind::FaxBuildUp, BeatPayload::UcxSuiteDigitalFax(data)) => {
            data.faxes_transmitting += (45.0 * (minutes / 120.0).min(1.0)) as i64;
        }
        (Kind::FaxBroadcast, BeatPayload::UcxSuiteDigitalFax(data)) => {
            data.faxes_transmitting += (40.0 * (1.0 - minutes / 25.0)).max(0.0) as i64;
        }
        (Kind::FirewallProfileOff, BeatPayload::SoftwareInfoWindowsFirewall(data)) => {
            data.public_enabled = false;
        }
        (Kind::MaintenanceJobFailing, BeatPayload::UcxSuiteDatabase(data)) => {
            data.last_maintenance_at = Some(incident.started_at - 33 * DAY_MS);
        }
        _ => {}
    }
    true
}

/// About 120 MB an hour.
fn leaked(minutes: f64) -> i64 {
    (120.0 * minutes / 60.0) as i64 * MIB
}

/// SQL Server's buffer pool after a restart: starts 1.5 GB below its usual size and grows by
/// 5 GB towards a level, most of it within 40 minutes.
fn warm_up(minutes: f64) -> i64 {
    (-1.5 * GIB as f64 + 5.0 * GIB as f64 * (1.0 - (-minutes / 12.0).exp())) as i64
}

/// One alert episode as the score sees it.
#[derive(Debug, Clone)]
struct Episode {
    installation_id: String,
    rule_id: String,
    subject: String,
    opened_at: i64,
    worst: Severity,
}

fn episodes(alerts: &[Alert]) -> Vec<Episode> {
    let mut by_id: BTreeMap<&str, Episode> = BTreeMap::new();
    for alert in alerts.iter().filter(|a| a.suppressed_by != "shadow") {
        if alert.state != AlertState::Open {
            continue;
        }
        let episode = by_id.entry(&alert.alert_id).or_insert_with(|| Episode {
            installation_id: alert.installation_id.clone(),
            rule_id: alert.rule_id.clone(),
            subject: alert.subject.clone(),
            opened_at: alert.event_at,
            worst: alert.severity,
        });
        if alert.severity == Severity::Critical {
            episode.worst = Severity::Critical;
        }
    }
    let mut episodes: Vec<Episode> = by_id.into_values().collect();
    episodes.sort_by_key(|e| e.opened_at);
    episodes
}

/// Whether `episode` is about `incident` (a fault of its installation seen by a rule meant
/// for it, opened while it lasted or within the grace after).
fn matches(incident: &Incident, episode: &Episode) -> bool {
    let (rules, also) = incident.kind.rules();
    incident.installation_id == episode.installation_id
        && (rules.contains(&episode.rule_id.as_str()) || also.contains(&episode.rule_id.as_str()))
        && episode.opened_at >= incident.started_at / 1000 * 1000
        && incident
            .ended_at
            .is_none_or(|end| episode.opened_at <= end + GRACE_MS)
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct KindScore {
    pub incidents: usize,
    pub detected: usize,
    pub episodes: usize,
}

/// The detection-quality figures of one run of the field scenario.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FieldScore {
    pub faults: usize,
    pub detected: usize,
    pub look_alikes: usize,
    pub episodes: usize,
    pub true_episodes: usize,
    pub false_critical: usize,
    /// Filling disks whose forecast alert came before the threshold alert (or alone), of those
    /// seen at all.
    pub forecast_first: usize,
    pub disks_seen: usize,
    pub minutes_to_detect: Vec<f64>,
    pub kinds: BTreeMap<Kind, KindScore>,
    /// Episodes that match no fault: (installation, rule, subject, what the installation had).
    pub false_episodes: Vec<(String, String, String, String)>,
}

impl FieldScore {
    pub fn recall(&self) -> f64 {
        self.detected as f64 / self.faults.max(1) as f64
    }

    pub fn true_share(&self) -> f64 {
        if self.episodes == 0 {
            return 1.0;
        }
        self.true_episodes as f64 / self.episodes as f64
    }

    pub fn episodes_per_fault(&self) -> f64 {
        self.true_episodes as f64 / self.detected.max(1) as f64
    }

    /// Adds another run's figures (several seeds).
    pub fn add(&mut self, other: &FieldScore) {
        self.faults += other.faults;
        self.detected += other.detected;
        self.look_alikes += other.look_alikes;
        self.episodes += other.episodes;
        self.true_episodes += other.true_episodes;
        self.false_critical += other.false_critical;
        self.forecast_first += other.forecast_first;
        self.disks_seen += other.disks_seen;
        self.minutes_to_detect.extend(&other.minutes_to_detect);
        self.minutes_to_detect.sort_by(f64::total_cmp);
        for (kind, score) in &other.kinds {
            let mine = self.kinds.entry(*kind).or_default();
            mine.incidents += score.incidents;
            mine.detected += score.detected;
            mine.episodes += score.episodes;
        }
        self.false_episodes
            .extend(other.false_episodes.iter().cloned());
    }

    pub fn render(&self) -> String {
        let median = self
            .minutes_to_detect
            .get(self.minutes_to_detect.len() / 2)
            .map_or("-".to_string(), |m| format!("{m:.0}"));
        let mut out = format!(
            "faults {} ({} detected, recall {:.0} %), look-alikes {}; episodes {} ({} true, {:.0} %), \
             {:.2} episodes per detected fault, {} false CRITICAL, forecast before threshold {} of {} \
             filling disks, median {median} min to detect\n",
            self.faults,
            self.detected,
            100.0 * self.recall(),
            self.look_alikes,
            self.episodes,
            self.true_episodes,
            100.0 * self.true_share(),
            self.episodes_per_fault(),
            self.false_critical,
            self.forecast_first,
            self.disks_seen,
        );
        for (kind, score) in &self.kinds {
            out.push_str(&format!(
                "  {:<24} {:>2} incidents, {:>2} detected, {:>3} episodes{}\n",
                kind.name(),
                score.incidents,
                score.detected,
                score.episodes,
                if kind.benign() {
                    " (look-alike: all false)"
                } else {
                    ""
                }
            ));
        }
        let mut false_by: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (_, rule, _, had) in &self.false_episodes {
            *false_by.entry((rule.clone(), had.clone())).or_default() += 1;
        }
        for ((rule, had), count) in false_by {
            out.push_str(&format!("  false: {count} × {rule} on {had}\n"));
        }
        out
    }
}

/// Scores the alert changes a library made on the scenario against its incidents (episodes
/// opened in the unscored history left out).
pub fn evaluate(generated: &Generated, alerts: &[Alert]) -> FieldScore {
    let incidents = &generated.incidents;
    let mut episodes = episodes(alerts);
    episodes.retain(|episode| episode.opened_at >= generated.scored_from);
    let mut score = FieldScore::default();
    for incident in incidents {
        let kind = score.kinds.entry(incident.kind).or_default();
        kind.incidents += 1;
        if incident.kind.benign() {
            score.look_alikes += 1;
        } else {
            score.faults += 1;
        }
    }
    for episode in &episodes {
        score.episodes += 1;
        let owner = incidents
            .iter()
            .find(|incident| incident.installation_id == episode.installation_id);
        if let Some(owner) = owner {
            score.kinds.entry(owner.kind).or_default().episodes += 1;
        }
        if incidents
            .iter()
            .any(|i| !i.kind.benign() && matches(i, episode))
        {
            score.true_episodes += 1;
        } else {
            if episode.worst == Severity::Critical {
                score.false_critical += 1;
            }
            score.false_episodes.push((
                episode.installation_id.clone(),
                episode.rule_id.clone(),
                episode.subject.clone(),
                owner.map_or("a healthy server".into(), |o| o.kind.name()),
            ));
        }
    }
    for incident in incidents.iter().filter(|i| !i.kind.benign()) {
        let mine: Vec<&Episode> = episodes
            .iter()
            .filter(|e| {
                matches(incident, e) && incident.kind.rules().0.contains(&e.rule_id.as_str())
            })
            .collect();
        let Some(first) = mine.first() else {
            continue;
        };
        score.detected += 1;
        score.kinds.entry(incident.kind).or_default().detected += 1;
        score
            .minutes_to_detect
            .push((first.opened_at - incident.started_at).max(0) as f64 / MINUTE_MS as f64);
        if incident.kind == Kind::DiskBursts {
            score.disks_seen += 1;
            let opened = |rule: &str| mine.iter().find(|e| e.rule_id == rule).map(|e| e.opened_at);
            let forecast_first = match (opened("disk_full_forecast"), opened("disk_free_low")) {
                (Some(forecast), Some(threshold)) => forecast < threshold,
                (Some(_), None) => true,
                _ => false,
            };
            score.forecast_first += usize::from(forecast_first);
        }
    }
    score.minutes_to_detect.sort_by(f64::total_cmp);
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_795_000_000_000;

    #[test]
    fn the_schedule_has_the_faults_and_look_alikes_it_promises() {
        let scenario = FieldScenario {
            installations: 30,
            hours: 2.0,
            history_hours: 0.0,
            tick_s: 300,
            seed: 1,
            start_ms: START,
        };
        let mut silent_beats = 0;
        let generated = play(scenario, |_| silent_beats += 1);
        let faults = generated
            .incidents
            .iter()
            .filter(|i| !i.kind.benign())
            .count();
        let look_alikes = generated.incidents.len() - faults;
        assert_eq!((faults, look_alikes), (20, 10));
        for kind in Kind::FAULTS.iter().chain(&Kind::LOOK_ALIKES) {
            assert!(
                generated.incidents.iter().any(|i| i.kind == *kind),
                "{kind:?} scheduled"
            );
        }
        let silent = generated
            .incidents
            .iter()
            .find(|i| i.kind == Kind::NodeSilent)
            .unwrap();
        assert_ne!(silent.node_id, "node-1", "a peer is left to list it");
        assert!(silent_beats > 0);
    }

    #[test]
    fn a_vanished_service_is_absent_not_stopped() {
        let incident = Incident {
            kind: Kind::ServiceVanished,
            installation_id: "inst-0001".into(),
            customer_id: "c".into(),
            node_id: "node-1".into(),
            started_at: START,
            ended_at: Some(START + HOUR_MS),
        };
        let mut installation = crate::fleet::Installation::new(0, START);
        let mut rng = StdRng::seed_from_u64(1);
        for mut beat in installation.tick(START) {
            assert!(perturb(&incident, &mut beat, START, &mut rng));
            if let BeatPayload::ProcessesWindowsServices(data) = &beat.payload {
                assert!(data.services.iter().all(|s| s.name != "ApolloService"));
                assert!(data.services.iter().all(|s| s.status == "Running"));
            }
        }
    }
}
