//! Alert changes folded into episodes (one alert id: opened, perhaps escalated, perhaps resolved)
//! and the episodes of two libraries matched: the same subject's episodes that overlap in time
//! are one finding seen by both, opened earlier, later or at the same moment; the others are new
//! (the candidate only) or gone (the library in force only).

use serde::Serialize;
use ucx_schemas::{Alert, AlertState, Severity};

/// One alert episode within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Episode {
    pub alert_id: String,
    pub installation_id: String,
    pub node_id: String,
    pub rule_id: String,
    pub rule_version: i32,
    pub subject: String,
    pub customer_id: String,
    pub contract_tier: String,
    /// Event time of the opening, UTC ms; `None` when it opened before the window.
    pub opened_at: Option<i64>,
    /// Event time of the resolution, UTC ms; `None` while still open at the window's end.
    pub resolved_at: Option<i64>,
    pub worst: Severity,
    /// Changes of it the customer would have been told of (Proactive Support, not suppressed).
    pub mails: u32,
    /// `shadow`, a silence or a maintenance window ('' when none).
    pub suppressed_by: String,
}

impl Episode {
    fn start(&self) -> i64 {
        self.opened_at.unwrap_or(i64::MIN)
    }

    fn end(&self) -> i64 {
        self.resolved_at.unwrap_or(i64::MAX)
    }

    fn same_subject(&self, other: &Episode) -> bool {
        (
            &self.installation_id,
            &self.node_id,
            &self.rule_id,
            &self.subject,
        ) == (
            &other.installation_id,
            &other.node_id,
            &other.rule_id,
            &other.subject,
        )
    }
}

/// The episodes of alert changes, in the order they first appear. Reminders and
/// acknowledgements are no part of a backtest (see the module doc of `backtest`).
pub fn episodes(alerts: &[Alert]) -> Vec<Episode> {
    let mut episodes: Vec<Episode> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = Default::default();
    for alert in alerts {
        let position = *index.entry(&alert.alert_id).or_insert_with(|| {
            episodes.push(Episode {
                alert_id: alert.alert_id.clone(),
                installation_id: alert.installation_id.clone(),
                node_id: alert.node_id.clone(),
                rule_id: alert.rule_id.clone(),
                rule_version: alert.rule_version,
                subject: alert.subject.clone(),
                customer_id: alert.customer_id.clone(),
                contract_tier: alert.contract_tier.clone(),
                opened_at: None,
                resolved_at: None,
                worst: alert.severity,
                mails: 0,
                suppressed_by: alert.suppressed_by.clone(),
            });
            episodes.len() - 1
        });
        let episode = &mut episodes[position];
        match alert.state {
            AlertState::Open => {
                // an escalation is an OPEN of the same id: the first one opened it
                if episode.opened_at.is_none() && episode.resolved_at.is_none() {
                    episode.opened_at = Some(alert.event_at);
                }
                // an episode going on after resolving (the reopen window) is open again
                episode.resolved_at = None;
            }
            AlertState::Resolved => episode.resolved_at = Some(alert.event_at),
            AlertState::Reminder | AlertState::Acknowledged => continue,
        }
        if alert.severity == Severity::Critical {
            episode.worst = Severity::Critical;
        }
        episode.rule_version = alert.rule_version;
        if alert.reaches_customer() {
            episode.mails += 1;
        }
    }
    episodes
}

/// How the candidate's view of a finding differs from the library in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// The same alert, opened and resolved at the same times.
    Same,
    /// Opened earlier with the candidate.
    Earlier,
    /// Opened later with the candidate.
    Later,
    /// Opened at the same time, resolved at another.
    ResolvedOtherwise,
    /// Only the candidate raises it.
    New,
    /// Only the library in force raises it.
    Gone,
}

