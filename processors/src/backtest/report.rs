//! The backtest's report: per rule and tier what each library opened, resolved and would have
//! mailed, how their findings differ, the customers who would have been mailed, the rules that
//! never fired and, given the simulator's labels, precision and recall of each library. Read as
//! a table, as JSON, or as rows of ClickHouse `backtest_results` (the alerts dashboard's
//! "Backtests" panel).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;
use ucx_simulator::faults::Fault;
use ucx_simulator::labels::RunInfo;
use ucx_simulator::quality::{self, OpenedAlert};
use ucx_tables::event_tables::BacktestRow;

use super::episodes::{compare, episodes, Compared, Difference, Episode};
use super::Outcomes;
use crate::alert_book::SHADOW;

/// What one library did to the alerts of one rule and tier within the window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub opened: u32,
    pub resolved: u32,
    /// Alert changes the customer would have been e-mailed about (before the notifier's storm
    /// control, digests and incident grouping, which may merge them).
    pub mails: u32,
}

impl Counts {
    fn add(&mut self, episode: &Episode) {
        self.opened += u32::from(episode.opened_at.is_some());
        self.resolved += u32::from(episode.resolved_at.is_some());
        self.mails += episode.mails;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleLine {
    pub rule_id: String,
    /// BASIC, GOLD, PLATINUM ('' for installations of no known customer).
    pub contract_tier: String,
    pub in_force: Counts,
    pub candidate: Counts,
    /// How many findings compared how ([`Difference`]).
    pub differences: BTreeMap<Difference, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerLine {
    pub customer_id: String,
    pub contract_tier: String,
    pub mails_in_force: u32,
    pub mails_candidate: u32,
}

/// Precision and recall of one library against the simulator's labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quality {
    pub alerts: usize,
    pub true_alerts: usize,
    pub precision: Option<f64>,
    pub faults: usize,
    pub detected: usize,
    pub recall: Option<f64>,
    /// Median simulated minutes from a fault's start to its first alert.
    pub median_minutes_to_detect: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub from_ms: i64,
    pub to_ms: i64,
    pub in_force_version: u32,
    pub candidate_version: u32,
    pub installations: usize,
    pub beats: u64,
    pub seconds: f64,
    pub rules: Vec<RuleLine>,
    pub customers: Vec<CustomerLine>,
    /// Live rules of the candidate that opened nothing in the window.
    pub never_fired: Vec<String>,
    /// Every finding whose difference is not `same`.
    pub findings: Vec<Compared>,
    /// How many findings compared how, all rules together.
    pub differences: BTreeMap<Difference, u32>,
    /// `[in force, candidate]`, when labels were given.
    pub quality: Option<[Quality; 2]>,
}

impl Report {
    pub fn new(outcomes: &Outcomes, from_ms: i64, to_ms: i64, seconds: f64) -> Self {
        let in_force = episodes(&outcomes.in_force);
        let candidate = episodes(&outcomes.candidate);
        let compared = compare(&in_force, &candidate);
        let mut rules: BTreeMap<(String, String), RuleLine> = BTreeMap::new();
        fn line<'a>(
            rules: &'a mut BTreeMap<(String, String), RuleLine>,
            episode: &Episode,
        ) -> &'a mut RuleLine {
            rules
                .entry((episode.rule_id.clone(), episode.contract_tier.clone()))
                .or_insert_with(|| RuleLine {
                    rule_id: episode.rule_id.clone(),
                    contract_tier: episode.contract_tier.clone(),
                    in_force: Counts::default(),
                    candidate: Counts::default(),
                    differences: BTreeMap::new(),
                })
        }
        for episode in &in_force {
            line(&mut rules, episode).in_force.add(episode);
        }
        for episode in &candidate {
            line(&mut rules, episode).candidate.add(episode);
        }
        let mut differences = BTreeMap::new();
        for finding in &compared {
            *line(&mut rules, finding.episode())
                .differences
                .entry(finding.difference)
                .or_default() += 1;
            *differences.entry(finding.difference).or_default() += 1;
        }
        let mut customers: BTreeMap<String, CustomerLine> = BTreeMap::new();
        for (episodes, candidate_side) in [(&in_force, false), (&candidate, true)] {
            for episode in episodes.iter().filter(|e| e.mails > 0) {
                let line = customers
                    .entry(episode.customer_id.clone())
                    .or_insert_with(|| CustomerLine {
                        customer_id: episode.customer_id.clone(),
                        contract_tier: episode.contract_tier.clone(),
                        mails_in_force: 0,
                        mails_candidate: 0,
                    });
                if candidate_side {
                    line.mails_candidate += episode.mails;
                } else {
                    line.mails_in_force += episode.mails;
                }
            }
        }
        let fired: BTreeSet<&str> = candidate
            .iter()
            .filter(|e| e.opened_at.is_some())
            .map(|e| e.rule_id.as_str())
            .collect();
        let never_fired: BTreeSet<String> = outcomes
            .candidate_library
            .rules
            .iter()
            .filter(|rule| !fired.contains(rule.id.as_str()))
            .map(|rule| rule.id.clone())
            .collect();
        let mut findings: Vec<Compared> = compared
            .into_iter()
            .filter(|c| c.difference != Difference::Same)
            .collect();
        findings.sort_by(|a, b| {
            let key = |c: &Compared| {
                let e = c.episode();
                (
                    c.difference,
                    e.rule_id.clone(),
                    e.installation_id.clone(),
                    e.node_id.clone(),
                    e.subject.clone(),
                    e.opened_at,
                )
            };
            key(a).cmp(&key(b))
        });
        Report {
            from_ms,
            to_ms,
            in_force_version: outcomes.in_force_library.library_version,
            candidate_version: outcomes.candidate_library.library_version,
            installations: outcomes.beats.len(),
            beats: outcomes.beats.values().sum(),
            seconds,
            rules: rules.into_values().collect(),
            customers: customers.into_values().collect(),
            never_fired: never_fired.into_iter().collect(),
            findings,
            differences,
            quality: None,
        }
    }

