//! The advisory catalogue: known issues of the installed base and their remedies
//! (`processors/advisories.toml`, versioned and hot-reloaded like the rule library). Each names
//! what it affects (UCX Suite, Windows, SQL Server or call-manager versions, an edition, a
//! missing hotfix); an installation is affected when one of its nodes matches every condition.
//! One alert per (installation, advisory), routed like any alert, opened on the inventory beat
//! that shows it (or at once for every installation when the catalogue changes) and resolved
//! when the inventory no longer matches or the advisory leaves the catalogue.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde::Deserialize;
use ucx_schemas::Severity;

use crate::changes::{compare_versions, NodeFacts};

/// The catalogue built into the binary (`processors/advisories.toml`).
pub const BUILT_IN: &str = include_str!("../advisories.toml");

/// Rule ids of advisory alerts: `advisory:<advisory id>`.
pub const RULE_PREFIX: &str = "advisory:";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Raised with every change of the file; carried by the alerts it opens.
    pub catalogue_version: u32,
    #[serde(default, rename = "advisory")]
    pub advisories: Vec<Advisory>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    /// Lower case letters, digits and `-`; the alert's rule is `advisory:<id>`.
    pub id: String,
    /// Raised when the advisory's text or conditions change.
    pub version: u32,
    pub severity: Severity,
    pub title: String,
    pub explanation: String,
    pub remedy: String,
    /// The conditions; every one given must hold on one node.
    pub suite_version: Option<VersionRange>,
    /// `software_info.os` `version`, e.g. `10.0.20348`.
    pub windows_version: Option<VersionRange>,
    /// `ucx_suite.database_server` `sql_server_version`, e.g. `16.0.1000.6`.
    pub sql_server_version: Option<VersionRange>,
    /// A part of `sql_server_edition`, any case, e.g. `express`.
    pub sql_server_edition: Option<String>,
    /// `ucx_suite.voip_architecture` `cucm_version`.
    pub cucm_version: Option<VersionRange>,
    /// Affected while this hotfix (e.g. `KB5034439`) is not installed.
    pub missing_hotfix: Option<String>,
}

/// Versions from `from` (included) to `below` (excluded), either bound optional, compared part
/// by part (`2024.Winter.1` < `2024.Winter.2` < `2025.Spring.1`; `16.0.1000.6` < `16.0.4003.1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    pub from: Option<String>,
    pub below: Option<String>,
}

impl VersionRange {
    fn contains(&self, version: &str) -> bool {
        self.from
            .as_deref()
            .is_none_or(|from| compare_versions(version, from) != Ordering::Less)
            && self
                .below
                .as_deref()
                .is_none_or(|below| compare_versions(version, below) == Ordering::Less)
    }

    fn describe(&self) -> String {
        match (&self.from, &self.below) {
            (Some(from), Some(below)) => format!("{from} to before {below}"),
            (Some(from), None) => format!("{from} and later"),
            (None, Some(below)) => format!("before {below}"),
            (None, None) => "any version".into(),
        }
    }
}

/// Whether a beat of `category` carries a fact advisories match (versions, edition, hotfixes).
pub fn informed_by(category: ucx_schemas::Category) -> bool {
    use ucx_schemas::Category::*;
    matches!(
        category,
        UcxSuiteSuiteInfo
            | SoftwareInfoOs
            | UcxSuiteDatabaseServer
            | UcxSuiteVoipArchitecture
            | SoftwareInfoWindowsUpdates
    )
}

impl Catalogue {
    /// Parses and checks a catalogue; the error says what to fix.
    pub fn parse(text: &str) -> anyhow::Result<Catalogue> {
        let catalogue: Catalogue = toml::from_str(text)?;
        let mut ids = HashSet::new();
        for advisory in &catalogue.advisories {
            let id = &advisory.id;
            anyhow::ensure!(
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "advisory id {id:?}: use lower case letters, digits and '-'"
            );
            anyhow::ensure!(ids.insert(id.as_str()), "advisory {id} is listed twice");
            anyhow::ensure!(
                !advisory.title.trim().is_empty() && !advisory.remedy.trim().is_empty(),
                "advisory {id}: a title and a remedy are required"
            );
            anyhow::ensure!(
                advisory.conditions() > 0,
                "advisory {id}: name what it affects (suite_version, windows_version, sql_server_version, sql_server_edition, cucm_version or missing_hotfix)"
            );
            for range in advisory.ranges() {
                anyhow::ensure!(
                    range.from.is_some() || range.below.is_some(),
                    "advisory {id}: a version range needs `from` or `below`"
                );
            }
        }
        Ok(catalogue)
    }

    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.advisories.iter().find(|advisory| advisory.id == id)
    }
}

impl Advisory {
    pub fn rule_id(&self) -> String {
        format!("{RULE_PREFIX}{}", self.id)
    }

    fn ranges(&self) -> impl Iterator<Item = &VersionRange> {
        [
            &self.suite_version,
            &self.windows_version,
            &self.sql_server_version,
            &self.cucm_version,
        ]
        .into_iter()
        .flatten()
    }

    fn conditions(&self) -> usize {
        self.ranges().count()
            + usize::from(self.sql_server_edition.is_some())
            + usize::from(self.missing_hotfix.is_some())
    }

