//! The fleet guard: a bad UCX Suite release or a Windows update that trips one rule on a large
//! share of the fleet must reach support as one fleet incident, not as hundreds of customer
//! mails. Every check (each notifier tick) it counts, from ClickHouse, the installations a rule
//! opened on within `fleet_window_s`, against the watched fleet (registry) and against the
//! installations on each UCX Suite version (their newest `ucx_suite_info` beat). A rule over
//! `fleet_share` (and `fleet_min_installations`) raises a HELD [`FleetIncident`] in the registry:
//! customer mail of that rule waits until support releases it, silences it fleet-wide (admin API
//! or `ucx-admin`), or `fleet_hold_s` runs out. A new alert's first mail also waits
//! `fleet_settle_s`, so the first servers of a storm are held too. Incidents are mirrored into
//! the `fleet_incidents` table for the alerts dashboard.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use clickhouse::Client;
use rdkafka::message::OwnedHeaders;
use ucx_common::kafka::Producer;
use ucx_common::registry::RegistryView;
use ucx_schemas::RegistryRecord;
use ucx_schemas::{encode_registry, Alert, AlertState, FleetIncident, FleetIncidentState};
use ucx_tables::event_tables::{FleetIncidentRow, FLEET_INCIDENTS};

use crate::config::NotifierSettings;
use crate::ledger::seconds;

/// How often the guard writes another writer's incident again on top of its own before it
/// leaves the incident to the next round.
const MAX_REWRITES: usize = 5;
/// Beats older than this do not say which version an installation runs.
const CENSUS_DAYS: i64 = 7;
/// How long a registry write waits to be read back.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What becomes of a customer notification now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send,
    /// Wait until `until_ms`: `reason` says for what (the settle time, or an incident).
    Hold {
        until_ms: i64,
        reason: String,
    },
    /// A fleet-wide silence withholds it.
    Silenced {
        reason: String,
    },
}

/// The guard's thresholds, from `[notifier]`.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub share: f64,
    pub min_installations: usize,
    pub window_ms: i64,
    pub hold_ms: i64,
    pub settle_ms: i64,
}

impl Thresholds {
    pub fn of(settings: &NotifierSettings) -> Self {
        Thresholds {
            share: settings.fleet_share,
            min_installations: settings.fleet_min_installations as usize,
            window_ms: settings.fleet_window_s.as_millis() as i64,
            hold_ms: settings.fleet_hold_s.as_millis() as i64,
            settle_ms: settings.fleet_settle_s.saturating_mul(1000) as i64,
        }
    }
}

/// One rule over the threshold: on every version (`ucx_version: None`) or on one.
#[derive(Debug, Clone, PartialEq)]
pub struct Storm {
    pub rule_id: String,
    pub ucx_version: Option<String>,
    pub installations: Vec<String>,
    pub fleet_size: usize,
}

/// The rules that opened on too many installations: `openings` are (rule, installation) pairs
/// within the window, `watched` the fleet, `versions` what each installation runs. A rule over
/// the threshold on the whole fleet is one storm; otherwise each version it is over on is one.
pub fn storms(
    openings: &[(String, String)],
    watched: &HashSet<String>,
    versions: &HashMap<String, String>,
    thresholds: Thresholds,
) -> Vec<Storm> {
    let over = |count: usize, of: usize| {
        count >= thresholds.min_installations.max(1)
            && of > 0
            && count as f64 >= thresholds.share * of as f64
    };
    let mut by_rule: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (rule_id, installation_id) in openings {
        if watched.contains(installation_id) {
            by_rule.entry(rule_id).or_default().insert(installation_id);
        }
    }
    let mut on_version: HashMap<&str, usize> = HashMap::new();
    for (installation_id, version) in versions {
        if watched.contains(installation_id) {
            *on_version.entry(version).or_default() += 1;
        }
    }
    let mut found = Vec::new();
    for (rule_id, installations) in by_rule {
        if over(installations.len(), watched.len()) {
            found.push(Storm {
                rule_id: rule_id.to_string(),
                ucx_version: None,
                installations: installations.iter().map(|id| id.to_string()).collect(),
                fleet_size: watched.len(),
            });
            continue;
        }
        let mut by_version: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for installation_id in installations {
            if let Some(version) = versions.get(installation_id) {
                by_version
                    .entry(version)
                    .or_default()
                    .push(installation_id.to_string());
            }
        }
        for (version, installations) in by_version {
            let of = on_version.get(version).copied().unwrap_or_default();
            if over(installations.len(), of) {
                found.push(Storm {
                    rule_id: rule_id.to_string(),
                    ucx_version: Some(version.to_string()),
                    installations,
                    fleet_size: of,
                });
            }
        }
    }
    found
}