    /// Adds precision and recall of both libraries against the simulator's labels.
    /// Faults that only heartbeat loss can see are left out: silence is judged between beats,
    /// which a backtest does not replay.
    pub fn with_labels(mut self, outcomes: &Outcomes, run: &RunInfo, faults: &[Fault]) -> Self {
        let silence = |rule: &String| crate::heartbeat::BUILT_IN_RULES.contains(&rule.as_str());
        let faults: Vec<Fault> = faults
            .iter()
            .cloned()
            .map(|mut fault| {
                fault.detected_by.retain(|rule| !silence(rule));
                fault
            })
            .filter(|fault| !fault.detected_by.is_empty())
            .collect();
        let faults = &faults;
        let judge = |alerts: &[ucx_schemas::Alert]| {
            let opened = opened_alerts(&episodes(alerts));
            let report = quality::evaluate(run, faults, &opened);
            let all: Vec<f64> = report
                .fault_kinds
                .values()
                .flat_map(|kind| kind.minutes_to_detect.iter().copied())
                .collect();
            let mut sorted = all;
            sorted.sort_by(f64::total_cmp);
            Quality {
                alerts: report.alerts,
                true_alerts: report.true_alerts,
                precision: report.precision,
                faults: report.faults,
                detected: report.detected,
                recall: report.recall,
                median_minutes_to_detect: sorted.get(sorted.len() / 2).copied(),
            }
        };
        self.quality = Some([judge(&outcomes.in_force), judge(&outcomes.candidate)]);
        self
    }

    /// Throughput of the replay.
    pub fn beats_per_second(&self) -> f64 {
        self.beats as f64 / self.seconds.max(1e-9)
    }

