//! The alert lifecycle: one alert per (installation, node, rule, subject). A subject that stays
//! bad for the rule's `for_beats` opens it, a worse severity re-announces it under the same id
//! (a milder one waits for the resolution: an episode keeps its worst), an alert still open after the tier's reminder interval is announced again as a reminder
//! (not once acknowledged), and `clear_beats` good verdicts in a row resolve it: a value
//! wavering around the threshold does not open and resolve an alert on every beat.
//!
//! Silences and maintenance windows (admin API, from the registry) are judged at the beat's
//! event time: a maintenance window opens nothing, a silence lets the alert be recorded for
//! support but withholds the customer notification (`suppressed_by`) and the reminders.

use std::collections::HashSet;

// Looked up for every finding of every beat by a key of four strings: foldhash, not SipHash
// (hashing these keys was most of the processors' SipHash time), and hashbrown's map, which is
// looked up by borrowed strings (`KeyRef`): a healthy finding of an untracked subject (nearly
// every finding) builds no key.
use hashbrown::{Equivalent, HashMap};

use serde::{Deserialize, Serialize};
use ucx_schemas::{
    Acknowledgement, Alert, AlertState, Beat, Resolution, Severity, Silence, SilenceKind,
};

use crate::advisories::{self, Advisory};
use crate::heartbeat;
use crate::rules::series::{deserialize_keyed, serialize_keyed};
use crate::rules::Finding;

pub type AlertKey = (String, String, String, String);

/// The subjects a beat's findings name, by signal, of the signals whose absent subjects are
/// gone ([`observed_subjects`]).
pub type Observed<'a> = foldhash::HashMap<&'a str, foldhash::HashSet<&'a str>>;

/// The subjects `findings` name, of the signals whose absent subjects are gone.
pub fn observed_subjects(findings: &[Finding]) -> Observed<'_> {
    let mut observed = Observed::default();
    // the findings of one subject's rules follow each other: its first is enough
    let mut previous: Option<(&str, &str)> = None;
    for finding in findings.iter().filter(|finding| finding.gone_when_absent) {
        let this = (finding.signal, finding.subject.as_str());
        if previous != Some(this) {
            observed.entry(this.0).or_default().insert(this.1);
            previous = Some(this);
        }
    }
    observed
}

/// An [`AlertKey`] of borrowed strings. Hashes as the key does: a tuple hashes its fields in
/// order, as the derived `Hash` of this struct does, and a `&str` as the `String` it equals.
#[derive(Hash)]
struct KeyRef<'a>(&'a str, &'a str, &'a str, &'a str);

impl Equivalent<AlertKey> for KeyRef<'_> {
    fn equivalent(&self, key: &AlertKey) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2 && self.3 == key.3
    }
}

/// `suppressed_by` of a shadow rule's alerts: recorded for support, never mailed.
pub const SHADOW: &str = "shadow";

/// Who the alert is for and the lifecycle policy of its customer: filled in from the registry.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub customer_id: String,
    pub contract_tier: String,
    /// Proactive Support: the customer hears of it too.
    pub notify_customer: bool,
    pub dashboard_url: String,
    /// The customer's silences and maintenance windows (any time; judged at event time).
    pub silences: Vec<Silence>,
    /// An alert still open this long after it was announced is announced again; 0: never.
    pub reminder_interval_ms: i64,
    /// An alert going bad again within this long of resolving continues its episode (same id);
    /// 0: always a new episode.
    pub reopen_window_ms: i64,
}

impl Audience {
    /// The silence or maintenance window covering `rule_id` on `installation_id` at `at_ms`;
    /// a maintenance window first.
    pub fn covering(&self, installation_id: &str, rule_id: &str, at_ms: i64) -> Option<&Silence> {
        let mut covering = self
            .silences
            .iter()
            .filter(|silence| silence.covers(&self.customer_id, installation_id, rule_id, at_ms));
        let first = covering.next()?;
        if first.kind == SilenceKind::Maintenance {
            return Some(first);
        }
        Some(
            covering
                .find(|silence| silence.kind == SilenceKind::Maintenance)
                .unwrap_or(first),
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Tracked {
    /// The open alert as last announced (its id, severity, evidence).
    open: Option<Alert>,
    /// Event time of the last announcement (opening, escalation, reminder).
    announced_at: i64,
    bad_streak: u32,
    good_streak: u32,
    /// The signal its rule judges: the subject is gone when a beat judged on this signal no
    /// longer carries it ('' in states written before it was kept: never judged gone).
    signal: String,
    /// The customer's tier's reminder interval when it was last announced (0: none).
    reminder_interval_ms: i64,
    /// Its rule's correlation group ('' for none).
    group: String,
}

/// The alerts of one installation: open ones and streaks towards opening or resolving.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    #[serde(
        serialize_with = "serialize_keyed",
        deserialize_with = "deserialize_keyed"
    )]
    tracked: HashMap<AlertKey, Tracked>,
    /// Alerts resolved within the reopen window (id, event time): going bad again within it
    /// continues the episode under the same id instead of opening a new one.
    #[serde(
        default,
        serialize_with = "serialize_keyed",
        deserialize_with = "deserialize_keyed"
    )]
    resolved: HashMap<AlertKey, (String, i64)>,
}

