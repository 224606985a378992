//! Liveness: which nodes of an installation stopped sending beats, and which kinds of beat
//! stopped coming while the others flow. Every node is judged on its own beats (a cluster node
//! that goes silent is seen even while its peers list it), and each data class (fast
//! measurements, counters, daily inventory; `Category::data_class`) has its own usual cadence:
//! a node is lost when its fastest class is overdue (`heartbeat_lost`, critical), and a slower
//! class that stops while the node keeps sending is overdue on its own (`beats_overdue`, a
//! warning: an overdue inventory is noticed without a false heartbeat alarm).
//!
//! Time here is *event* time: the gateway's `received_at` of the beats, and the watermark is the
//! newest `received_at` this processor has seen. A paused pipeline (broker, processors or the
//! whole gateway down) holds the watermark still, so nobody looks silent; when beats flow again
//! the watermark moves with them and a node whose beats did not come back falls behind it.
//! Silence is only judged when the processor has caught up (nothing waiting to be consumed), so
//! a backlog read one partition ahead of another does not make the other's servers look silent.
//! The alerts themselves live in the installation's alert book, like every other: acknowledged,
//! reminded, silenced and closed the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ucx_schemas::{DataClass, Envelope, Region, Severity};

pub const RULE_ID: &str = "heartbeat_lost";
pub const OVERDUE_RULE_ID: &str = "beats_overdue";
/// The rules the processors judge themselves, outside the rule library: never retired.
pub const BUILT_IN_RULES: [&str; 2] = [RULE_ID, OVERDUE_RULE_ID];
pub const RULE_VERSION: i32 = 2;
pub const SUBJECT: &str = "heartbeat";
/// Beats of one tick arrive together (one batch, or a few requests in a row); gaps shorter
/// than this are not the cadence.
const BURST_MS: i64 = 100;
/// Weight of a new gap in the learnt cadence.
const CADENCE_WEIGHT: f64 = 0.2;
/// A slower class is overdue after this many of its usual gaps, plus the timeout.
const OVERDUE_GAPS: f64 = 2.0;
/// Gaps a class's cadence must have been learnt from before it can be overdue: the first ones
/// after a start (a backlog, a replay) say little about the usual pace.
const GAPS_BEFORE_OVERDUE: u32 = 3;
/// A node whose beats resume after a gap this many times its fastest cadence has been away:
/// its slower classes are given their usual time again before they count as overdue.
const RESUMED_AFTER_GAPS: f64 = 5.0;

pub const LOST_EXPLANATION: &str = "The server stopped sending beats: the UCX Suite telemetry \
    service, the server itself or its network may be down. Check that the server is up and can \
    reach the telemetry gateway.";
pub const OVERDUE_EXPLANATION: &str = "The server keeps sending its measurements but one kind of \
    beat stopped coming: the part of the telemetry service that collects it may have failed \
    (an inventory that no longer arrives hides upgrades and missing hotfixes). Restart the UCX \
    Suite telemetry service; if it persists, send its log to support.";

/// What the beats of one class of one node showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ClassBeats {
    last_received_at: i64,
    last_beat_id: String,
    /// The usual gap between its beats, learnt.
    cadence_ms: Option<f64>,
    /// How many gaps the cadence was learnt from.
    #[serde(default)]
    gaps: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NodeBeats {
    region: Region,
    classes: BTreeMap<DataClass, ClassBeats>,
    /// When its beats last came back after the node had been away (0: never away).
    #[serde(default)]
    resumed_at: i64,
}

impl NodeBeats {
    fn newest(&self) -> Option<i64> {
        self.classes
            .values()
            .map(|beats| beats.last_received_at)
            .max()
    }

    fn fastest_cadence(&self) -> Option<f64> {
        self.classes
            .values()
            .filter_map(|beats| beats.cadence_ms)
            .reduce(f64::min)
    }
}

/// The liveness of one installation's nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Liveness {
    nodes: BTreeMap<String, NodeBeats>,
}

impl Liveness {
    /// The region the installation's beats declared (its first node's), if any came.
    pub fn region(&self) -> Option<Region> {
        self.nodes.values().next().map(|node| node.region)
    }
}