impl Difference {
    pub fn as_str(self) -> &'static str {
        match self {
            Difference::Same => "same",
            Difference::Earlier => "earlier",
            Difference::Later => "later",
            Difference::ResolvedOtherwise => "resolved_otherwise",
            Difference::New => "new",
            Difference::Gone => "gone",
        }
    }
}

/// One finding compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compared {
    pub difference: Difference,
    pub in_force: Option<Episode>,
    pub candidate: Option<Episode>,
    /// Candidate opening minus in-force opening, seconds (earlier is negative).
    pub shift_s: Option<i64>,
}

impl Compared {
    /// The episode that names the finding (the candidate's when both have it).
    pub fn episode(&self) -> &Episode {
        self.candidate
            .as_ref()
            .or(self.in_force.as_ref())
            .expect("a comparison has at least one side")
    }
}

/// Matches the candidate's episodes with those of the library in force.
pub fn compare(in_force: &[Episode], candidate: &[Episode]) -> Vec<Compared> {
    let mut taken = vec![false; in_force.len()];
    let mut compared = Vec::new();
    for episode in candidate {
        let partner = in_force.iter().enumerate().position(|(index, other)| {
            !taken[index]
                && other.same_subject(episode)
                && other.start() <= episode.end()
                && episode.start() <= other.end()
        });
        let Some(partner) = partner else {
            compared.push(Compared {
                difference: Difference::New,
                in_force: None,
                candidate: Some(episode.clone()),
                shift_s: None,
            });
            continue;
        };
        taken[partner] = true;
        let other = &in_force[partner];
        let shift_s = match (episode.opened_at, other.opened_at) {
            (Some(mine), Some(theirs)) => Some((mine - theirs) / 1000),
            _ => None,
        };
        let difference = match episode.start().cmp(&other.start()) {
            std::cmp::Ordering::Less => Difference::Earlier,
            std::cmp::Ordering::Greater => Difference::Later,
            std::cmp::Ordering::Equal if episode.resolved_at != other.resolved_at => {
                Difference::ResolvedOtherwise
            }
            std::cmp::Ordering::Equal => Difference::Same,
        };
        compared.push(Compared {
            difference,
            in_force: Some(other.clone()),
            candidate: Some(episode.clone()),
            shift_s,
        });
    }
    for (index, episode) in in_force.iter().enumerate() {
        if !taken[index] {
            compared.push(Compared {
                difference: Difference::Gone,
                in_force: Some(episode.clone()),
                candidate: None,
                shift_s: None,
            });
        }
    }
    compared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(id: &str, subject: &str, opened: i64, resolved: Option<i64>) -> Episode {
        Episode {
            alert_id: id.into(),
            installation_id: "i".into(),
            node_id: "n".into(),
            rule_id: "r".into(),
            rule_version: 1,
            subject: subject.into(),
            customer_id: "c".into(),
            contract_tier: "GOLD".into(),
            opened_at: Some(opened),
            resolved_at: resolved,
            worst: Severity::Warning,
            mails: 2,
            suppressed_by: String::new(),
        }
    }

    #[test]
    fn overlapping_episodes_of_one_subject_are_one_finding() {
        let in_force = [
            episode("a", "disk C:", 10_000, Some(20_000)),
            episode("b", "disk D:", 10_000, None),
            episode("c", "disk E:", 10_000, Some(11_000)),
        ];
        let candidate = [
            episode("a2", "disk C:", 4_000, Some(20_000)),
            episode("b", "disk D:", 10_000, None),
            episode("x", "disk F:", 1_000, None),
        ];
        let compared = compare(&in_force, &candidate);
        let kinds: Vec<(Difference, &str)> = compared
            .iter()
            .map(|c| (c.difference, c.episode().subject.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Difference::Earlier, "disk C:"),
                (Difference::Same, "disk D:"),
                (Difference::New, "disk F:"),
                (Difference::Gone, "disk E:"),
            ]
        );
        assert_eq!(compared[0].shift_s, Some(-6));
    }
}