    /// The report as the table `ucx-backtest` prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "backtest {} → {} UTC: {} beats of {} installations replayed in {:.1} s ({:.0} beats/s)",
            utc(self.from_ms),
            utc(self.to_ms),
            self.beats,
            self.installations,
            self.seconds,
            self.beats_per_second()
        );
        let _ = writeln!(
            out,
            "library in force: version {}; candidate: version {}\n",
            self.in_force_version, self.candidate_version
        );
        let _ = writeln!(
            out,
            "{:<32} {:<9} {:>15} {:>15} {:>15}  differences",
            "rule", "tier", "opened now→cand", "resolved", "mails"
        );
        for line in &self.rules {
            let pair = |a: u32, b: u32| format!("{a} → {b}");
            let differences: Vec<String> = line
                .differences
                .iter()
                .filter(|(kind, _)| **kind != Difference::Same)
                .map(|(kind, count)| format!("{count} {}", kind.as_str()))
                .collect();
            let _ = writeln!(
                out,
                "{:<32} {:<9} {:>15} {:>15} {:>15}  {}",
                line.rule_id,
                if line.contract_tier.is_empty() {
                    "-"
                } else {
                    &line.contract_tier
                },
                pair(line.in_force.opened, line.candidate.opened),
                pair(line.in_force.resolved, line.candidate.resolved),
                pair(line.in_force.mails, line.candidate.mails),
                if differences.is_empty() {
                    "none".to_string()
                } else {
                    differences.join(", ")
                }
            );
        }
        let total: Vec<String> = self
            .differences
            .iter()
            .map(|(kind, count)| format!("{count} {}", kind.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "\nfindings compared: {}",
            if total.is_empty() {
                "none".into()
            } else {
                total.join(", ")
            }
        );
        for finding in self.findings.iter().take(40) {
            let episode = finding.episode();
            let when = |e: &Option<Episode>| {
                e.as_ref()
                    .and_then(|e| e.opened_at)
                    .map_or("-".to_string(), utc)
            };
            let _ = writeln!(
                out,
                "  {:<18} {} {} {} {}: opened {} now, {} with the candidate",
                finding.difference.as_str(),
                episode.rule_id,
                episode.installation_id,
                episode.node_id,
                episode.subject,
                when(&finding.in_force),
                when(&finding.candidate)
            );
        }
        if self.findings.len() > 40 {
            let _ = writeln!(
                out,
                "  … {} more in the JSON report",
                self.findings.len() - 40
            );
        }
        let _ = writeln!(
            out,
            "\ncustomers who would be mailed (alert changes, now → candidate):"
        );
        if self.customers.is_empty() {
            let _ = writeln!(out, "  none");
        }
        for customer in &self.customers {
            let _ = writeln!(
                out,
                "  {:<24} {:<9} {} → {}",
                customer.customer_id,
                customer.contract_tier,
                customer.mails_in_force,
                customer.mails_candidate
            );
        }
        let _ = writeln!(
            out,
            "\nrules of the candidate that never fired: {}",
            if self.never_fired.is_empty() {
                "none".into()
            } else {
                self.never_fired.join(", ")
            }
        );
        if let Some([now, candidate]) = &self.quality {
            let percent = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v));
            let _ = writeln!(out, "\nagainst the labels:");
            for (name, quality) in [("in force", now), ("candidate", candidate)] {
                let _ = writeln!(
                    out,
                    "  {name:<10} precision {} ({} of {} alerts true), recall {} ({} of {} faults), median {} min to detect",
                    percent(quality.precision),
                    quality.true_alerts,
                    quality.alerts,
                    percent(quality.recall),
                    quality.detected,
                    quality.faults,
                    quality.median_minutes_to_detect.map_or("-".into(), |m| format!("{m:.0}"))
                );
            }
        }
        out
    }

    /// One `backtest_results` row per rule and tier.
    pub fn rows(&self, run_id: &str, run_at_ms: i64, rules_file: &str) -> Vec<BacktestRow> {
        let seconds = |ms: i64| ucx_tables::columns::Seconds((ms.max(0) / 1000) as u32);
        let count = |line: &RuleLine, kind| line.differences.get(&kind).copied().unwrap_or(0);
        self.rules
            .iter()
            .map(|line| BacktestRow {
                run_id: run_id.to_string(),
                run_at: seconds(run_at_ms),
                window_from: seconds(self.from_ms),
                window_to: seconds(self.to_ms),
                rules_file: rules_file.to_string(),
                in_force_version: self.in_force_version,
                candidate_version: self.candidate_version,
                rule_id: line.rule_id.clone(),
                contract_tier: line.contract_tier.clone(),
                opened_in_force: line.in_force.opened,
                opened_candidate: line.candidate.opened,
                resolved_in_force: line.in_force.resolved,
                resolved_candidate: line.candidate.resolved,
                mails_in_force: line.in_force.mails,
                mails_candidate: line.candidate.mails,
                new: count(line, Difference::New),
                gone: count(line, Difference::Gone),
                earlier: count(line, Difference::Earlier),
                later: count(line, Difference::Later),
                resolved_otherwise: count(line, Difference::ResolvedOtherwise),
            })
            .collect()
    }
}

/// The openings of live episodes, as the detection-quality report reads them.
fn opened_alerts(episodes: &[Episode]) -> Vec<OpenedAlert> {
    episodes
        .iter()
        .filter(|e| e.suppressed_by != SHADOW)
        .filter_map(|e| {
            Some(OpenedAlert {
                installation_id: e.installation_id.clone(),
                rule_id: e.rule_id.clone(),
                subject: e.subject.clone(),
                opened_at: u32::try_from(e.opened_at? / 1000).ok()?,
            })
        })
        .collect()
}

/// `2026-11-30 12:00` (UTC).
pub fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_else(|_| ms.to_string())
}
