//! The processors' memory and judgement, without any I/O: the states of the installations whose
//! beats partitions this processor owns, the rules applied to each beat, heartbeat loss against
//! the event-time watermark, and which states changed since the last checkpoint.

use std::collections::{HashMap, HashSet};

use ucx_schemas::{Acknowledgement, Alert, AlertState, Beat, Change};

use crate::advisories::Catalogue;
use crate::alert_book::Audience;
use crate::heartbeat;
use crate::routing::Routed;
use crate::rules::library::RuleLibrary;
use crate::rules::peers::Peers;
use crate::state::{self, Applied, InstallationState};

/// What one beat caused.
#[derive(Debug, Default)]
pub struct Outcome {
    pub alerts: Vec<Alert>,
    pub changes: Vec<Change>,
}

/// What the engine gave up on to keep its state bounded, since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Subjects judged but not remembered: their signal's series were full.
    pub series_not_remembered: u64,
    /// Installations whose history was forgotten to keep their state under the record limit.
    pub histories_dropped: u64,
    /// States not written at all: too large even without history, or refused by the broker.
    pub states_not_written: u64,
}

#[derive(Default)]
pub struct Engine {
    states: HashMap<String, InstallationState>,
    dirty: HashSet<String>,
    counts: Counts,
    /// The newest `received_at` of any beat seen (event time).
    watermark: i64,
    /// The `library_version` of the rules last applied: every alert carries it.
    library_version: i32,
    /// The newest values of every server judged here, by peer group (`above_peers` rules).
    peers: Peers,
}

impl Engine {
    /// An engine holding restored states.
    pub fn restored(states: HashMap<String, InstallationState>) -> Self {
        let watermark = states
            .values()
            .filter_map(|state| state.liveness.newest())
            .max()
            .unwrap_or_default();
        Engine {
            states,
            dirty: HashSet::new(),
            counts: Counts::default(),
            watermark,
            library_version: 0,
            peers: Peers::default(),
        }
    }

    /// The alert changes and inventory changes `beat` (at `at` in the beats topic) causes;
    /// `None` when the state already includes it (a replay after a crash).
    pub fn apply(
        &mut self,
        beat: &Beat,
        at: Applied,
        library: &RuleLibrary,
        routed: &Routed,
    ) -> Option<Outcome> {
        let installation_id = &beat.envelope.installation_id;
        // no copy of the id for an installation seen before (every beat but its first)
        if !self.states.contains_key(installation_id) {
            self.states
                .insert(installation_id.clone(), InstallationState::default());
        }
        let state = self.states.get_mut(installation_id).expect("inserted");
        if state.includes(at.partition, at.offset) {
            return None;
        }
        self.library_version = library.library_version as i32;
        let changes = state.inventory.observe(beat, &routed.audience.customer_id);
        state.facts.learn(beat);
        state.facts.licence(routed.licence.0, routed.licence.1);
        let findings = library.evaluate(
            beat,
            &state.facts,
            routed.tier,
            &mut state.history,
            Some(&mut self.peers),
        );
        self.counts.series_not_remembered += std::mem::take(&mut state.history.not_remembered);
        let reported = crate::alert_book::observed_subjects(&findings);
        state
            .history
            .forget_unreported(&beat.envelope.node_id, &reported);
        let mut alerts = state.alerts.close_gone(beat, &reported);
        drop(reported); // it borrows the findings, which `apply` takes
        if library.is_staged() {
            // a rollout that no longer includes this installation retires what it opened here
            let known: HashSet<&str> = library
                .ids_in_force(routed.tier, installation_id)
                .into_iter()
                .chain(heartbeat::BUILT_IN_RULES)
                .collect();
            alerts.extend(state.alerts.retire(&known, beat.envelope.received_at));
        }
        let mut opened = state.alerts.apply(beat, findings, &routed.audience);
        // change-aware: an opening names what changed on the server shortly before
        for alert in opened
            .iter_mut()
            .filter(|alert| alert.state == AlertState::Open)
        {
            if library.compares_with_peers(&alert.rule_id) {
                if let Some(group) = state.facts.peer_group() {
                    alert.summary = format!("{} (peer group: {group})", alert.summary);
                }
            }
            let changes = state.inventory.changes_before(alert.event_at);
            if !changes.is_empty() {
                alert.summary = format!(
                    "{} (changed on this server in the 24 h before: {})",
                    alert.summary,
                    changes.join("; ")
                );
            }
        }
        alerts.extend(opened);
        let class = beat.category().data_class();
        state.liveness.beat(&beat.envelope, class);
        let envelope = &beat.envelope;
        // the keys of a silence alert are built only when one of this node is tracked (rare)
        let silences = [
            (heartbeat::RULE_ID, "beats arrive again"),
            (heartbeat::OVERDUE_RULE_ID, "these beats arrive again"),
        ];
        for (rule, summary) in silences {
            if !state.alerts.tracks_node_rule(&envelope.node_id, rule) {
                continue;
            }
            let subject = if rule == heartbeat::RULE_ID {
                heartbeat::SUBJECT.to_string()
            } else {
                heartbeat::overdue_subject(class)
            };
            let key = (
                envelope.installation_id.clone(),
                envelope.node_id.clone(),
                rule.to_string(),
                subject,
            );
            alerts.extend(state.alerts.resolve_silence(&key, beat, summary));
        }
        state.applied = Some(at);
        self.watermark = self.watermark.max(beat.envelope.received_at);
        if !self.dirty.contains(installation_id) {
            self.dirty.insert(installation_id.clone());
        }
        Some(Outcome {
            alerts: self.versioned(alerts),
            changes,
        })
    }