/// What the guard writes for `storm` given the incident of the same id the registry holds:
/// `None` when that incident already stands for it (held or silenced now, or decided within the
/// window: the same storm).
pub fn incident_for(
    storm: &Storm,
    existing: Option<&FleetIncident>,
    thresholds: Thresholds,
    now_ms: i64,
) -> Option<FleetIncident> {
    match existing {
        Some(incident) if incident.in_force(now_ms) => {
            let known: BTreeSet<&String> = incident.installations.iter().collect();
            let grown = storm
                .installations
                .iter()
                .any(|installation| !known.contains(installation));
            if incident.state != FleetIncidentState::Held || !grown {
                return None;
            }
            let mut installations: BTreeSet<String> =
                incident.installations.iter().cloned().collect();
            installations.extend(storm.installations.iter().cloned());
            Some(FleetIncident {
                installations: installations.into_iter().collect(),
                fleet_size: storm.fleet_size as i32,
                updated_at: now_ms,
                ..incident.clone()
            })
        }
        Some(incident)
            if now_ms < incident.updated_at.max(incident.hold_until) + thresholds.window_ms =>
        {
            None
        }
        _ => Some(FleetIncident {
            incident_id: FleetIncident::id_of(&storm.rule_id, storm.ucx_version.as_deref()),
            rule_id: storm.rule_id.clone(),
            ucx_version: storm.ucx_version.clone(),
            state: FleetIncidentState::Held,
            installations: storm.installations.clone(),
            fleet_size: storm.fleet_size as i32,
            opened_at: now_ms,
            hold_until: now_ms + thresholds.hold_ms,
            decided_by: String::new(),
            comment: String::new(),
            updated_at: now_ms,
        }),
    }
}

pub struct FleetGuard {
    client: Client,
    registry: Arc<RegistryView>,
    producer: Arc<Producer>,
    registry_topic: String,
    thresholds: Thresholds,
    /// installation → the UCX Suite version its newest beat named
    versions: HashMap<String, String>,
    /// incident id → `updated_at` of the record last mirrored into ClickHouse
    mirrored: HashMap<String, i64>,
}

impl FleetGuard {
    pub fn new(
        client: Client,
        registry: Arc<RegistryView>,
        producer: Arc<Producer>,
        registry_topic: String,
        thresholds: Thresholds,
    ) -> Self {
        FleetGuard {
            client,
            registry,
            producer,
            registry_topic,
            thresholds,
            versions: HashMap::new(),
            mirrored: HashMap::new(),
        }
    }

    /// What becomes of a notification about `alert` now: a fleet-wide silence or a held
    /// incident of its rule, or the settle time of a newly opened alert.
    pub fn verdict(&self, alert: &Alert, now_ms: i64) -> Verdict {
        let settled_at = alert.raised_at + self.thresholds.settle_ms;
        let settling = alert.state == AlertState::Open && now_ms < settled_at;
        match self.incident_verdict(&alert.rule_id, &alert.installation_id, now_ms) {
            Verdict::Send => {}
            // Held by an incident: due again once settled (at once when it is), and judged
            // again every round while due, so support's release sends it then. Parked until
            // the incident's `hold_until` it waited out the whole hold, released or not.
            Verdict::Hold { reason, .. } => {
                let until_ms = if settling { settled_at } else { now_ms };
                return Verdict::Hold { until_ms, reason };
            }
            decided => return decided,
        }
        if settling {
            return Verdict::Hold {
                until_ms: settled_at,
                reason: "settling: waiting whether the rule opens across the fleet".into(),
            };
        }
        Verdict::Send
    }

    /// [`FleetGuard::verdict`] without the settle time: what the incidents of `rule_id` say.
    pub fn incident_verdict(&self, rule_id: &str, installation_id: &str, now_ms: i64) -> Verdict {
        let version = self.versions.get(installation_id).map(String::as_str);
        let covering = self
            .registry
            .fleet_incidents()
            .into_iter()
            .filter(|incident| incident.covers(rule_id, version) && incident.in_force(now_ms));
        let mut held_until = None;
        for incident in covering {
            let reference = FleetIncident::key_of(&incident.incident_id);
            match incident.state {
                FleetIncidentState::Silenced => return Verdict::Silenced { reason: reference },
                FleetIncidentState::Held => {
                    held_until = held_until.max(Some((incident.hold_until, reference)))
                }
                FleetIncidentState::Released => {}
            }
        }
        match held_until {
            Some((until_ms, reason)) => Verdict::Hold { until_ms, reason },
            None => Verdict::Send,
        }
    }