/// What an alert opened without a beat says (heartbeat loss, overdue beats, advisories).
struct Opening {
    region: ucx_schemas::Region,
    rule_version: i32,
    severity: Severity,
    summary: String,
    observed_value: f64,
    threshold: f64,
    /// What carried the evidence: its beat id (or another token); the alert id comes from it.
    evidence: String,
    explanation: String,
}

impl AlertBook {
    /// The alert state changes that `findings` (all from `beat`) cause.
    pub fn apply(
        &mut self,
        beat: &Beat,
        findings: Vec<Finding>,
        audience: &Audience,
    ) -> Vec<Alert> {
        let envelope = &beat.envelope;
        let now = envelope.received_at;
        let mut changes = Vec::new();
        for finding in findings {
            let borrowed = KeyRef(
                &envelope.installation_id,
                &envelope.node_id,
                &finding.rule_id,
                &finding.subject,
            );
            // healthy and not tracked: no streak to reset, nothing open to resolve
            if finding.severity.is_none() && !self.tracked.contains_key(&borrowed) {
                continue;
            }
            let key: AlertKey = (
                envelope.installation_id.clone(),
                envelope.node_id.clone(),
                finding.rule_id.to_string(),
                finding.subject.clone(),
            );
            let covering = audience.covering(&envelope.installation_id, &finding.rule_id, now);
            let in_maintenance = covering.is_some_and(|s| s.kind == SilenceKind::Maintenance);
            let tracked = self.tracked.entry(key.clone()).or_default();
            if finding.gone_when_absent && tracked.signal != finding.signal {
                tracked.signal = finding.signal.to_string();
            }
            if tracked.group != finding.text.group {
                tracked.group = finding.text.group.clone();
            }
            let change = match finding.severity {
                Some(found) => {
                    tracked.bad_streak += 1;
                    tracked.good_streak = 0;
                    // An open episode keeps its worst severity until it resolves: a value
                    // wavering at the critical threshold (4.9 %, 5 %, 4.6 % free) escalates
                    // once, not CRITICAL, WARNING, CRITICAL in turn.
                    let severity = match &tracked.open {
                        Some(open) if rank(open.severity) > rank(found) => open.severity,
                        _ => found,
                    };
                    match &tracked.open {
                        // a reminder with the next bad verdict; between beats the processors'
                        // tick reminds (`remind`), so a subject no beat carries is reminded too
                        Some(open) if open.severity == severity => {
                            let reminder_due = audience.reminder_interval_ms > 0
                                && open.acknowledged_by.is_empty()
                                && covering.is_none()
                                && now - tracked.announced_at >= audience.reminder_interval_ms;
                            reminder_due
                                .then(|| (open.alert_id.clone(), severity, AlertState::Reminder))
                        }
                        Some(open) => Some((open.alert_id.clone(), severity, AlertState::Open)),
                        None if tracked.bad_streak >= finding.for_beats && !in_maintenance => {
                            // back within the reopen window: the same episode goes on
                            let id = self
                                .resolved
                                .get(&key)
                                .filter(|(_, at)| now - at <= audience.reopen_window_ms)
                                .map(|(id, _)| id.clone())
                                .unwrap_or_else(|| alert_id(&key, &envelope.beat_id));
                            Some((id, severity, AlertState::Open))
                        }
                        None => None,
                    }
                }
                None => {
                    tracked.bad_streak = 0;
                    // within the rule's clear margin: neither bad nor clear (no flapping)
                    if finding.verdict.clear {
                        tracked.good_streak += 1;
                    } else {
                        tracked.good_streak = 0;
                    }
                    match &tracked.open {
                        Some(open) if tracked.good_streak >= finding.clear_beats => {
                            Some((open.alert_id.clone(), open.severity, AlertState::Resolved))
                        }
                        _ => None,
                    }
                }
            };
            let Some((alert_id, severity, state)) = change else {
                if tracked.open.is_none() && tracked.bad_streak == 0 {
                    self.tracked.remove(&key);
                }
                continue;
            };
            let opening = tracked.open.is_none();
            let group = tracked.group.clone();
            let shadow = finding.shadow;
            let mut alert = to_alert(beat, finding, alert_id, severity, state, audience);
            alert.incident_id = match &tracked.open {
                Some(open) => open.incident_id.clone(),
                None => alert.alert_id.clone(),
            };
            if opening && !group.is_empty() {
                if let Some(incident_id) = self.incident_of(&group, &key) {
                    alert.incident_id = incident_id;
                }
            }
            let tracked = self.tracked.get_mut(&key).expect("tracked above");
            alert.suppressed_by = if shadow {
                SHADOW.to_string()
            } else {
                covering.map(Silence::reference).unwrap_or_default()
            };
            if state == AlertState::Resolved {
                alert.resolution = Resolution::Cleared.as_str().into();
            }
            if let Some(open) = &tracked.open {
                alert.acknowledged_by = open.acknowledged_by.clone();
                // the customer who was not told of the opening is not told of the rest either
                if alert.suppressed_by.is_empty() {
                    alert.suppressed_by = open.suppressed_by.clone();
                }
            }
            match state {
                AlertState::Resolved => {
                    self.tracked.remove(&key);
                    self.remember_resolved(key, &alert.alert_id, now, audience.reopen_window_ms);
                }
                _ => {
                    tracked.open = Some(alert.clone());
                    tracked.announced_at = now;
                    tracked.reminder_interval_ms = audience.reminder_interval_ms;
                }
            }
            changes.push(alert);
        }
        changes
    }