    /// Installations with a node or a kind of beat silent for longer than allowed at the
    /// watermark, not alerted yet.
    pub fn lost(&self, timeout_ms: i64) -> Vec<String> {
        self.states
            .iter()
            .filter(|(installation_id, state)| {
                state
                    .liveness
                    .silences(self.watermark, timeout_ms)
                    .iter()
                    .any(|silence| !state.alerts.is_open(&silence_key(installation_id, silence)))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Opens the alerts of an installation's silences (see [`Engine::lost`]), unless a
    /// maintenance window covers them (then they are judged again once the window is over).
    pub fn raise_lost(
        &mut self,
        installation_id: &str,
        timeout_ms: i64,
        audience: &Audience,
    ) -> Vec<Alert> {
        let Some(state) = self.states.get_mut(installation_id) else {
            return Vec::new();
        };
        let mut alerts = Vec::new();
        for silence in state.liveness.silences(self.watermark, timeout_ms) {
            let explanation = if silence.rule_id == heartbeat::RULE_ID {
                heartbeat::LOST_EXPLANATION
            } else {
                heartbeat::OVERDUE_EXPLANATION
            };
            alerts.extend(state.alerts.open_silence(
                installation_id,
                &silence,
                explanation,
                self.watermark,
                audience,
            ));
        }
        if !alerts.is_empty() {
            self.dirty.insert(installation_id.to_string());
        }
        self.versioned(alerts)
    }

    /// Every installation whose state is held here.
    pub fn installation_ids(&self) -> Vec<String> {
        self.states.keys().cloned().collect()
    }

    /// Judges every advisory of `catalogue` against one installation's inventory: opens the
    /// alerts of advisories it is affected by, resolves those it is no longer affected by or
    /// that left the catalogue. `token` is the triggering beat's id (the catalogue version on
    /// a reload), `at_ms` the event time.
    pub fn judge_advisories(
        &mut self,
        installation_id: &str,
        catalogue: &Catalogue,
        token: &str,
        at_ms: i64,
        audience: &Audience,
    ) -> Vec<Alert> {
        let Some(state) = self.states.get_mut(installation_id) else {
            return Vec::new();
        };
        let region = state.liveness.region().unwrap_or(ucx_schemas::Region::EU);
        let nodes = state.inventory.nodes();
        let mut alerts = Vec::new();
        for advisory in &catalogue.advisories {
            let affected: Vec<String> = nodes
                .iter()
                .filter_map(|(node, facts)| {
                    advisory.affects(facts).map(|why| format!("{node}: {why}"))
                })
                .collect();
            let affected = (!affected.is_empty()).then(|| affected.join("; "));
            alerts.extend(state.alerts.judge_advisory(
                installation_id,
                region,
                advisory,
                affected,
                token,
                at_ms,
                audience,
            ));
        }
        let present: HashSet<String> = catalogue.advisories.iter().map(|a| a.rule_id()).collect();
        alerts.extend(state.alerts.retire_advisories(&present, at_ms));
        if !alerts.is_empty() {
            self.dirty.insert(installation_id.to_string());
        }
        self.versioned(alerts)
    }

    /// Installations with an open alert due for a reminder at the watermark.
    pub fn due_reminders(&self) -> Vec<String> {
        self.states
            .iter()
            .filter(|(_, state)| state.alerts.reminder_due(self.watermark))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The reminders of an installation's open alerts (see [`Engine::due_reminders`]).
    pub fn remind(&mut self, installation_id: &str, audience: &Audience) -> Vec<Alert> {
        let Some(state) = self.states.get_mut(installation_id) else {
            return Vec::new();
        };
        let reminders = state.alerts.remind(self.watermark, audience);
        if !reminders.is_empty() {
            self.dirty.insert(installation_id.to_string());
        }
        self.versioned(reminders)
    }

    /// Alerts marked with the library version they were judged under.
    fn versioned(&self, mut alerts: Vec<Alert>) -> Vec<Alert> {
        for alert in &mut alerts {
            alert.library_version = self.library_version;
        }
        alerts
    }

    /// Resolves the alerts of rules that left `library` (after a reload), at the watermark.
    pub fn retire(&mut self, library: &RuleLibrary) -> Vec<Alert> {
        self.library_version = library.library_version as i32;
        let known: HashSet<&str> = library
            .rules
            .iter()
            .map(|rule| rule.id.as_str())
            .chain(heartbeat::BUILT_IN_RULES)
            .collect();
        let mut changes = Vec::new();
        for (installation_id, state) in &mut self.states {
            let retired = state.alerts.retire(&known, self.watermark);
            if !retired.is_empty() {
                self.dirty.insert(installation_id.clone());
                changes.extend(retired);
            }
        }
        self.versioned(changes)
    }

    /// Resolves every open alert (heartbeat loss included) of installations that may no longer
    /// be watched (`is_active` false: revoked, or telemetry switched off), at the watermark.
    pub fn close_inactive(&mut self, is_active: impl Fn(&str) -> bool) -> Vec<Alert> {
        let mut changes = Vec::new();
        for (installation_id, state) in &mut self.states {
            if state.alerts.open_count() == 0 || is_active(installation_id) {
                continue;
            }
            changes.extend(state.alerts.close_all(self.watermark));
            self.dirty.insert(installation_id.clone());
        }
        self.versioned(changes)
    }

    /// Forgets the states of installations whose data must be erased (`is_erased`: their
    /// customer switched telemetry off, which purges their data); returns (installation,
    /// partition) of those that had been written to the changelog, for their tombstones. Call
    /// after [`Engine::close_inactive`], whose resolutions are published first.
    pub fn forget(&mut self, is_erased: impl Fn(&str) -> bool) -> Vec<(String, i32)> {
        let erased: Vec<String> = self
            .states
            .keys()
            .filter(|installation_id| is_erased(installation_id))
            .cloned()
            .collect();
        let mut written = Vec::new();
        for installation_id in erased {
            self.dirty.remove(&installation_id);
            self.peers.forget(&installation_id);
            if let Some(applied) = self
                .states
                .remove(&installation_id)
                .and_then(|state| state.applied)
            {
                written.push((installation_id, applied.partition));
            }
        }
        written
    }

    /// `ACKNOWLEDGED` changes for open alerts that support acknowledged since the last call.
    pub fn acknowledge(&mut self, lookup: impl Fn(&str) -> Option<Acknowledgement>) -> Vec<Alert> {
        let mut changes = Vec::new();
        for (installation_id, state) in &mut self.states {
            let acknowledged = state.alerts.acknowledge(&lookup);
            if !acknowledged.is_empty() {
                self.dirty.insert(installation_id.clone());
                changes.extend(acknowledged);
            }
        }
        self.versioned(changes)
    }

    /// The documents of the states changed since the last call: (installation, partition,
    /// document).
    /// A document over the broker's record limit (even compressed) first loses its
    /// installation's remembered history (baselines and trends start afresh, counted); one still
    /// too large is not written (counted and logged): the installation's state then lives in
    /// this processor's memory only, and the consumer goes on.
    pub fn take_dirty(&mut self) -> Vec<(String, i32, Vec<u8>)> {
        let mut documents = Vec::new();
        for installation_id in std::mem::take(&mut self.dirty) {
            let Some(state) = self.states.get_mut(&installation_id) else {
                continue;
            };
            let Some(applied) = state.applied else {
                continue;
            };
            let mut document = state::encode(state);
            if document.len() > state::MAX_DOCUMENT_BYTES {
                tracing::warn!(%installation_id, bytes = document.len(), series = state.history.len(), "state too large; its history is forgotten");
                state.history = Default::default();
                self.counts.histories_dropped += 1;
                document = state::encode(state);
            }
            if document.len() > state::MAX_DOCUMENT_BYTES {
                tracing::error!(%installation_id, bytes = document.len(), "state still too large; not written");
                self.counts.states_not_written += 1;
                continue;
            }
            documents.push((installation_id, applied.partition, document));
        }
        documents
    }

    /// Carries the counts of an engine this one replaces (after a rebalance).
    pub fn carry(&mut self, counts: Counts) {
        self.counts = counts;
    }

    /// A state the broker refused to store: it lives in memory only (counted).
    pub fn not_written(&mut self) {
        self.counts.states_not_written += 1;
    }

    /// What the engine gave up on so far (for the metrics).
    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn installations(&self) -> usize {
        self.states.len()
    }

    pub fn open_alerts(&self) -> usize {
        self.states
            .values()
            .map(|state| state.alerts.open_count())
            .sum()
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }
}

fn silence_key(installation_id: &str, silence: &heartbeat::Silence) -> crate::alert_book::AlertKey {
    (
        installation_id.to_string(),
        silence.node_id.clone(),
        silence.rule_id.to_string(),
        silence.subject.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::{Disk, HardwareInfoDisks};
    use ucx_schemas::{AlertState, BeatPayload, Envelope, Region};

    use crate::rules::library::BUILT_IN;

    fn disks(installation: &str, beat_id: &str, received_at: i64, free: i64) -> Beat {
        Beat {
            envelope: Envelope {
                beat_id: beat_id.into(),
                installation_id: installation.into(),
                node_id: "node".into(),
                region: Region::EU,
                sent_at: received_at,
                received_at,
                source_ip: None,
            },
            payload: BeatPayload::HardwareInfoDisks(HardwareInfoDisks {
                disks: vec![Disk {
                    name: "C:".into(),
                    model: "m".into(),
                    size_bytes: 100,
                    free_bytes: free,
                }],
            }),
        }
    }

    /// An advisory alert opens from the inventory, survives a reload of the rule library (it
    /// is not a rule) and resolves when the server is upgraded.
    #[test]
    fn an_advisory_is_judged_on_the_inventory_and_not_retired_with_the_rules() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let catalogue = Catalogue::parse(
            "catalogue_version = 1\n[[advisory]]\nid = \"old-suite\"\nversion = 1\nseverity = \"INFO\"\ntitle = \"t\"\nexplanation = \"e\"\nremedy = \"upgrade\"\nsuite_version = { below = \"2025.Spring.1\" }\n",
        )
        .unwrap();
        let suite = |beat_id: &str, version: &str, at: i64| {
            let mut beat = disks("inst", beat_id, at, 50);
            beat.payload = BeatPayload::UcxSuiteSuiteInfo(ucx_schemas::beats::UcxSuiteSuiteInfo {
                version: version.into(),
                platform: "x64".into(),
                install_path: "C:".into(),
                install_folder_size_bytes: 1,
            });
            beat
        };
        let mut engine = Engine::default();
        let audience = Audience::default();
        engine
            .apply(
                &suite("b1", "2024.Winter.1", 1_000),
                at(0),
                &library,
                &routed(),
            )
            .unwrap();
        let opened = engine.judge_advisories("inst", &catalogue, "b1", 1_000, &audience);
        assert_eq!(opened.len(), 1);
        assert_eq!(
            (opened[0].rule_id.as_str(), opened[0].state),
            ("advisory:old-suite", AlertState::Open)
        );
        assert!(
            opened[0].summary.contains("node: UCX Suite 2024.Winter.1"),
            "{}",
            opened[0].summary
        );
        assert!(engine
            .judge_advisories("inst", &catalogue, "again", 1_500, &audience)
            .is_empty());
        assert!(
            engine.retire(&library).is_empty(),
            "a rules reload leaves advisories alone"
        );
        engine
            .apply(
                &suite("b2", "2025.Spring.1", 2_000),
                at(1),
                &library,
                &routed(),
            )
            .unwrap();
        let resolved = engine.judge_advisories("inst", &catalogue, "b2", 2_000, &audience);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].alert_id, opened[0].alert_id);
    }

    fn routed() -> Routed {
        Routed {
            tier: None,
            audience: Audience::default(),
            licence: (None, None),
        }
    }

    fn at(offset: i64) -> Applied {
        Applied {
            partition: 0,
            offset,
        }
    }

    #[test]
    fn an_alert_names_what_changed_on_the_server_shortly_before() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let mut engine = Engine::default();
        let hour = 3_600_000;
        let updates = |beat_id: &str, at_ms: i64, hotfixes: &[&str]| {
            let mut beat = disks("a", beat_id, at_ms, 50);
            beat.payload = BeatPayload::SoftwareInfoWindowsUpdates(
                ucx_schemas::beats::SoftwareInfoWindowsUpdates {
                    hotfixes: hotfixes
                        .iter()
                        .map(|id| ucx_schemas::beats::Hotfix {
                            hotfix_id: id.to_string(),
                            installed_at: None,
                        })
                        .collect(),
                },
            );
            beat
        };
        let mut apply = |beat: &Beat, offset| {
            engine
                .apply(beat, at(offset), &library, &routed())
                .unwrap()
                .alerts
        };
        apply(&updates("u1", hour, &["KB1"]), 0);
        apply(&updates("u2", 2 * hour, &["KB1", "KB5034441"]), 1);
        let opened = apply(&disks("a", "d1", 5 * hour, 3), 2);
        assert_eq!(opened.len(), 1);
        assert!(
            opened[0].summary.ends_with(
                "(changed on this server in the 24 h before: hotfix installed: KB5034441)"
            ),
            "{}",
            opened[0].summary
        );
        // a day and more later, the hotfix is no longer news
        apply(&disks("a", "d2", 6 * hour, 60), 3);
        let later = apply(&disks("a", "d3", 27 * hour, 3), 4);
        assert!(
            !later[0].summary.contains("KB5034441"),
            "{}",
            later[0].summary
        );
    }

    #[test]
    fn a_restored_engine_neither_reopens_nor_forgets_and_skips_replays() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let mut engine = Engine::default();
        let opened = engine
            .apply(&disks("a", "1", 1_000, 3), at(0), &library, &routed())
            .unwrap()
            .alerts;
        assert_eq!(opened.len(), 1);
        let documents = engine.take_dirty();
        assert_eq!(documents.len(), 1);
        assert!(engine.take_dirty().is_empty(), "nothing changed since");

        let (id, _, document) = &documents[0];
        let mut restored = Engine::restored(HashMap::from([(
            id.clone(),
            state::decode(document).unwrap(),
        )]));
        assert_eq!(restored.open_alerts(), 1);
        assert_eq!(restored.watermark(), 1_000);
        assert!(
            restored
                .apply(&disks("a", "1", 1_000, 3), at(0), &library, &routed())
                .is_none(),
            "the replayed beat is already in the state"
        );
        let still_bad = restored
            .apply(&disks("a", "2", 2_000, 3), at(1), &library, &routed())
            .unwrap()
            .alerts;
        assert!(still_bad.is_empty(), "not re-opened: {still_bad:?}");
        let resolved = restored
            .apply(&disks("a", "3", 3_000, 60), at(2), &library, &routed())
            .unwrap()
            .alerts;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].alert_id, opened[0].alert_id);
    }

    #[test]
    fn only_the_silent_installation_is_lost_and_only_when_others_move_the_watermark() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let mut engine = Engine::default();
        let mut offset = 0;
        let mut post = |engine: &mut Engine, installation: &str, at_ms: i64| {
            offset += 1;
            let beat = disks(installation, &offset.to_string(), at_ms, 60);
            engine
                .apply(&beat, at(offset), &library, &routed())
                .unwrap()
                .alerts
        };
        for second in 0..10 {
            post(&mut engine, "a", second * 10_000);
            post(&mut engine, "b", second * 10_000);
        }
        // Nobody sends (a paused pipeline): the watermark stands still, nobody is lost.
        assert!(engine.lost(30_000).is_empty());
        // Only b sends again, for a while.
        for second in 10..16 {
            post(&mut engine, "b", second * 10_000);
        }
        assert_eq!(engine.lost(30_000), ["a"]);
        let raised = engine.raise_lost("a", 30_000, &Audience::default());
        assert_eq!(raised.len(), 1, "{raised:?}");
        let alert = &raised[0];
        assert_eq!(
            (alert.installation_id.as_str(), alert.node_id.as_str()),
            ("a", "node")
        );
        assert!(engine.lost(30_000).is_empty(), "raised once");
        let back = post(&mut engine, "a", 160_000);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].alert_id, alert.alert_id);
        assert_eq!(back[0].state, AlertState::Resolved);
    }

    fn tiered(tier: ucx_schemas::registry::ContractTier) -> Routed {
        Routed {
            tier: Some(tier),
            ..routed()
        }
    }

    const DISK_NEXT: &str = "\n[[rule]]\nid = \"disk_free_low_next\"\nversion = 1\nmode = \"shadow\"\nshadow_of = \"disk_free_low\"\nsignal = \"disk_free_percent\"\nwhen = \"below\"\nwarning = 30\nsummary = \"{subject} has {value}% free\"\nexplanation = \"e\"\n";

    #[test]
    fn a_shadow_rule_is_recorded_for_support_and_never_meant_for_mail() {
        let library = RuleLibrary::parse(&format!("{BUILT_IN}{DISK_NEXT}")).unwrap();
        let mut engine = Engine::default();
        let gold = tiered(ucx_schemas::registry::ContractTier::Gold);
        let opened = engine
            .apply(&disks("a", "1", 1_000, 25), at(0), &library, &gold)
            .unwrap()
            .alerts;
        assert_eq!(
            opened.len(),
            1,
            "only the shadow rule judges 25% bad: {opened:?}"
        );
        assert_eq!(opened[0].rule_id, "disk_free_low_next");
        assert_eq!(opened[0].suppressed_by, crate::alert_book::SHADOW);
        assert_eq!(opened[0].library_version, library.library_version as i32);
        let resolved = engine
            .apply(&disks("a", "2", 2_000, 60), at(1), &library, &gold)
            .unwrap()
            .alerts;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].suppressed_by, crate::alert_book::SHADOW);
        // both judge 3%: the live alert is not part of the shadow's incident, nor suppressed
        let both = engine
            .apply(&disks("a", "3", 3_000, 3), at(2), &library, &gold)
            .unwrap()
            .alerts;
        let live = both.iter().find(|a| a.rule_id == "disk_free_low").unwrap();
        assert_eq!(live.suppressed_by, "");
        assert_eq!(live.incident_id, live.alert_id);
    }

    #[test]
    fn a_staged_change_is_in_force_for_its_tier_only_and_retires_when_withdrawn() {
        use ucx_schemas::registry::ContractTier::{Basic, Platinum};
        let staged = BUILT_IN.replace(
            "[[rule]]\nid = \"memory_low\"",
            "[[rule]]\nid = \"disk_free_low\"\nversion = 4\nrollout = { tiers = [\"platinum\"] }\nsignal = \"disk_free_percent\"\nwhen = \"below\"\nwarning = 30\nsummary = \"{subject} has {value}% free\"\nexplanation = \"e\"\n\n[[rule]]\nid = \"memory_low\"",
        );
        let library = RuleLibrary::parse(&staged).unwrap();
        let mut engine = Engine::default();
        let platinum = engine
            .apply(
                &disks("p", "1", 1_000, 25),
                at(0),
                &library,
                &tiered(Platinum),
            )
            .unwrap()
            .alerts;
        assert_eq!(platinum.len(), 1, "{platinum:?}");
        assert_eq!(platinum[0].rule_version, 4);
        let basic = engine
            .apply(&disks("b", "2", 1_000, 25), at(1), &library, &tiered(Basic))
            .unwrap()
            .alerts;
        assert!(
            basic.is_empty(),
            "version 2 (15%) for the others: {basic:?}"
        );
        // the rollout narrows to 0 % of Platinum: version 3 judges the same alert healthy
        let narrow = |library: &str| {
            RuleLibrary::parse(&library.replace(
                "rollout = { tiers = [\"platinum\"] }",
                "rollout = { tiers = [\"platinum\"], share = 0 }",
            ))
            .unwrap()
        };
        let cleared = engine
            .apply(
                &disks("p", "3", 2_000, 25),
                at(2),
                &narrow(&staged),
                &tiered(Platinum),
            )
            .unwrap()
            .alerts;
        assert_eq!(cleared.len(), 1, "{cleared:?}");
        assert_eq!(
            (
                cleared[0].state,
                cleared[0].resolution.as_str(),
                cleared[0].rule_version
            ),
            (AlertState::Resolved, "cleared", 3)
        );
        assert_eq!(cleared[0].alert_id, platinum[0].alert_id);
        // a new rule with no entry for the rest: withdrawing it retires its alert, none stays stuck
        let new_rule = staged.replacen(
            "id = \"disk_free_low\"\nversion = 4",
            "id = \"disk_early\"\nversion = 1",
            1,
        );
        let library = RuleLibrary::parse(&new_rule).unwrap();
        let opened = engine
            .apply(
                &disks("p", "4", 3_000, 25),
                at(3),
                &library,
                &tiered(Platinum),
            )
            .unwrap()
            .alerts;
        assert_eq!(opened[0].rule_id, "disk_early");
        let retired = engine
            .apply(
                &disks("p", "5", 4_000, 25),
                at(4),
                &narrow(&new_rule),
                &tiered(Platinum),
            )
            .unwrap()
            .alerts;
        assert_eq!(retired.len(), 1, "{retired:?}");
        assert_eq!(retired[0].resolution, "rule_retired");
        assert_eq!(retired[0].alert_id, opened[0].alert_id);
    }

    #[test]
    fn a_large_disk_with_plenty_of_space_left_is_not_low() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let gib = 1i64 << 30;
        let mut beat = disks("a", "1", 1_000, 0);
        beat.payload = BeatPayload::HardwareInfoDisks(HardwareInfoDisks {
            disks: [("D:", 2_000 * gib, 245 * gib), ("E:", 100 * gib, 12 * gib)]
                .into_iter()
                .map(|(name, size_bytes, free_bytes)| Disk {
                    name: name.into(),
                    model: "m".into(),
                    size_bytes,
                    free_bytes,
                })
                .collect(),
        });
        let opened = Engine::default()
            .apply(&beat, at(0), &library, &routed())
            .unwrap()
            .alerts;
        let subjects: Vec<&str> = opened.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["disk E:"],
            "12 % of 2 TB is 245 GB: not low; of 100 GB it is"
        );
    }
}