    /// One round: learns versions, raises or extends incidents, releases holds that ran out,
    /// and mirrors every changed incident into ClickHouse.
    pub async fn check(&mut self, now_ms: i64) -> anyhow::Result<()> {
        let census_from = seconds(now_ms - CENSUS_DAYS * 86_400_000);
        self.versions = self
            .client
            .query(
                "SELECT installation_id, argMax(version, sent_at) FROM ucx_suite_info \
                 WHERE sent_at >= ? GROUP BY installation_id",
            )
            .bind(census_from)
            .fetch_all::<(String, String)>()
            .await?
            .into_iter()
            .collect();
        let openings = self
            .client
            .query(
                "SELECT rule_id, installation_id FROM alerts \
                 WHERE state = 'OPEN' AND suppressed_by != 'shadow' AND raised_at >= ? \
                 GROUP BY rule_id, installation_id",
            )
            .bind(seconds(now_ms - self.thresholds.window_ms))
            .fetch_all::<(String, String)>()
            .await?;
        let watched: HashSet<String> = self.registry.watched_installations().into_iter().collect();
        for storm in storms(&openings, &watched, &self.versions, self.thresholds) {
            let id = FleetIncident::id_of(&storm.rule_id, storm.ucx_version.as_deref());
            let (read_at, existing) = self.incident_as_of(&id);
            if let Some(incident) = incident_for(&storm, existing.as_ref(), self.thresholds, now_ms)
            {
                tracing::warn!(incident = %incident.incident_id, installations = incident.installations.len(), fleet_size = incident.fleet_size, hold_until = incident.hold_until, "fleet incident: customer mail of the rule is held until support releases or silences it");
                self.publish(incident, read_at).await?;
            }
        }
        let ids: Vec<String> = self
            .registry
            .fleet_incidents()
            .into_iter()
            .map(|incident| incident.incident_id)
            .collect();
        for id in ids {
            // Read again, each just before its own write: support may have decided on it while
            // an earlier incident of this loop was being written.
            let (read_at, Some(incident)) = self.incident_as_of(&id) else {
                continue;
            };
            if incident.state == FleetIncidentState::Held && incident.hold_until <= now_ms {
                tracing::info!(incident = %incident.incident_id, "fleet incident hold ran out without a decision; held mail goes out");
                let released = FleetIncident {
                    state: FleetIncidentState::Released,
                    decided_by: "notifier: the hold ran out".into(),
                    updated_at: now_ms,
                    ..incident
                };
                self.publish(released, read_at).await?;
            }
        }
        self.mirror().await
    }

    /// The incident `id` and the registry version of its key it is as of. The version is read
    /// first: the view applies a record before noting its version, so the incident read is at
    /// least as new as the version ([`FleetGuard::publish`] compares against it).
    fn incident_as_of(&self, id: &str) -> (i64, Option<FleetIncident>) {
        let version = self.registry.version(&FleetIncident::key_of(id));
        (version, self.registry.fleet_incident(id))
    }

    /// Writes an incident record, made from the registry as of version `read_at` of its key
    /// ([`FleetGuard::incident_as_of`]), and waits until this view has read it back. Should
    /// another writer (support, another notifier) have written the same incident since
    /// `read_at`, theirs is written again on top, so a decision is not undone by the guard;
    /// not when a record newer than the guard's already stands, and again for any that lands
    /// while the guard rewrites.
    async fn publish(&self, incident: FleetIncident, read_at: i64) -> anyhow::Result<()> {
        let record = RegistryRecord::FleetIncident(incident);
        let key = record.key();
        let (mut after, mut written) = (read_at, self.write(&record).await?);
        for _ in 0..MAX_REWRITES {
            let Some((_, Some(theirs))) = self.registry.written_between(&key, after, written)
            else {
                return Ok(());
            };
            if self.registry.version(&key) > written {
                return Ok(()); // someone wrote after the guard: theirs stands
            }
            (after, written) = (written, self.write(&theirs).await?);
        }
        anyhow::bail!(
            "fleet incident {key} is being changed by others at the same time; the guard tries again next round"
        )
    }

    async fn write(&self, record: &RegistryRecord) -> anyhow::Result<i64> {
        let payload = encode_registry(record)?;
        let acknowledged = self
            .producer
            .produce(
                &self.registry_topic,
                record.key().as_bytes(),
                &payload,
                OwnedHeaders::new(),
            )
            .await?;
        anyhow::ensure!(
            self.registry
                .wait_applied(acknowledged.offset, APPLY_TIMEOUT)
                .await,
            "fleet incident written (registry offset {}) but not read back within {} s",
            acknowledged.offset,
            APPLY_TIMEOUT.as_secs()
        );
        Ok(acknowledged.offset)
    }