    /// Keeps a resolved alert's id for the reopen window; forgets those older than it.
    fn remember_resolved(&mut self, key: AlertKey, alert_id: &str, at_ms: i64, window_ms: i64) {
        if window_ms <= 0 {
            return;
        }
        self.resolved.retain(|_, (_, at)| at_ms - *at <= window_ms);
        self.resolved.insert(key, (alert_id.to_string(), at_ms));
    }

    /// The incident of an open alert of `group` other than `key`'s: related findings share it.
    fn incident_of(&self, group: &str, key: &AlertKey) -> Option<String> {
        self.tracked
            .iter()
            .filter(|(other, tracked)| *other != key && tracked.group == group)
            .find_map(|(_, tracked)| {
                let open = tracked.open.as_ref()?;
                Some(if open.incident_id.is_empty() {
                    open.alert_id.clone()
                } else {
                    open.incident_id.clone()
                })
            })
    }

    /// Whether an alert of `key` is open.
    pub fn is_open(&self, key: &AlertKey) -> bool {
        self.tracked
            .get(key)
            .is_some_and(|tracked| tracked.open.is_some())
    }

    /// Opens the alert of a silence the processors judged without a beat (heartbeat loss,
    /// overdue beats) at event time `at_ms`, unless one is open or a maintenance window covers
    /// it (then it is judged again once the window is over).
    pub fn open_silence(
        &mut self,
        installation_id: &str,
        silence: &heartbeat::Silence,
        explanation: &str,
        at_ms: i64,
        audience: &Audience,
    ) -> Option<Alert> {
        let key: AlertKey = (
            installation_id.to_string(),
            silence.node_id.clone(),
            silence.rule_id.to_string(),
            silence.subject.clone(),
        );
        let opening = Opening {
            region: silence.region,
            rule_version: heartbeat::RULE_VERSION,
            severity: silence.severity,
            summary: silence.summary(),
            observed_value: (silence.silent_ms as f64 / 6_000.0).round() / 10.0,
            threshold: (silence.allowed_ms as f64 / 6_000.0).round() / 10.0,
            evidence: silence.last_beat_id.clone(),
            explanation: explanation.to_string(),
        };
        self.open_without_beat(key, opening, at_ms, audience)
    }

    /// Opens the alert of `key` judged without a beat at event time `at_ms`, unless one is
    /// open or a maintenance window covers it; its id comes from `opening.evidence`.
    fn open_without_beat(
        &mut self,
        key: AlertKey,
        opening: Opening,
        at_ms: i64,
        audience: &Audience,
    ) -> Option<Alert> {
        if self.is_open(&key) {
            return None;
        }
        let (installation_id, node_id, rule_id, subject) = key.clone();
        let covering = audience.covering(&installation_id, &rule_id, at_ms);
        if covering.is_some_and(|window| window.kind == SilenceKind::Maintenance) {
            return None;
        }
        let id = alert_id(&key, &opening.evidence);
        let alert = Alert {
            incident_id: id.clone(),
            alert_id: id,
            installation_id,
            node_id,
            region: opening.region,
            rule_id,
            rule_version: opening.rule_version,
            subject,
            severity: opening.severity,
            state: AlertState::Open,
            summary: opening.summary,
            observed_value: opening.observed_value,
            threshold: opening.threshold,
            beat_id: opening.evidence,
            event_at: at_ms,
            raised_at: ucx_common::now_ms(),
            customer_id: audience.customer_id.clone(),
            contract_tier: audience.contract_tier.clone(),
            notify_customer: audience.notify_customer,
            explanation: opening.explanation,
            dashboard_url: audience.dashboard_url.clone(),
            suppressed_by: covering.map(Silence::reference).unwrap_or_default(),
            acknowledged_by: String::new(),
            resolution: String::new(),
            library_version: 0,
        };
        self.tracked.insert(
            key,
            Tracked {
                open: Some(alert.clone()),
                announced_at: at_ms,
                bad_streak: 1,
                reminder_interval_ms: audience.reminder_interval_ms,
                ..Default::default()
            },
        );
        Some(alert)
    }

    /// The advisory alert of this installation: opened when `affected` (what makes it so) and
    /// none is open, unless a maintenance window covers it; resolved (`cleared`) when no longer
    /// affected. Judged without a beat, so `token` (the triggering beat's id, or the catalogue
    /// version on a reload) makes the id the same when the judgement is made again after a
    /// crash. `None` when nothing changes.
    #[allow(clippy::too_many_arguments)]
    pub fn judge_advisory(
        &mut self,
        installation_id: &str,
        region: ucx_schemas::Region,
        advisory: &Advisory,
        affected: Option<String>,
        token: &str,
        at_ms: i64,
        audience: &Audience,
    ) -> Option<Alert> {
        let rule_id = advisory.rule_id();
        let key: AlertKey = (
            installation_id.to_string(),
            String::new(),
            rule_id.clone(),
            advisory.id.clone(),
        );
        let Some(affected) = affected else {
            let open = self.tracked.remove(&key)?.open?;
            let summary = format!("no longer affected by {}: {}", advisory.id, advisory.title);
            return Some(closing(&open, Resolution::Cleared, at_ms, summary));
        };
        let opening = Opening {
            region,
            rule_version: advisory.version as i32,
            severity: advisory.severity,
            summary: format!(
                "known issue {}: {} ({affected})",
                advisory.id, advisory.title
            ),
            observed_value: 0.0,
            threshold: 0.0,
            evidence: token.to_string(),
            explanation: advisory.explanation(),
        };
        self.open_without_beat(key, opening, at_ms, audience)
    }

