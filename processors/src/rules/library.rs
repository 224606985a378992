//! The rule library: `processors/rules.toml` parsed and checked. A library that does not
//! validate is refused as a whole, so a typo never disables rules silently.

use std::collections::HashSet;

use serde::Deserialize;
use ucx_schemas::registry::ContractTier;
use ucx_schemas::{Beat, Severity};

use super::signals::{Facts, Signal};
use super::Finding;

/// The library shipped in the repository; used when no `rules_file` is configured.
pub const BUILT_IN: &str = include_str!("../../rules.toml");

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    #[error("rule {id}: {problem}")]
    Invalid { id: String, problem: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleLibrary {
    pub library_version: u32,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Below,
    Above,
    True,
}

/// A threshold for every tier, or one per tier (Platinum may be stricter).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Same(f64),
    PerTier {
        basic: f64,
        gold: f64,
        platinum: f64,
    },
}

impl Threshold {
    /// The tier's threshold; an installation of no known customer is judged as Basic.
    pub fn for_tier(self, tier: Option<ContractTier>) -> f64 {
        match self {
            Threshold::Same(value) => value,
            Threshold::PerTier {
                basic,
                gold,
                platinum,
            } => match tier {
                Some(ContractTier::Platinum) => platinum,
                Some(ContractTier::Gold) => gold,
                Some(ContractTier::Basic) | None => basic,
            },
        }
    }
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub version: i32,
    pub signal: Signal,
    pub when: When,
    pub warning: Option<Threshold>,
    pub critical: Option<Threshold>,
    /// The severity of a `when = "true"` rule.
    pub severity: Option<Severity>,
    /// Consecutive bad beats before an alert opens.
    #[serde(default = "one")]
    pub for_beats: u32,
    /// Consecutive good beats before it resolves.
    #[serde(default = "one")]
    pub clear_beats: u32,
    /// Only these subjects are judged; all when empty.
    #[serde(default)]
    pub subjects: Vec<String>,
    pub summary: String,
    pub explanation: String,
}

impl RuleLibrary {
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        let library: RuleLibrary = toml::from_str(text)?;
        let mut ids = HashSet::new();
        for rule in &library.rules {
            let invalid = |problem: &str| LibraryError::Invalid {
                id: rule.id.clone(),
                problem: problem.to_string(),
            };
            if !ids.insert(rule.id.as_str()) {
                return Err(invalid("the id is used twice"));
            }
            if rule.for_beats == 0 || rule.clear_beats == 0 {
                return Err(invalid("for_beats and clear_beats must be at least 1"));
            }
            match rule.when {
                When::True if rule.severity.is_none() => {
                    return Err(invalid("when = \"true\" needs a severity"))
                }
                When::True if rule.warning.is_some() || rule.critical.is_some() => {
                    return Err(invalid("when = \"true\" takes no thresholds"))
                }
                When::Below | When::Above if rule.warning.is_none() && rule.critical.is_none() => {
                    return Err(invalid("needs a warning or a critical threshold"))
                }
                When::Below | When::Above if rule.severity.is_some() => {
                    return Err(invalid("severity comes from the thresholds here"))
                }
                _ => {}
            }
            if let (Some(warning), Some(critical)) = (rule.warning, rule.critical) {
                for tier in [
                    ContractTier::Basic,
                    ContractTier::Gold,
                    ContractTier::Platinum,
                ] {
                    let (w, c) = (warning.for_tier(Some(tier)), critical.for_tier(Some(tier)));
                    let ordered = match rule.when {
                        When::Below => c <= w,
                        _ => c >= w,
                    };
                    if !ordered {
                        return Err(invalid(&format!(
                            "the critical threshold ({c}) is milder than the warning ({w}) for {}",
                            tier.as_str()
                        )));
                    }
                }
            }
        }
        Ok(library)
    }

    /// Every rule's verdict on every subject of `beat` it reads.
    pub fn evaluate(&self, beat: &Beat, facts: &Facts, tier: Option<ContractTier>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for rule in &self.rules {
            for observation in rule.signal.observe(beat, facts) {
                if !rule.subjects.is_empty() && !rule.subjects.contains(&observation.subject) {
                    continue;
                }
                let (severity, threshold) = rule.judge(observation.value, tier);
                findings.push(Finding {
                    rule_id: rule.id.clone(),
                    rule_version: rule.version,
                    summary: rule.summary_of(&observation.subject, observation.value, threshold),
                    explanation: rule.explanation.clone(),
                    subject: observation.subject,
                    severity,
                    observed_value: observation.value,
                    threshold,
                    for_beats: rule.for_beats,
                    clear_beats: rule.clear_beats,
                });
            }
        }
        findings
    }
}

impl Rule {
    /// The severity `value` deserves (None: healthy) and the threshold it was held against.
    fn judge(&self, value: f64, tier: Option<ContractTier>) -> (Option<Severity>, f64) {
        let crossed = |threshold: f64| match self.when {
            When::Below => value < threshold,
            When::Above => value > threshold,
            When::True => value != 0.0,
        };
        if self.when == When::True {
            return (self.severity.filter(|_| crossed(0.0)), 1.0);
        }
        let critical = self.critical.map(|t| t.for_tier(tier));
        let warning = self.warning.map(|t| t.for_tier(tier));
        if let Some(critical) = critical.filter(|&c| crossed(c)) {
            return (Some(Severity::Critical), critical);
        }
        if let Some(warning) = warning.filter(|&w| crossed(w)) {
            return (Some(Severity::Warning), warning);
        }
        (None, warning.or(critical).unwrap_or_default())
    }

    fn summary_of(&self, subject: &str, value: f64, threshold: f64) -> String {
        self.summary
            .replace("{subject}", subject)
            .replace("{value}", &number(value))
            .replace("{threshold}", &number(threshold))
    }
}

/// `12` for whole numbers, `12.3` otherwise.
fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_library_validates() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        assert!(library.rules.len() >= 15, "{}", library.rules.len());
    }

    #[test]
    fn a_bad_library_is_refused_with_the_rule_named() {
        let twice = format!("{BUILT_IN}\n[[rule]]\nid = \"memory_low\"\nversion = 1\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 1\nsummary = \"s\"\nexplanation = \"e\"\n");
        let error = RuleLibrary::parse(&twice).unwrap_err().to_string();
        assert!(
            error.contains("memory_low") && error.contains("twice"),
            "{error}"
        );

        let unknown_signal = BUILT_IN.replace("\"disk_free_percent\"", "\"disk_fullness\"");
        assert!(RuleLibrary::parse(&unknown_signal).is_err());

        let inverted = BUILT_IN.replace(
            "critical = 5\nsummary = \"{subject} has",
            "critical = 50\nsummary = \"{subject} has",
        );
        let error = RuleLibrary::parse(&inverted).unwrap_err().to_string();
        assert!(
            error.contains("disk_free_low") && error.contains("milder"),
            "{error}"
        );
    }

    #[test]
    fn thresholds_follow_the_tier() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let disk = library
            .rules
            .iter()
            .find(|r| r.id == "disk_free_low")
            .unwrap();
        assert_eq!(disk.judge(17.0, Some(ContractTier::Gold)), (None, 15.0));
        assert_eq!(
            disk.judge(17.0, Some(ContractTier::Platinum)),
            (Some(Severity::Warning), 20.0)
        );
        assert_eq!(disk.judge(4.0, None), (Some(Severity::Critical), 5.0));
        assert_eq!(
            disk.summary_of("disk C:", 4.25, 5.0),
            "disk C: has 4.2% free (threshold 5%)"
        );
    }
}