/// A silence the watermark shows: the alert to open if none is.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub node_id: String,
    pub region: Region,
    pub rule_id: &'static str,
    pub subject: String,
    pub severity: Severity,
    /// The newest beat of what fell silent: the alert's evidence.
    pub last_beat_id: String,
    pub silent_ms: i64,
    pub allowed_ms: i64,
}

impl Silence {
    pub fn summary(&self) -> String {
        let (silent, allowed) = (minutes(self.silent_ms), minutes(self.allowed_ms));
        if self.rule_id == RULE_ID {
            format!("no beat from node {} for {silent:.1} minutes while other servers kept sending (allowed {allowed:.1})", self.node_id)
        } else {
            format!("no {} from node {} for {silent:.1} minutes while its other beats keep coming (usually every {:.1})", self.subject, self.node_id, allowed)
        }
    }
}

fn minutes(ms: i64) -> f64 {
    (ms as f64 / 6_000.0).round() / 10.0
}

/// The subject of an overdue class's alert, e.g. `inventory beats`.
pub fn overdue_subject(class: DataClass) -> String {
    format!("{} beats", class.as_str())
}

impl Liveness {
    /// Takes a beat into account.
    pub fn beat(&mut self, envelope: &Envelope, class: DataClass) {
        let node = self
            .nodes
            .entry(envelope.node_id.clone())
            .or_insert_with(|| NodeBeats {
                region: envelope.region,
                classes: BTreeMap::new(),
                resumed_at: 0,
            });
        node.region = envelope.region;
        let received_at = envelope.received_at;
        if let (Some(newest), Some(fastest)) = (node.newest(), node.fastest_cadence()) {
            if (received_at - newest) as f64 > RESUMED_AFTER_GAPS * fastest.max(BURST_MS as f64) {
                node.resumed_at = received_at;
            }
        }
        let beats = node.classes.entry(class).or_insert_with(|| ClassBeats {
            last_received_at: received_at,
            last_beat_id: envelope.beat_id.clone(),
            cadence_ms: None,
            gaps: 0,
        });
        let gap = received_at - beats.last_received_at;
        if gap >= BURST_MS {
            let gap = gap as f64;
            beats.cadence_ms = Some(match beats.cadence_ms {
                Some(cadence) => cadence + CADENCE_WEIGHT * (gap - cadence),
                None => gap,
            });
            beats.gaps = beats.gaps.saturating_add(1);
        }
        if received_at >= beats.last_received_at {
            beats.last_received_at = received_at;
            beats.last_beat_id = envelope.beat_id.clone();
        }
    }

    /// The newest `received_at` of any beat.
    pub fn newest(&self) -> Option<i64> {
        self.nodes
            .values()
            .flat_map(|node| node.classes.values())
            .map(|beats| beats.last_received_at)
            .max()
    }