    /// Open advisory alerts whose advisory is not in `catalogue` any more resolve
    /// (`rule_retired`) at `at_ms`.
    pub fn retire_advisories(&mut self, present: &HashSet<String>, at_ms: i64) -> Vec<Alert> {
        let gone: Vec<AlertKey> = self
            .tracked
            .keys()
            .filter(|key| key.2.starts_with(advisories::RULE_PREFIX) && !present.contains(&key.2))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|key| self.tracked.remove(&key)?.open)
            .map(|open| {
                let summary = format!("advisory {} was withdrawn from the catalogue", open.subject);
                closing(&open, Resolution::RuleRetired, at_ms, summary)
            })
            .collect()
    }

    /// Whether an alert of `rule` on `node` is tracked (open, or waiting for its resolution).
    pub fn tracks_node_rule(&self, node: &str, rule: &str) -> bool {
        self.tracked
            .keys()
            .any(|(_, tracked_node, tracked_rule, _)| tracked_node == node && tracked_rule == rule)
    }

    /// Resolves the open alert of `key` because what it waited for came back (`cleared`).
    pub fn resolve_silence(&mut self, key: &AlertKey, beat: &Beat, summary: &str) -> Option<Alert> {
        let open = self.tracked.get(key)?.open.as_ref()?;
        let mut alert = closing(
            open,
            Resolution::Cleared,
            beat.envelope.sent_at,
            summary.to_string(),
        );
        alert.beat_id = beat.envelope.beat_id.clone();
        self.tracked.remove(key);
        Some(alert)
    }

    /// Whether an open alert is due for a reminder at `at_ms`.
    pub fn reminder_due(&self, at_ms: i64) -> bool {
        self.tracked
            .values()
            .any(|tracked| reminder_due(tracked, at_ms))
    }

    /// Reminders of the open alerts still open their tier's reminder interval after they were
    /// last announced (event time `at_ms`), unless acknowledged or silenced now.
    pub fn remind(&mut self, at_ms: i64, audience: &Audience) -> Vec<Alert> {
        let mut changes = Vec::new();
        for (key, tracked) in &mut self.tracked {
            if !reminder_due(tracked, at_ms) || audience.covering(&key.0, &key.2, at_ms).is_some() {
                continue;
            }
            let Some(open) = &tracked.open else {
                continue;
            };
            let mut alert = open.clone();
            alert.state = AlertState::Reminder;
            alert.event_at = at_ms;
            alert.raised_at = ucx_common::now_ms();
            tracked.announced_at = at_ms;
            changes.push(alert);
        }
        changes
    }

    /// Alerts whose subject `beat` no longer carries: for every signal the beat was judged on
    /// (`observed`, of its findings), the subjects of this node tracked for it and absent now
    /// are gone (a process that exited, a service or disk removed). Open ones resolve
    /// (`subject_gone`); streaks are forgotten.
    pub fn close_gone(&mut self, beat: &Beat, observed: &Observed<'_>) -> Vec<Alert> {
        let envelope = &beat.envelope;
        let gone: Vec<AlertKey> = self
            .tracked
            .iter()
            .filter(|(key, tracked)| {
                key.0 == envelope.installation_id
                    && key.1 == envelope.node_id
                    && observed
                        .get(tracked.signal.as_str())
                        .is_some_and(|subjects| !subjects.contains(key.3.as_str()))
            })
            .map(|(key, _)| key.clone())
            .collect();
        let mut changes = Vec::new();
        for key in gone {
            let Some(open) = self.tracked.remove(&key).and_then(|tracked| tracked.open) else {
                continue;
            };
            let summary = format!("{} is no longer reported: {}", key.3, open.summary);
            let mut alert = closing(&open, Resolution::SubjectGone, envelope.sent_at, summary);
            alert.beat_id = envelope.beat_id.clone();
            changes.push(alert);
        }
        changes
    }

    /// Alerts of rules that left the library (`known_rules` is the library in force): open
    /// ones resolve (`rule_retired`) at event time `at_ms`; streaks are forgotten.
    pub fn retire(&mut self, known_rules: &HashSet<&str>, at_ms: i64) -> Vec<Alert> {
        let retired: Vec<AlertKey> = self
            .tracked
            .keys()
            // advisories come and go with their own catalogue (see `judge_advisory`)
            .filter(|key| !key.2.starts_with(advisories::RULE_PREFIX))
            .filter(|key| !known_rules.contains(key.2.as_str()))
            .cloned()
            .collect();
        let mut changes = Vec::new();
        for key in retired {
            if let Some(open) = self.tracked.remove(&key).and_then(|tracked| tracked.open) {
                let summary = format!("rule {} was removed from the library", key.2);
                changes.push(closing(&open, Resolution::RuleRetired, at_ms, summary));
            }
        }
        changes
    }

    /// Every alert of an installation that may no longer be watched (revoked, or its customer
    /// switched telemetry off): open ones resolve (`installation_inactive`) at `at_ms`.
    pub fn close_all(&mut self, at_ms: i64) -> Vec<Alert> {
        self.resolved.clear();
        self.tracked
            .drain()
            .filter_map(|(_, tracked)| tracked.open)
            .map(|open| {
                let summary = format!("the installation is no longer watched: {}", open.summary);
                let mut alert = closing(&open, Resolution::InstallationInactive, at_ms, summary);
                // a customer who switched telemetry off (or a revoked server's) hears no more
                alert.notify_customer = false;
                alert
            })
            .collect()
    }

    /// Records the acknowledgements (looked up by alert id) of open alerts not acknowledged
    /// yet; the `ACKNOWLEDGED` state changes they cause.
    pub fn acknowledge(&mut self, lookup: impl Fn(&str) -> Option<Acknowledgement>) -> Vec<Alert> {
        let mut changes = Vec::new();
        for tracked in self.tracked.values_mut() {
            let Some(open) = tracked.open.as_mut() else {
                continue;
            };
            if !open.acknowledged_by.is_empty() {
                continue;
            }
            let Some(ack) = lookup(&open.alert_id) else {
                continue;
            };
            open.acknowledged_by = ack.acknowledged_by.clone();
            let mut alert = open.clone();
            alert.state = AlertState::Acknowledged;
            alert.raised_at = ucx_common::now_ms();
            alert.summary = if ack.comment.is_empty() {
                format!("acknowledged by {}: {}", ack.acknowledged_by, open.summary)
            } else {
                format!(
                    "acknowledged by {} ({}): {}",
                    ack.acknowledged_by, ack.comment, open.summary
                )
            };
            changes.push(alert);
        }
        changes
    }

    /// Open alerts.
    pub fn open_count(&self) -> usize {
        self.tracked.values().filter(|t| t.open.is_some()).count()
    }
}

