//! The detection-quality report: the alerts the pipeline raised (ClickHouse `alerts`) against the
//! faults the simulator injected (the label file). An alert is *true* when its installation
//! had a fault that the alert's rule is meant to see, opened between the fault's start and its
//! end plus a grace period; every other alert of the fleet is *false*. A fault is *detected*
//! by a rule when a true alert of that rule matches it; time to detect is from the fault's
//! start to that alert's opening, in simulated time.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::faults::Fault;
use crate::labels::RunInfo;

/// Alerts opened this long after a fault ended still belong to it (a rule that needs a few
/// beats, a cluster beat that comes every quarter of an hour).
const GRACE_MS: i64 = 30 * 60_000;
/// Heartbeat loss is judged on the gateway's clock, not on `sent_at`.
const WALL_CLOCK_RULES: [&str; 1] = ["heartbeat_lost"];

#[derive(Debug, Clone, Row, Deserialize)]
pub struct OpenedAlert {
    pub installation_id: String,
    pub rule_id: String,
    pub subject: String,
    /// When it opened (event time), UTC seconds.
    pub opened_at: u32,
}

/// Reads the alerts the fleet's installations opened since the run started.
pub async fn opened_alerts(
    client: &clickhouse::Client,
    run: &RunInfo,
) -> Result<Vec<OpenedAlert>, clickhouse::error::Error> {
    client
        .query(
            "SELECT installation_id, rule_id, subject, \
                    toUInt32(min(event_at)) AS opened_at \
             FROM alerts \
             WHERE state = 'OPEN' AND suppressed_by != 'shadow' AND has(?, installation_id) AND event_at >= toDateTime(?) \
             GROUP BY alert_id, installation_id, rule_id, subject \
             ORDER BY opened_at",
        )
        .bind(&run.installations)
        .bind(run.sim_start_ms / 1000)
        .fetch_all()
        .await
}

