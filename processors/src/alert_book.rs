//! The alert lifecycle: one alert per (installation, node, rule, subject). A subject that stays
//! bad for the rule's `for_beats` opens it, a change of severity re-announces it under the same
//! id, and `clear_beats` good verdicts in a row resolve it: a value wavering around the
//! threshold does not open and resolve an alert on every beat.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use ucx_schemas::{Alert, AlertState, Beat, Severity};

use crate::rules::series::{deserialize_keyed, serialize_keyed};
use crate::rules::Finding;

type AlertKey = (String, String, String, String);

/// Who the alert is for: filled in from the customer registry.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub customer_id: String,
    pub contract_tier: String,
    /// Proactive Support: the customer hears of it too.
    pub notify_customer: bool,
    pub dashboard_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Tracked {
    /// The open alert's id and severity.
    open: Option<(String, Severity)>,
    bad_streak: u32,
    good_streak: u32,
}

/// The alerts of one installation: open ones and streaks towards opening or resolving.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertBook {
    #[serde(
        serialize_with = "serialize_keyed",
        deserialize_with = "deserialize_keyed"
    )]
    tracked: HashMap<AlertKey, Tracked>,
}

impl AlertBook {
    /// The alert state changes that `findings` (all from `beat`) cause.
    pub fn apply(
        &mut self,
        beat: &Beat,
        findings: Vec<Finding>,
        audience: &Audience,
    ) -> Vec<Alert> {
        let mut changes = Vec::new();
        for finding in findings {
            let key: AlertKey = (
                beat.envelope.installation_id.clone(),
                beat.envelope.node_id.clone(),
                finding.rule_id.clone(),
                finding.subject.clone(),
            );
            let tracked = self.tracked.entry(key.clone()).or_default();
            let change = match finding.severity {
                Some(severity) => {
                    tracked.bad_streak += 1;
                    tracked.good_streak = 0;
                    match &tracked.open {
                        Some((_, open)) if *open == severity => None,
                        Some((alert_id, _)) => Some((alert_id.clone(), severity, AlertState::Open)),
                        None if tracked.bad_streak >= finding.for_beats => Some((
                            alert_id(&key, &beat.envelope.beat_id),
                            severity,
                            AlertState::Open,
                        )),
                        None => None,
                    }
                }
                None => {
                    tracked.good_streak += 1;
                    tracked.bad_streak = 0;
                    match &tracked.open {
                        Some((alert_id, severity))
                            if tracked.good_streak >= finding.clear_beats =>
                        {
                            Some((alert_id.clone(), *severity, AlertState::Resolved))
                        }
                        _ => None,
                    }
                }
            };
            match &change {
                Some((alert_id, severity, AlertState::Open)) => {
                    tracked.open = Some((alert_id.clone(), *severity));
                }
                Some((_, _, AlertState::Resolved)) => {
                    self.tracked.remove(&key);
                }
                None if tracked.open.is_none() && tracked.bad_streak == 0 => {
                    self.tracked.remove(&key);
                }
                None => {}
            }
            if let Some((alert_id, severity, state)) = change {
                changes.push(to_alert(beat, finding, alert_id, severity, state, audience));
            }
        }
        changes
    }
}

impl AlertBook {
    /// Open alerts.
    pub fn open_count(&self) -> usize {
        self.tracked.values().filter(|t| t.open.is_some()).count()
    }
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
    Alert {
        alert_id,
        installation_id: envelope.installation_id.clone(),
        node_id: envelope.node_id.clone(),
        region: envelope.region,
        rule_id: finding.rule_id,
        rule_version: finding.rule_version,
        subject: finding.subject,
        severity,
        state,
        summary: finding.summary,
        observed_value: finding.observed_value,
        threshold: finding.threshold,
        beat_id: envelope.beat_id.clone(),
        event_at: envelope.sent_at,
        raised_at: ucx_common::now_ms(),
        customer_id: audience.customer_id.clone(),
        contract_tier: audience.contract_tier.clone(),
        notify_customer: audience.notify_customer,
        explanation: finding.explanation,
        dashboard_url: audience.dashboard_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::{Disk, HardwareInfoDisks};
    use ucx_schemas::{BeatPayload, Envelope, Region};

    use crate::rules::library::{RuleLibrary, BUILT_IN};

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
        Beat {
            envelope: Envelope {
                beat_id: beat_id.into(),
                installation_id: "inst".into(),
                node_id: "node".into(),
                region: Region::EU,
                sent_at: 1,
                received_at: 1,
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
        let findings = library.evaluate(beat, &Facts::default(), None, &mut Default::default());
        book.apply(beat, findings, &Audience::default())
    }

    fn states(book: &mut AlertBook, beat_id: &str, free: i64) -> Vec<(AlertState, Severity)> {
        run(&library(1, 1), book, &beat(beat_id, free))
            .iter()
            .map(|a| (a.state, a.severity))
            .collect()
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
}