    /// The silences at `watermark`: a node whose beats all stopped for longer than its fastest
    /// class's cadence plus `timeout_ms`, and a slower class of a node still sending that
    /// stopped for longer than `OVERDUE_GAPS` of its cadence plus `timeout_ms`.
    pub fn silences(&self, watermark: i64, timeout_ms: i64) -> Vec<Silence> {
        let mut silences = Vec::new();
        for (node_id, node) in &self.nodes {
            let Some((newest_class, newest)) = node
                .classes
                .iter()
                .max_by_key(|(_, beats)| beats.last_received_at)
            else {
                continue;
            };
            let fastest = node
                .classes
                .values()
                .filter_map(|beats| beats.cadence_ms)
                .fold(f64::INFINITY, f64::min);
            let fastest = if fastest.is_finite() { fastest } else { 0.0 };
            let allowed = fastest as i64 + timeout_ms;
            let silent = watermark - newest.last_received_at;
            if silent > allowed {
                silences.push(Silence {
                    node_id: node_id.clone(),
                    region: node.region,
                    rule_id: RULE_ID,
                    subject: SUBJECT.into(),
                    severity: Severity::Critical,
                    last_beat_id: newest.last_beat_id.clone(),
                    silent_ms: silent,
                    allowed_ms: allowed,
                });
                continue;
            }
            for (class, beats) in &node.classes {
                let Some(cadence) = beats.cadence_ms else {
                    continue;
                };
                if class == newest_class || cadence <= fastest || beats.gaps < GAPS_BEFORE_OVERDUE {
                    continue;
                }
                let allowed = (cadence * OVERDUE_GAPS) as i64 + timeout_ms;
                // a node back from an absence sends its slower beats at their own pace again
                let silent = watermark - beats.last_received_at.max(node.resumed_at);
                if silent > allowed {
                    silences.push(Silence {
                        node_id: node_id.clone(),
                        region: node.region,
                        rule_id: OVERDUE_RULE_ID,
                        subject: overdue_subject(*class),
                        severity: Severity::Warning,
                        last_beat_id: beats.last_beat_id.clone(),
                        silent_ms: silent,
                        allowed_ms: cadence as i64,
                    });
                }
            }
        }
        silences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(node: &str, beat_id: &str, received_at: i64) -> Envelope {
        Envelope {
            beat_id: beat_id.into(),
            installation_id: "inst".into(),
            node_id: node.into(),
            region: Region::EU,
            sent_at: received_at,
            received_at,
            source_ip: None,
        }
    }

    #[test]
    fn a_silent_node_is_lost_while_its_peer_sends() {
        let mut liveness = Liveness::default();
        for tick in 0..5 {
            let at = tick * 60_000;
            liveness.beat(&envelope("node-1", "a", at), DataClass::Measurements);
            liveness.beat(&envelope("node-1", "b", at + 50), DataClass::Measurements);
            if tick < 2 {
                liveness.beat(&envelope("node-2", "c", at), DataClass::Measurements);
            }
        }
        // cadence ≈ 60 s (the 50 ms burst gap is not counted): allowed 60 s + 30 s
        let silences = liveness.silences(4 * 60_000, 30_000);
        assert_eq!(silences.len(), 1, "{silences:?}");
        assert_eq!(
            (silences[0].node_id.as_str(), silences[0].rule_id),
            ("node-2", RULE_ID)
        );
        assert_eq!(silences[0].silent_ms, 3 * 60_000);
        assert!(liveness.silences(4 * 60_000 + 50, 30_000).len() == 1);
    }

    #[test]
    fn a_node_back_from_a_silence_gets_its_usual_time_for_its_inventory() {
        let mut liveness = Liveness::default();
        for minute in 0..=60 {
            let at = minute * 60_000;
            liveness.beat(&envelope("node-1", "m", at), DataClass::Measurements);
            if minute % 15 == 0 {
                liveness.beat(&envelope("node-1", "i", at + 10), DataClass::Inventory);
            }
        }
        // away from minute 61 to 120, then measurements again; the inventory comes at its pace
        for minute in 120..=140 {
            liveness.beat(
                &envelope("node-1", "m", minute * 60_000),
                DataClass::Measurements,
            );
        }
        assert!(
            liveness.silences(140 * 60_000, 60_000).is_empty(),
            "twenty minutes after its return: not overdue yet"
        );
        for minute in 141..=155 {
            liveness.beat(
                &envelope("node-1", "m", minute * 60_000),
                DataClass::Measurements,
            );
        }
        assert_eq!(liveness.silences(155 * 60_000, 60_000).len(), 1);
    }

    #[test]
    fn an_overdue_inventory_is_noticed_while_measurements_flow() {
        let mut liveness = Liveness::default();
        for minute in 0..=90 {
            let at = minute * 60_000;
            liveness.beat(&envelope("node-1", "m", at), DataClass::Measurements);
            if minute % 15 == 0 && minute <= 45 {
                liveness.beat(&envelope("node-1", "i", at + 10), DataClass::Inventory);
            }
        }
        // inventory every 15 minutes, last at minute 45: overdue after 2 × 15 + 1 minutes
        assert!(liveness.silences(75 * 60_000, 60_000).is_empty());
        let silences = liveness.silences(90 * 60_000, 60_000);
        assert_eq!(silences.len(), 1, "{silences:?}");
        assert_eq!(silences[0].rule_id, OVERDUE_RULE_ID);
        assert_eq!(silences[0].subject, "inventory beats");
        assert_eq!(silences[0].severity, Severity::Warning);
    }
}
