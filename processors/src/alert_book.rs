//! The alert lifecycle: one open alert per (installation, node, rule, subject); a finding that
//! turns bad opens it, a change of severity re-announces it, a healthy finding resolves it.

use std::collections::HashMap;

use ucx_schemas::{Alert, AlertState, Beat, Severity};

use crate::rules::Finding;

type AlertKey = (String, String, &'static str, String);

struct OpenAlert {
    alert_id: String,
    severity: Severity,
}

#[derive(Default)]
pub struct AlertBook {
    open: HashMap<AlertKey, OpenAlert>,
}

impl AlertBook {
    /// The alert state changes that `findings` (all from `beat`) cause.
    pub fn apply(&mut self, beat: &Beat, findings: Vec<Finding>) -> Vec<Alert> {
        let mut changes = Vec::new();
        for finding in findings {
            let key: AlertKey = (
                beat.envelope.installation_id.clone(),
                beat.envelope.node_id.clone(),
                finding.rule_id,
                finding.subject.clone(),
            );
            let change = match (finding.severity, self.open.get(&key)) {
                // Already open at this severity: nothing new to say.
                (Some(severity), Some(open)) if open.severity == severity => None,
                // Opens, or changes severity under the same id.
                (Some(severity), open) => {
                    let alert_id = match open {
                        Some(open) => open.alert_id.clone(),
                        None => alert_id(&key, &beat.envelope.beat_id),
                    };
                    let record = OpenAlert {
                        alert_id: alert_id.clone(),
                        severity,
                    };
                    self.open.insert(key, record);
                    Some((alert_id, severity, AlertState::Open))
                }
                (None, Some(_)) => {
                    let open = self.open.remove(&key).expect("present");
                    Some((open.alert_id, open.severity, AlertState::Resolved))
                }
                (None, None) => None,
            };
            if let Some((alert_id, severity, state)) = change {
                changes.push(to_alert(beat, finding, alert_id, severity, state));
            }
        }
        changes
    }
}

/// Deterministic, so that re-evaluating the same beat after a crash yields the same id.
fn alert_id(key: &AlertKey, opening_beat_id: &str) -> String {
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
) -> Alert {
    let envelope = &beat.envelope;
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
        summary: finding.summary,
        observed_value: finding.observed_value,
        threshold: finding.threshold,
        beat_id: envelope.beat_id.clone(),
        event_at: envelope.sent_at,
        raised_at: ucx_common::now_ms(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::{Disk, HardwareInfoDisks};
    use ucx_schemas::{BeatPayload, Envelope, Region};

    use crate::rules::disk_free::DiskFreeRule;

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

    fn states(book: &mut AlertBook, beat_id: &str, free: i64) -> Vec<(AlertState, Severity)> {
        let beat = beat(beat_id, free);
        let findings = DiskFreeRule::new(15.0, 5.0).evaluate(&beat);
        book.apply(&beat, findings)
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
        let rule = DiskFreeRule::new(15.0, 5.0);
        let ids: Vec<String> = [("1", 10), ("2", 3), ("3", 60), ("4", 10)]
            .iter()
            .flat_map(|(id, free)| {
                let beat = beat(id, *free);
                book.apply(&beat, rule.evaluate(&beat))
            })
            .map(|alert| alert.alert_id)
            .collect();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(ids[0], ids[2]);
        assert_ne!(ids[0], ids[3], "a new episode gets a new id");
    }
}