#[derive(Debug, Default, Serialize)]
pub struct RuleQuality {
    pub alerts: usize,
    pub true_alerts: usize,
    pub precision: Option<f64>,
    /// Faults this rule should detect, and how many it did.
    pub faults: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Simulated minutes from a fault's start to this rule's first alert about it.
    pub minutes_to_detect: Vec<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct KindQuality {
    pub injected: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Simulated minutes to the first alert of any of its rules.
    pub minutes_to_detect: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub installations: usize,
    pub faults: usize,
    pub alerts: usize,
    pub true_alerts: usize,
    pub precision: Option<f64>,
    pub detected: usize,
    pub recall: Option<f64>,
    pub rules: BTreeMap<String, RuleQuality>,
    pub fault_kinds: BTreeMap<String, KindQuality>,
    /// Alerts that match no fault: (installation, rule, subject).
    pub false_alerts: Vec<(String, String, String)>,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Simulated minutes from the fault's start to `alert`'s opening, when the alert belongs to it.
fn minutes_after(fault: &Fault, alert: &OpenedAlert) -> Option<f64> {
    if alert.installation_id != fault.installation_id
        || !(fault.detected_by.contains(&alert.rule_id) || fault.also_by.contains(&alert.rule_id))
    {
        return None;
    }
    let opened_ms = i64::from(alert.opened_at) * 1000;
    let (start, end, scale) = if WALL_CLOCK_RULES.contains(&alert.rule_id.as_str()) {
        let speed = fault.speed.max(1.0);
        let end = fault
            .ended_at
            .map(|end| fault.started_at_wall + ((end - fault.started_at) as f64 / speed) as i64);
        (fault.started_at_wall, end, speed)
    } else {
        (fault.started_at, fault.ended_at, 1.0)
    };
    // Event times are whole seconds: an alert in the fault's first second counts.
    let in_window = opened_ms >= start / 1000 * 1000
        && end.is_none_or(|end| opened_ms <= end + (GRACE_MS as f64 / scale) as i64);
    in_window.then(|| ((opened_ms - start).max(0) as f64 * scale) / 60_000.0)
}

pub fn evaluate(run: &RunInfo, faults: &[Fault], alerts: &[OpenedAlert]) -> Report {
    let mut rules: BTreeMap<String, RuleQuality> = BTreeMap::new();
    let mut kinds: BTreeMap<String, KindQuality> = BTreeMap::new();
    let mut false_alerts = Vec::new();
    let mut true_alerts = 0;
    for alert in alerts {
        let quality = rules.entry(alert.rule_id.clone()).or_default();
        quality.alerts += 1;
        if faults
            .iter()
            .any(|fault| minutes_after(fault, alert).is_some())
        {
            quality.true_alerts += 1;
            true_alerts += 1;
        } else {
            false_alerts.push((
                alert.installation_id.clone(),
                alert.rule_id.clone(),
                alert.subject.clone(),
            ));
        }
    }
    let mut detected = 0;
    for fault in faults {
        let kind = kinds.entry(fault.kind.name().to_string()).or_default();
        kind.injected += 1;
        let mut first: Option<f64> = None;
        for rule in &fault.detected_by {
            let quality = rules.entry(rule.clone()).or_default();
            quality.faults += 1;
            let earliest = alerts
                .iter()
                .filter(|alert| &alert.rule_id == rule)
                .filter_map(|alert| minutes_after(fault, alert))
                .min_by(f64::total_cmp);
            if let Some(minutes) = earliest {
                quality.detected += 1;
                quality.minutes_to_detect.push(minutes);
                first = Some(first.map_or(minutes, |m| m.min(minutes)));
            }
        }
        if let Some(minutes) = first {
            kind.detected += 1;
            kind.minutes_to_detect.push(minutes);
            detected += 1;
        }
    }
    for quality in rules.values_mut() {
        quality.precision = ratio(quality.true_alerts, quality.alerts);
        quality.recall = ratio(quality.detected, quality.faults);
        quality.minutes_to_detect.sort_by(f64::total_cmp);
    }
    for quality in kinds.values_mut() {
        quality.recall = ratio(quality.detected, quality.injected);
        quality.minutes_to_detect.sort_by(f64::total_cmp);
    }
    Report {
        installations: run.installations.len(),
        faults: faults.len(),
        alerts: alerts.len(),
        true_alerts,
        precision: ratio(true_alerts, alerts.len()),
        detected,
        recall: ratio(detected, faults.len()),
        rules,
        fault_kinds: kinds,
        false_alerts,
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v))
}

/// Median and maximum of sorted minutes.
fn spread(minutes: &[f64]) -> (String, String) {
    match minutes {
        [] => ("-".into(), "-".into()),
        _ => (
            format!("{:.0}", minutes[minutes.len() / 2]),
            format!("{:.0}", minutes[minutes.len() - 1]),
        ),
    }
}

impl Report {
    pub fn render(&self, run: &RunInfo) -> String {
        let mut out = String::new();
        let hours_note = format!(
            "{} installations, {} faults injected, {} alerts opened; simulated time ran {}× faster than real time",
            self.installations, self.faults, self.alerts, run.speed
        );
        out.push_str(&format!("Detection quality: {hours_note}\n\n"));
        out.push_str(&format!(
            "{:<30} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
            "fault", "injected", "detected", "recall", "ttd p50", "ttd max"
        ));
        for (kind, quality) in &self.fault_kinds {
            let (p50, max) = spread(&quality.minutes_to_detect);
            out.push_str(&format!(
                "{:<30} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
                kind,
                quality.injected,
                quality.detected,
                percent(quality.recall),
                p50,
                max
            ));
        }
        out.push_str(&format!(
            "\n{:<30} {:>6} {:>5} {:>9} {:>6} {:>8} {:>7} {:>9} {:>9}\n",
            "rule",
            "alerts",
            "true",
            "precision",
            "faults",
            "detected",
            "recall",
            "ttd p50",
            "ttd max"
        ));
        for (rule, quality) in &self.rules {
            let (p50, max) = spread(&quality.minutes_to_detect);
            out.push_str(&format!(
                "{:<30} {:>6} {:>5} {:>9} {:>6} {:>8} {:>7} {:>9} {:>9}\n",
                rule,
                quality.alerts,
                quality.true_alerts,
                percent(quality.precision),
                quality.faults,
                quality.detected,
                percent(quality.recall),
                p50,
                max
            ));
        }
        out.push_str(&format!(
            "\noverall: precision {} ({} of {} alerts true), recall {} ({} of {} faults detected)\n\
             time to detect (ttd) in simulated minutes from the fault's start; heartbeat_lost is judged\n\
             on the gateway's clock and scaled by the run's speed\n",
            percent(self.precision),
            self.true_alerts,
            self.alerts,
            percent(self.recall),
            self.detected,
            self.faults
        ));
        if !self.false_alerts.is_empty() {
            out.push_str("\nalerts that match no injected fault:\n");
            for (installation, rule, subject) in self.false_alerts.iter().take(20) {
                out.push_str(&format!("  {installation} {rule} {subject}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{schedule, FaultKind, Target};

    fn alert(installation: &str, rule: &str, opened_ms: i64) -> OpenedAlert {
        OpenedAlert {
            installation_id: installation.into(),
            rule_id: rule.into(),
            subject: "s".into(),
            opened_at: (opened_ms / 1000) as u32,
        }
    }

    #[test]
    fn alerts_within_a_faults_window_are_true_and_others_false() {
        let targets = [
            Target {
                installation_id: "a",
                customer_id: "c",
                nodes: 1,
            },
            Target {
                installation_id: "b",
                customer_id: "c",
                nodes: 1,
            },
        ];
        let hour = 3_600_000;
        let mut faults = schedule(&targets, 1.0, 10 * hour, 20 * hour, 1);
        assert_eq!(faults[0].kind, FaultKind::ServiceStopped);
        assert_eq!(faults[1].kind, FaultKind::FirewallOff);
        faults[1].started_at_wall = 1;
        let stopped = faults[0].started_at;
        let run = RunInfo {
            installations: vec!["a".into(), "b".into(), "c".into()],
            sim_start_ms: 0,
            speed: 60.0,
            tick_s: 60,
        };
        let alerts = [
            alert("a", "required_service_stopped", stopped + 120_000), // 2 minutes in
            alert("a", "required_service_stopped", stopped + 3 * hour), // long after it ended
            alert("b", "required_service_stopped", stopped),           // wrong installation
            alert("c", "disk_free_low", stopped),                      // no fault at all
        ];
        let report = evaluate(&run, &faults, &alerts);
        assert_eq!(
            (
                report.alerts,
                report.true_alerts,
                report.faults,
                report.detected
            ),
            (4, 1, 2, 1)
        );
        let rule = &report.rules["required_service_stopped"];
        assert_eq!(
            (rule.alerts, rule.true_alerts, rule.faults, rule.detected),
            (3, 1, 1, 1)
        );
        assert_eq!(rule.minutes_to_detect, vec![2.0]);
        assert_eq!(report.rules["firewall_disabled"].recall, Some(0.0));
        assert_eq!(report.fault_kinds["firewall_off"].detected, 0);
        assert_eq!(report.false_alerts.len(), 3);
        let text = report.render(&run);
        assert!(
            text.contains("recall 50% (1 of 2 faults detected)"),
            "{text}"
        );
    }

    #[test]
    fn heartbeat_loss_is_timed_on_the_wall_clock_and_scaled() {
        let targets = [Target {
            installation_id: "a",
            customer_id: "c",
            nodes: 1,
        }];
        let mut fault = schedule(&targets, 1.0, 0, 3_600_000 * 4, 1)[0].clone();
        fault.kind = FaultKind::ServerSilent;
        fault.detected_by = vec!["heartbeat_lost".into()];
        fault.started_at_wall = 1_800_000_000_000;
        fault.speed = 120.0;
        // Six real seconds after the wall-clock start: twelve simulated minutes.
        let minutes = minutes_after(&fault, &alert("a", "heartbeat_lost", 1_800_000_006_000));
        assert_eq!(minutes, Some(12.0));
        assert_eq!(
            minutes_after(&fault, &alert("a", "heartbeat_lost", 1_799_999_990_000)),
            None
        );
    }
}