    /// What makes `node` affected, in words (`UCX Suite 2024.Winter.1, KB5034439 missing`), or
    /// `None` when a condition does not hold or its fact is not known yet.
    pub fn affects(&self, node: &NodeFacts) -> Option<String> {
        let mut why = Vec::new();
        let mut version = |range: &Option<VersionRange>, known: Option<&str>, what: &str| {
            let Some(range) = range else {
                return true;
            };
            match known {
                Some(version) if range.contains(version) => {
                    why.push(format!("{what} {version}"));
                    true
                }
                _ => false,
            }
        };
        let versions = version(&self.suite_version, node.suite_version, "UCX Suite")
            && version(&self.windows_version, node.windows_version, "Windows")
            && version(
                &self.sql_server_version,
                node.sql_server_version,
                "SQL Server",
            )
            && version(&self.cucm_version, node.cucm_version, "call manager");
        if !versions {
            return None;
        }
        if let Some(part) = &self.sql_server_edition {
            let edition = node.sql_server_edition?;
            if !edition.to_lowercase().contains(&part.to_lowercase()) {
                return None;
            }
            why.push(format!("SQL Server {edition}"));
        }
        if let Some(hotfix) = &self.missing_hotfix {
            let installed = node.hotfixes?;
            if installed.iter().any(|id| id.eq_ignore_ascii_case(hotfix)) {
                return None;
            }
            why.push(format!("{hotfix} not installed"));
        }
        Some(why.join(", "))
    }

    /// What the advisory is about, for its alert's explanation.
    pub fn explanation(&self) -> String {
        let mut affected: Vec<String> = Vec::new();
        for (range, what) in [
            (&self.suite_version, "UCX Suite"),
            (&self.windows_version, "Windows"),
            (&self.sql_server_version, "SQL Server"),
            (&self.cucm_version, "call manager"),
        ] {
            if let Some(range) = range {
                affected.push(format!("{what} {}", range.describe()));
            }
        }
        if let Some(edition) = &self.sql_server_edition {
            affected.push(format!("SQL Server editions named {edition}"));
        }
        if let Some(hotfix) = &self.missing_hotfix {
            affected.push(format!("without {hotfix}"));
        }
        format!(
            "{} Affects: {}. Remedy: {}",
            self.explanation.trim(),
            affected.join("; "),
            self.remedy.trim()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn catalogue(advisories: &str) -> anyhow::Result<Catalogue> {
        Catalogue::parse(&format!("catalogue_version = 1\n{advisories}"))
    }

    const ONE: &str = r#"
[[advisory]]
id = "acd-stall"
version = 1
severity = "WARNING"
title = "ACD queues stall"
explanation = "Calls wait forever."
remedy = "Upgrade to 2024.Winter.3."
suite_version = { from = "2024.Winter.1", below = "2024.Winter.3" }
missing_hotfix = "KB1"
"#;

    #[test]
    fn the_built_in_catalogue_validates() {
        let built_in = Catalogue::parse(BUILT_IN).unwrap();
        assert!(built_in.catalogue_version >= 1);
        assert!(!built_in.advisories.is_empty());
    }

    #[test]
    fn a_node_is_affected_when_every_condition_holds() {
        let catalogue = catalogue(ONE).unwrap();
        let advisory = &catalogue.advisories[0];
        let without: BTreeSet<String> = ["KB2".to_string()].into();
        let with: BTreeSet<String> = ["kb1".to_string()].into();
        let node = |version: &'static str, hotfixes: Option<&'static BTreeSet<String>>| NodeFacts {
            suite_version: Some(version),
            hotfixes,
            ..Default::default()
        };
        let without: &'static BTreeSet<String> = Box::leak(Box::new(without));
        let with: &'static BTreeSet<String> = Box::leak(Box::new(with));
        assert_eq!(
            advisory
                .affects(&node("2024.Winter.2", Some(without)))
                .as_deref(),
            Some("UCX Suite 2024.Winter.2, KB1 not installed")
        );
        for unaffected in [
            node("2024.Winter.3", Some(without)), // fixed release
            node("2024.Summer.2", Some(without)), // before the affected ones
            node("2024.Winter.2", Some(with)),    // the hotfix is installed
            node("2024.Winter.2", None),          // hotfixes not known yet
        ] {
            assert_eq!(advisory.affects(&unaffected), None, "{unaffected:?}");
        }
        assert!(advisory
            .explanation()
            .contains("UCX Suite 2024.Winter.1 to before 2024.Winter.3"));
    }

    #[test]
    fn a_catalogue_with_a_mistake_is_refused_saying_what_to_fix() {
        for (text, complaint) in [
            (ONE.replace("acd-stall", "ACD stall"), "lower case"),
            (format!("{ONE}{ONE}"), "listed twice"),
            (
                ONE.replace("suite_version = { from = \"2024.Winter.1\", below = \"2024.Winter.3\" }\nmissing_hotfix = \"KB1\"", ""),
                "name what it affects",
            ),
            (ONE.replace("from = \"2024.Winter.1\", below = \"2024.Winter.3\"", ""), "`from` or `below`"),
            (ONE.replace("remedy = \"Upgrade to 2024.Winter.3.\"", "remedy = \" \""), "remedy"),
        ] {
            let error = catalogue(&text).unwrap_err().to_string();
            assert!(error.contains(complaint), "{error}");
        }
    }
}