fn reminder_due(tracked: &Tracked, at_ms: i64) -> bool {
    tracked.open.as_ref().is_some_and(|open| {
        open.acknowledged_by.is_empty()
            && tracked.reminder_interval_ms > 0
            && at_ms - tracked.announced_at >= tracked.reminder_interval_ms
    })
}

/// The `RESOLVED` record of `open`, for a reason other than its condition clearing.
pub fn closing(open: &Alert, resolution: Resolution, at_ms: i64, summary: String) -> Alert {
    let mut alert = open.clone();
    alert.state = AlertState::Resolved;
    alert.resolution = resolution.as_str().into();
    alert.event_at = at_ms;
    alert.raised_at = ucx_common::now_ms();
    alert.summary = summary;
    alert
}

/// Deterministic, so that re-evaluating the same beat after a crash yields the same id.
pub fn alert_id(key: &AlertKey, opening_beat_id: &str) -> String {
    let (installation, node, rule, subject) = key;
    let name = format!("{installation}/{node}/{rule}/{subject}/{opening_beat_id}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

fn to_alert(
    beat: &Beat,
    finding: Finding,
    alert_id: String,
    severity: Severity,
    state: AlertState,
    audience: &Audience,
) -> Alert {
    let envelope = &beat.envelope;
    let summary = if state == AlertState::Resolved {
        finding.cleared_summary()
    } else {
        finding.summary()
    };
    let explanation = finding.explanation();
    Alert {
        alert_id,
        installation_id: envelope.installation_id.clone(),
        node_id: envelope.node_id.clone(),
        region: envelope.region,
        rule_id: finding.rule_id.to_string(),
        rule_version: finding.rule_version,
        subject: finding.subject,
        severity,
        state,
        summary,
        observed_value: finding.observed_value,
        threshold: finding.threshold,
        beat_id: envelope.beat_id.clone(),
        event_at: envelope.sent_at,
        raised_at: ucx_common::now_ms(),
        customer_id: audience.customer_id.clone(),
        contract_tier: audience.contract_tier.clone(),
        notify_customer: audience.notify_customer,
        explanation,
        dashboard_url: audience.dashboard_url.clone(),
        suppressed_by: String::new(),
        acknowledged_by: String::new(),
        resolution: String::new(),
        incident_id: String::new(),
        library_version: 0,
    }
}

/// Severities in order, mildest first.
fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;
    use ucx_schemas::beats::{Disk, HardwareInfoDisks};
    use ucx_schemas::{BeatPayload, Envelope, Region};

    use crate::rules::library::{RuleLibrary, BUILT_IN};
    use ucx_schemas::{Acknowledgement, Silence, SilenceKind};

    #[test]
    fn a_borrowed_key_finds_what_its_owned_key_stored() {
        let owned: AlertKey = (
            "inst".into(),
            "node".into(),
            "disk_free_low".into(),
            "disk C:".into(),
        );
        let mut map: HashMap<AlertKey, u8> = HashMap::default();
        map.insert(owned.clone(), 1);
        let borrowed = KeyRef("inst", "node", "disk_free_low", "disk C:");
        let hasher = map.hasher();
        assert_eq!(hasher.hash_one(&borrowed), hasher.hash_one(&owned));
        assert_eq!(map.get(&borrowed), Some(&1));
        assert!(!map.contains_key(&KeyRef("inst", "node", "disk_free_low", "disk D:")));
        // the fields are not run together: another split of the same text hashes otherwise
        let split_otherwise = KeyRef("inst", "node", "disk_free_lowdisk C:", "");
        assert_ne!(hasher.hash_one(&split_otherwise), hasher.hash_one(&owned));
        assert!(!map.contains_key(&split_otherwise));
    }

    #[test]
    fn the_book_survives_json() {
        let mut book = AlertBook::default();
        run(&library(1, 1), &mut book, &beat("1", 3));
        assert_eq!(book.open_count(), 1);
        let text = serde_json::to_string(&book).unwrap();
        let restored: AlertBook = serde_json::from_str(&text).unwrap();
        assert_eq!(restored, book);
    }
    use crate::rules::signals::Facts;

    fn beat(beat_id: &str, free: i64) -> Beat {
        beat_at(beat_id, free, 1)
    }

    fn beat_at(beat_id: &str, free: i64, at_ms: i64) -> Beat {
        Beat {
            envelope: Envelope {
                beat_id: beat_id.into(),
                installation_id: "inst".into(),
                node_id: "node".into(),
                region: Region::EU,
                sent_at: at_ms,
                received_at: at_ms,
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

    fn library(for_beats: u32, clear_beats: u32) -> RuleLibrary {
        let mut library = RuleLibrary::parse(BUILT_IN).unwrap();
        library.rules.retain(|rule| rule.id == "disk_free_low");
        library.rules[0].for_beats = for_beats;
        library.rules[0].clear_beats = clear_beats;
        library
    }

    fn run(library: &RuleLibrary, book: &mut AlertBook, beat: &Beat) -> Vec<Alert> {
        let findings =
            library.evaluate(beat, &Facts::default(), None, &mut Default::default(), None);
        book.apply(beat, findings, &Audience::default())
    }

    fn states(book: &mut AlertBook, beat_id: &str, free: i64) -> Vec<(AlertState, Severity)> {
        run(&library(1, 1), book, &beat(beat_id, free))
            .iter()
            .map(|a| (a.state, a.severity))
            .collect()
    }

    /// A disks beat of two disks with `free` percent each.
    fn two_disks(beat_id: &str, free: [i64; 2]) -> Beat {
        let mut beat = beat(beat_id, free[0]);
        if let BeatPayload::HardwareInfoDisks(data) = &mut beat.payload {
            data.disks.push(Disk {
                name: "D:".into(),
                model: "m".into(),
                size_bytes: 100,
                free_bytes: free[1],
            });
        }
        beat
    }

    #[test]
    fn a_value_within_the_clear_margin_neither_resolves_nor_flaps() {
        // disk_free_low warns below 15 % and, with clear_margin 2, clears from 17 %
        let mut book = AlertBook::default();
        assert_eq!(
            states(&mut book, "1", 14),
            [(AlertState::Open, Severity::Warning)]
        );
        for (beat_id, free) in [("2", 16), ("3", 14), ("4", 16), ("5", 15)] {
            assert_eq!(
                states(&mut book, beat_id, free),
                [],
                "{free} % flaps nothing"
            );
        }
        assert_eq!(
            states(&mut book, "6", 17),
            [(AlertState::Resolved, Severity::Warning)]
        );
        // and a value in the band opens nothing either
        assert_eq!(states(&mut book, "7", 16), []);
    }

    #[test]
    fn going_bad_again_within_the_reopen_window_continues_the_episode() {
        let library = library(1, 1);
        let audience = Audience {
            reopen_window_ms: 3_600_000,
            ..Audience::default()
        };
        let mut book = AlertBook::default();
        let at = |book: &mut AlertBook, id: &str, free: i64, at_ms: i64| {
            let beat = beat_at(id, free, at_ms);
            let findings = library.evaluate(
                &beat,
                &Facts::default(),
                None,
                &mut Default::default(),
                None,
            );
            book.apply(&beat, findings, &audience)
        };
        let opened = at(&mut book, "1", 10, 1_000);
        let resolved = at(&mut book, "2", 60, 60_000);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        let again = at(&mut book, "3", 10, 1_800_000);
        assert_eq!(again[0].state, AlertState::Open);
        assert_eq!(again[0].alert_id, opened[0].alert_id, "the same episode");
        at(&mut book, "4", 60, 1_900_000);
        let later = at(&mut book, "5", 10, 1_900_000 + 3_600_001);
        assert_ne!(
            later[0].alert_id, opened[0].alert_id,
            "past the window: a new one"
        );
    }

    #[test]
    fn related_findings_share_an_incident_until_they_all_resolve() {
        let library = library(1, 1);
        let mut book = AlertBook::default();
        let first = run(&library, &mut book, &two_disks("1", [10, 50]));
        assert_eq!(first.len(), 1);
        assert_eq!(
            first[0].incident_id, first[0].alert_id,
            "the first opens an incident"
        );
        let second = run(&library, &mut book, &two_disks("2", [10, 9]));
        assert_eq!(second.len(), 1);
        assert_ne!(second[0].alert_id, first[0].alert_id);
        assert_eq!(
            second[0].incident_id, first[0].alert_id,
            "D: joins C:'s incident"
        );
        // escalation and resolution keep it
        let changes = run(&library, &mut book, &two_disks("3", [3, 60]));
        assert!(changes
            .iter()
            .all(|alert| alert.incident_id == first[0].alert_id));
        let resolved = run(&library, &mut book, &two_disks("4", [60, 60]));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].incident_id, first[0].alert_id);
        // all resolved: the next opening is a new incident
        let again = run(&library, &mut book, &two_disks("5", [60, 10]));
        assert_eq!(again[0].incident_id, again[0].alert_id);
        assert_ne!(again[0].incident_id, first[0].alert_id);
    }

    #[test]
    fn opens_once_escalates_and_resolves() {
        let mut book = AlertBook::default();
        assert_eq!(states(&mut book, "1", 50), []);
        assert_eq!(
            states(&mut book, "2", 10),
            [(AlertState::Open, Severity::Warning)]
        );
        assert_eq!(states(&mut book, "3", 9), [], "still warning: no repeat");
        assert_eq!(
            states(&mut book, "4", 3),
            [(AlertState::Open, Severity::Critical)]
        );
        // wavering at the critical threshold (5 %): no step back to WARNING and up again
        assert_eq!(
            states(&mut book, "4a", 6),
            [],
            "the episode keeps its worst"
        );
        assert_eq!(states(&mut book, "4b", 4), []);
        assert_eq!(
            states(&mut book, "5", 60),
            [(AlertState::Resolved, Severity::Critical)]
        );
        assert_eq!(states(&mut book, "6", 60), []);
    }

    #[test]
    fn escalation_and_resolution_keep_the_alert_id() {
        let mut book = AlertBook::default();
        let library = library(1, 1);
        let ids: Vec<String> = [("1", 10), ("2", 3), ("3", 60), ("4", 10)]
            .iter()
            .flat_map(|(id, free)| run(&library, &mut book, &beat(id, *free)))
            .map(|alert| alert.alert_id)
            .collect();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3], "a new episode gets a new id");
    }

    #[test]
    fn a_flapping_value_is_damped() {
        let mut book = AlertBook::default();
        let library = library(2, 3);
        let mut changes = Vec::new();
        // Bad, good, bad, good…: never two bad in a row, so nothing opens.
        for (index, free) in [10, 50, 10, 50, 10, 50].iter().enumerate() {
            changes.extend(run(&library, &mut book, &beat(&index.to_string(), *free)));
        }
        assert!(changes.is_empty(), "{changes:?}");
        // Two bad in a row open it; a single good beat in between bad ones does not resolve it.
        for (index, free) in [10, 10, 50, 10, 50, 50, 50].iter().enumerate() {
            let id = format!("b{index}");
            changes.extend(run(&library, &mut book, &beat(&id, *free)));
        }
        let states: Vec<AlertState> = changes.iter().map(|a| a.state).collect();
        assert_eq!(states, [AlertState::Open, AlertState::Resolved]);
        assert_eq!(changes[1].beat_id, "b6", "resolved on the third good beat");
    }

    const MINUTE: i64 = 60_000;

    fn gold(silences: Vec<Silence>) -> Audience {
        Audience {
            customer_id: "cust".into(),
            contract_tier: "GOLD".into(),
            notify_customer: true,
            silences,
            reminder_interval_ms: 10 * MINUTE,
            ..Audience::default()
        }
    }

    fn silence(kind: SilenceKind, from_minute: i64, to_minute: i64) -> Silence {
        Silence {
            silence_id: "s1".into(),
            kind,
            customer_id: "cust".into(),
            installation_id: Some("inst".into()),
            rule_id: None,
            starts_at: from_minute * MINUTE,
            ends_at: to_minute * MINUTE,
            comment: "c".into(),
            created_by: "me".into(),
            created_at: 0,
        }
    }

    /// (state, suppressed_by) of the changes of a beat every minute with these free percents.
    fn minutes(
        audience: &Audience,
        book: &mut AlertBook,
        frees: &[(i64, i64)],
    ) -> Vec<(i64, AlertState, String)> {
        let library = library(1, 1);
        let mut changes = Vec::new();
        for (minute, free) in frees {
            let beat = beat_at(&format!("m{minute}"), *free, minute * MINUTE);
            let findings = library.evaluate(
                &beat,
                &Facts::default(),
                None,
                &mut Default::default(),
                None,
            );
            let mut alerts = book.apply(&beat, findings, audience);
            // the processors' tick, at the beat's event time
            alerts.extend(book.remind(minute * MINUTE, audience));
            for alert in alerts {
                changes.push((*minute, alert.state, alert.suppressed_by));
            }
        }
        changes
    }

    #[test]
    fn an_alert_left_open_is_reminded_every_interval_until_acknowledged() {
        let mut book = AlertBook::default();
        let audience = gold(Vec::new());
        let bad: Vec<(i64, i64)> = (0..=25).map(|minute| (minute, 10)).collect();
        let changes = minutes(&audience, &mut book, &bad);
        let states: Vec<(i64, AlertState)> = changes.iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(
            states,
            [
                (0, AlertState::Open),
                (10, AlertState::Reminder),
                (20, AlertState::Reminder)
            ]
        );

        let acknowledged = book.acknowledge(|id| {
            Some(Acknowledgement {
                alert_id: id.into(),
                acknowledged_by: "anna".into(),
                comment: "replacing the disk".into(),
                acknowledged_at: 0,
            })
        });
        assert_eq!(acknowledged.len(), 1);
        assert_eq!(acknowledged[0].state, AlertState::Acknowledged);
        assert_eq!(acknowledged[0].acknowledged_by, "anna");
        assert!(book.acknowledge(|_| None).is_empty());
        assert!(
            book.acknowledge(|id| Some(Acknowledgement {
                alert_id: id.into(),
                acknowledged_by: "bob".into(),
                comment: String::new(),
                acknowledged_at: 0,
            }))
            .is_empty(),
            "acknowledged once"
        );
        let later: Vec<(i64, i64)> = (26..=45)
            .map(|minute| (minute, 10))
            .chain([(46, 60)])
            .collect();
        let changes = minutes(&audience, &mut book, &later);
        assert_eq!(
            changes.len(),
            1,
            "no reminder once acknowledged: {changes:?}"
        );
        assert_eq!(changes[0].1, AlertState::Resolved);
    }

    #[test]
    fn a_silence_withholds_the_customer_notification_and_the_reminders() {
        let mut book = AlertBook::default();
        let audience = gold(vec![silence(SilenceKind::Silence, 0, 15)]);
        let frees: Vec<(i64, i64)> = (0..=25)
            .map(|minute| (minute, 10))
            .chain([(26, 60)])
            .collect();
        let changes = minutes(&audience, &mut book, &frees);
        assert_eq!(
            changes,
            [
                (0, AlertState::Open, "silence:s1".to_string()),
                // silence over at minute 15: the reminder is due, but the customer never heard
                // of the opening, so the rest of the episode stays withheld too
                (15, AlertState::Reminder, "silence:s1".to_string()),
                (25, AlertState::Reminder, "silence:s1".to_string()),
                (26, AlertState::Resolved, "silence:s1".to_string()),
            ]
        );
    }

    #[test]
    fn a_maintenance_window_opens_nothing_and_the_alert_opens_after_it() {
        let mut book = AlertBook::default();
        let audience = gold(vec![silence(SilenceKind::Maintenance, 0, 5)]);
        let frees: Vec<(i64, i64)> = (0..=6).map(|minute| (minute, 10)).collect();
        let changes = minutes(&audience, &mut book, &frees);
        assert_eq!(changes, [(5, AlertState::Open, String::new())]);
        let alert_id = book
            .tracked
            .values()
            .next()
            .unwrap()
            .open
            .as_ref()
            .unwrap()
            .alert_id
            .clone();
        assert!(!alert_id.is_empty());
    }

    #[test]
    fn another_customers_or_installations_silence_changes_nothing() {
        let mut book = AlertBook::default();
        let mut other = silence(SilenceKind::Maintenance, 0, 60);
        other.installation_id = Some("other".into());
        let audience = gold(vec![other]);
        let changes = minutes(&audience, &mut book, &[(0, 10)]);
        assert_eq!(changes, [(0, AlertState::Open, String::new())]);
    }

    fn disks_beat(beat_id: &str, disks: &[(&str, i64)]) -> Beat {
        let mut beat = beat(beat_id, 50);
        beat.payload = BeatPayload::HardwareInfoDisks(HardwareInfoDisks {
            disks: disks
                .iter()
                .map(|(name, free)| Disk {
                    name: name.to_string(),
                    model: "m".into(),
                    size_bytes: 100,
                    free_bytes: *free,
                })
                .collect(),
        });
        beat
    }

    fn closings(library: &RuleLibrary, book: &mut AlertBook, beat: &Beat) -> Vec<Alert> {
        let findings =
            library.evaluate(beat, &Facts::default(), None, &mut Default::default(), None);
        let mut changes = book.close_gone(beat, &observed_subjects(&findings));
        changes.extend(book.apply(beat, findings, &Audience::default()));
        changes
    }

    #[test]
    fn an_alert_whose_subject_is_no_longer_reported_resolves_as_gone() {
        let library = library(1, 1);
        let mut book = AlertBook::default();
        let opened = closings(
            &library,
            &mut book,
            &disks_beat("1", &[("C:", 50), ("D:", 3)]),
        );
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].subject, "disk D:");
        let changes = closings(&library, &mut book, &disks_beat("2", &[("C:", 50)]));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].state, AlertState::Resolved);
        assert_eq!(changes[0].resolution, "subject_gone");
        assert_eq!(changes[0].alert_id, opened[0].alert_id);
        assert_eq!(book.open_count(), 0);
        // a beat of another node judges nothing of this one
        let mut other = disks_beat("3", &[("C:", 3)]);
        other.envelope.node_id = "node-2".into();
        closings(&library, &mut book, &other);
        assert!(closings(&library, &mut book, &disks_beat("4", &[])).is_empty());
        assert_eq!(book.open_count(), 1, "node-2's disk alert stays");
    }

    #[test]
    fn a_cleared_alert_says_so() {
        let library = library(1, 1);
        let mut book = AlertBook::default();
        run(&library, &mut book, &beat("1", 3));
        let changes = run(&library, &mut book, &beat("2", 60));
        assert_eq!(changes[0].resolution, "cleared");
    }

    #[test]
    fn alerts_of_a_retired_rule_resolve_and_an_inactive_installation_closes_all() {
        let library = library(1, 1);
        let mut book = AlertBook::default();
        let opened = run(&library, &mut book, &beat("1", 3));
        let known: HashSet<&str> = ["disk_free_low"].into();
        assert!(
            book.retire(&known, 10).is_empty(),
            "its rule is still there"
        );
        let retired = book.retire(&HashSet::new(), 10);
        assert_eq!(retired.len(), 1);
        assert_eq!(
            (retired[0].alert_id.as_str(), retired[0].resolution.as_str()),
            (opened[0].alert_id.as_str(), "rule_retired")
        );
        assert_eq!(retired[0].event_at, 10);

        run(&library, &mut book, &beat("2", 3));
        let closed = book.close_all(20);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].resolution, "installation_inactive");
        assert!(!closed[0].notify_customer);
        assert_eq!(book.open_count(), 0);
    }
}