    /// Mirrors incidents changed since the last round into `fleet_incidents`.
    async fn mirror(&mut self) -> anyhow::Result<()> {
        let changed: Vec<FleetIncident> = self
            .registry
            .fleet_incidents()
            .into_iter()
            .filter(|incident| {
                self.mirrored.get(&incident.incident_id) != Some(&incident.updated_at)
            })
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<FleetIncidentRow>(FLEET_INCIDENTS)
            .await?;
        for incident in &changed {
            insert.write(&FleetIncidentRow::of(incident)?).await?;
        }
        insert.end().await?;
        for incident in changed {
            self.mirrored
                .insert(incident.incident_id, incident.updated_at);
        }
        Ok(())
    }

    /// Incidents in force now, by state (`held`, `silenced`), for the gauge.
    pub fn in_force(&self, now_ms: i64) -> [(FleetIncidentState, i64); 2] {
        let incidents = self.registry.fleet_incidents();
        let count = |state| {
            incidents
                .iter()
                .filter(|incident| incident.state == state && incident.in_force(now_ms))
                .count() as i64
        };
        [
            (FleetIncidentState::Held, count(FleetIncidentState::Held)),
            (
                FleetIncidentState::Silenced,
                count(FleetIncidentState::Silenced),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: Thresholds = Thresholds {
        share: 0.2,
        min_installations: 3,
        window_ms: 3_600_000,
        hold_ms: 14_400_000,
        settle_ms: 60_000,
    };

    fn fleet(count: usize) -> HashSet<String> {
        (0..count).map(|index| format!("inst-{index}")).collect()
    }

    fn opened(rule: &str, installations: &[usize]) -> Vec<(String, String)> {
        installations
            .iter()
            .map(|index| (rule.to_string(), format!("inst-{index}")))
            .collect()
    }

    #[test]
    fn a_rule_on_a_large_share_of_the_fleet_is_one_storm() {
        let openings = opened("service_stopped", &[0, 1, 2]);
        let found = storms(&openings, &fleet(10), &HashMap::new(), THRESHOLDS);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ucx_version, None);
        assert_eq!(found[0].installations.len(), 3);
        // two of ten is under the minimum count, three of twenty under the share
        assert!(storms(
            &opened("r", &[0, 1]),
            &fleet(10),
            &HashMap::new(),
            THRESHOLDS
        )
        .is_empty());
        assert!(storms(
            &opened("r", &[0, 1, 2]),
            &fleet(20),
            &HashMap::new(),
            THRESHOLDS
        )
        .is_empty());
        // installations no longer watched do not count
        assert!(storms(
            &opened("r", &[0, 1, 12]),
            &fleet(10),
            &HashMap::new(),
            THRESHOLDS
        )
        .is_empty());
    }

    #[test]
    fn a_rule_over_the_share_of_one_version_is_a_storm_of_that_version() {
        let mut versions = HashMap::new();
        for index in 0..20 {
            let version = if index < 4 { "8.3.0" } else { "8.2.1" };
            versions.insert(format!("inst-{index}"), version.to_string());
        }
        let found = storms(&opened("r", &[0, 1, 2]), &fleet(20), &versions, THRESHOLDS);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ucx_version.as_deref(), Some("8.3.0"));
        assert_eq!(found[0].fleet_size, 4);
    }

    #[test]
    fn one_storm_is_one_incident_that_grows_and_is_not_raised_again_once_decided() {
        let storm = |installations: &[usize]| Storm {
            rule_id: "r".into(),
            ucx_version: None,
            installations: installations.iter().map(|i| format!("inst-{i}")).collect(),
            fleet_size: 10,
        };
        let now = 1_000_000_000;
        let raised = incident_for(&storm(&[0, 1, 2]), None, THRESHOLDS, now).unwrap();
        assert_eq!(raised.state, FleetIncidentState::Held);
        assert_eq!(raised.hold_until, now + THRESHOLDS.hold_ms);
        assert_eq!(
            incident_for(&storm(&[0, 1, 2]), Some(&raised), THRESHOLDS, now + 1),
            None
        );
        let grown =
            incident_for(&storm(&[0, 1, 2, 3]), Some(&raised), THRESHOLDS, now + 2).unwrap();
        assert_eq!(grown.installations.len(), 4);
        assert_eq!(grown.opened_at, now);
        let released = FleetIncident {
            state: FleetIncidentState::Released,
            updated_at: now + 10,
            ..grown
        };
        assert_eq!(
            incident_for(
                &storm(&[0, 1, 2, 3, 4]),
                Some(&released),
                THRESHOLDS,
                now + 20
            ),
            None
        );
        // the same rule storming again after a quiet window is a new episode
        let later = now + THRESHOLDS.hold_ms + THRESHOLDS.window_ms + 1;
        let again = incident_for(&storm(&[5, 6, 7]), Some(&released), THRESHOLDS, later).unwrap();
        assert_eq!(again.opened_at, later);
    }
}
