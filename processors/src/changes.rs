//! Change detection: what each installation's inventory beats showed last time, compared with
//! what they show now. The first beat of a kind only sets the reference; later differences are
//! [`Change`] events (suite upgraded or downgraded, cluster node added or removed, processors,
//! memory or disks changed, hotfix or application installed, updated or removed). Alerts where a
//! change matters come from the rule library (e.g. `suite_downgraded`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use ucx_schemas::{Beat, BeatPayload, Change, ChangeKind};

use crate::rules::series::{deserialize_keyed, serialize_keyed};

/// What the installation's inventory beats last showed, per node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    suite_version: HashMap<String, String>,
    cluster_nodes: Option<BTreeSet<String>>,
    /// (node, part) → a description of the part (`2 × Intel Xeon, 8 cores`, `16 GiB`, …);
    /// memory and disks every minute, so looked up by borrowed strings ([`NodePart`]).
    #[serde(
        serialize_with = "serialize_keyed",
        deserialize_with = "deserialize_keyed"
    )]
    hardware: hashbrown::HashMap<(String, String), String>,
    hotfixes: HashMap<String, BTreeSet<String>>,
    /// node → application name → version
    applications: HashMap<String, BTreeMap<String, String>>,
    /// The newest changes (event time, description), for the alerts that open after them.
    recent: VecDeque<(i64, String)>,
    /// node → Windows version (`software_info.os`), for the advisory catalogue
    windows_version: HashMap<String, String>,
    /// node → (SQL Server edition, version) (`ucx_suite.database_server`)
    sql_server: HashMap<String, (String, String)>,
    /// node → call-manager version (`ucx_suite.voip_architecture`)
    cucm_version: HashMap<String, String>,
}

/// What one node's inventory beats last showed, as the advisory catalogue matches it; `None`
/// where no beat of that kind came yet.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts<'a> {
    pub suite_version: Option<&'a str>,
    pub windows_version: Option<&'a str>,
    pub sql_server_version: Option<&'a str>,
    pub sql_server_edition: Option<&'a str>,
    pub cucm_version: Option<&'a str>,
    pub hotfixes: Option<&'a BTreeSet<String>>,
}

/// A key of [`Inventory::hardware`] of borrowed strings. Hashes as the key does: a tuple hashes
/// its fields in order, as the derived `Hash` of this struct does, and a `&str` as the `String`
/// it equals.
#[derive(Hash)]
struct NodePart<'a>(&'a str, &'a str);

impl hashbrown::Equivalent<(String, String)> for NodePart<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// Changes remembered for the alerts that follow them.
const RECENT_CHANGES: usize = 20;
/// How long before an alert's beat a change is named in it.
pub const CHANGE_WINDOW_MS: i64 = 24 * 3_600_000;

/// What changed, before the envelope is added.
type Difference = (ChangeKind, String, String, String);

/// A change in words: `hotfix installed KB5034441`, `UCX Suite upgraded 2024.Summer.2 → 2024.Winter.1`.
fn describe(kind: ChangeKind, subject: &str, before: &str, after: &str) -> String {
    let what = kind.as_str().to_ascii_lowercase().replace('_', " ");
    match (before.is_empty(), after.is_empty()) {
        (false, false) => format!("{what}: {subject} {before} → {after}"),
        _ => format!("{what}: {subject}"),
    }
}

impl Inventory {
    /// Every node an inventory beat named, with what it showed, in node order.
    pub fn nodes(&self) -> Vec<(&str, NodeFacts<'_>)> {
        let names: BTreeSet<&str> = self
            .suite_version
            .keys()
            .chain(self.windows_version.keys())
            .chain(self.sql_server.keys())
            .chain(self.cucm_version.keys())
            .chain(self.hotfixes.keys())
            .map(String::as_str)
            .collect();
        names
            .into_iter()
            .map(|node| {
                let sql = self.sql_server.get(node);
                let facts = NodeFacts {
                    suite_version: self.suite_version.get(node).map(String::as_str),
                    windows_version: self.windows_version.get(node).map(String::as_str),
                    sql_server_edition: sql.map(|(edition, _)| edition.as_str()),
                    sql_server_version: sql.map(|(_, version)| version.as_str()),
                    cucm_version: self.cucm_version.get(node).map(String::as_str),
                    hotfixes: self.hotfixes.get(node),
                };
                (node, facts)
            })
            .collect()
    }

    /// What changed on the installation within [`CHANGE_WINDOW_MS`] up to `at_ms`, newest last.
    pub fn changes_before(&self, at_ms: i64) -> Vec<&str> {
        self.recent
            .iter()
            .filter(|(at, _)| *at <= at_ms && at_ms - at <= CHANGE_WINDOW_MS)
            .map(|(_, description)| description.as_str())
            .collect()
    }

    /// The changes `beat` shows against what this installation's earlier beats showed.
    pub fn observe(&mut self, beat: &Beat, customer_id: &str) -> Vec<Change> {
        let node = &beat.envelope.node_id;
        let differences = match &beat.payload {
            BeatPayload::UcxSuiteSuiteInfo(info) => self.suite(node.clone(), &info.version),
            BeatPayload::UcxSuiteCluster(cluster) => self.cluster(&cluster.nodes),
            BeatPayload::HardwareInfoProcessors(data) => {
                let cores: i64 = data.processors.iter().map(|p| p.cores).sum();
                let names: BTreeSet<&str> =
                    data.processors.iter().map(|p| p.name.as_str()).collect();
                let description = format!(
                    "{} × {}, {cores} cores",
                    data.processors.len(),
                    names.into_iter().collect::<Vec<_>>().join(" + ")
                );
                self.hardware(node, "processors", description)
            }
            BeatPayload::HardwareInfoMemory(memory) if memory.total_bytes > 0 => {
                let description = format!("{:.1} GiB", memory.total_bytes as f64 / GIB);
                self.hardware(node, "memory", description)
            }
            BeatPayload::HardwareInfoDisks(data) => {
                let disks: BTreeMap<&str, i64> = data
                    .disks
                    .iter()
                    .map(|disk| (disk.name.as_str(), disk.size_bytes))
                    .collect();
                let mut description = String::new();
                for (name, size) in disks {
                    let separator = if description.is_empty() { "" } else { ", " };
                    let _ = write!(
                        description,
                        "{separator}{name} {:.0} GiB",
                        size as f64 / GIB
                    );
                }
                self.hardware(node, "disks", description)
            }
            BeatPayload::SoftwareInfoWindowsUpdates(data) => {
                let now: BTreeSet<String> =
                    data.hotfixes.iter().map(|h| h.hotfix_id.clone()).collect();
                self.hotfixes(node.clone(), now)
            }
            BeatPayload::SoftwareInfoInstalledApplications(data) => {
                let now: BTreeMap<String, String> = data
                    .applications
                    .iter()
                    .map(|app| (app.name.clone(), app.version.clone()))
                    .collect();
                self.applications(node.clone(), now)
            }
            // versions the advisory catalogue matches; no change events of their own
            BeatPayload::SoftwareInfoOs(os) => {
                self.windows_version
                    .insert(node.clone(), os.version.clone());
                Vec::new()
            }
            BeatPayload::UcxSuiteDatabaseServer(server) => {
                let facts = (
                    server.sql_server_edition.clone(),
                    server.sql_server_version.clone(),
                );
                self.sql_server.insert(node.clone(), facts);
                Vec::new()
            }
            BeatPayload::UcxSuiteVoipArchitecture(voip) => {
                self.cucm_version
                    .insert(node.clone(), voip.cucm_version.clone());
                Vec::new()
            }
            _ => Vec::new(),
        };
        for (kind, subject, before, after) in &differences {
            self.recent.push_back((
                beat.envelope.sent_at,
                describe(*kind, subject, before, after),
            ));
            if self.recent.len() > RECENT_CHANGES {
                self.recent.pop_front();
            }
        }
        differences
            .into_iter()
            .map(|(kind, subject, before, after)| {
                let envelope = &beat.envelope;
                let name = format!(
                    "{}/{}/{}/{subject}",
                    envelope.installation_id,
                    envelope.beat_id,
                    kind.as_str()
                );
                Change {
                    change_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes())
                        .to_string(),
                    installation_id: envelope.installation_id.clone(),
                    customer_id: customer_id.to_string(),
                    node_id: envelope.node_id.clone(),
                    region: envelope.region,
                    kind,
                    subject,
                    before,
                    after,
                    beat_id: envelope.beat_id.clone(),
                    event_at: envelope.sent_at,
                    detected_at: ucx_common::now_ms(),
                }
            })
            .collect()
    }

    fn suite(&mut self, node: String, version: &str) -> Vec<Difference> {
        let Some(before) = self.suite_version.insert(node, version.to_string()) else {
            return Vec::new();
        };
        let kind = match compare_versions(version, &before) {
            Ordering::Equal => return Vec::new(),
            Ordering::Greater => ChangeKind::SuiteUpgraded,
            Ordering::Less => ChangeKind::SuiteDowngraded,
        };
        vec![(kind, "UCX Suite".into(), before, version.to_string())]
    }

    fn cluster(&mut self, nodes: &[String]) -> Vec<Difference> {
        let now: BTreeSet<String> = nodes.iter().cloned().collect();
        let Some(before) = self.cluster_nodes.replace(now.clone()) else {
            return Vec::new();
        };
        let added = now.difference(&before).map(|node| {
            (
                ChangeKind::NodeAdded,
                node.clone(),
                String::new(),
                node.clone(),
            )
        });
        let removed = before.difference(&now).map(|node| {
            (
                ChangeKind::NodeRemoved,
                node.clone(),
                node.clone(),
                String::new(),
            )
        });
        added.chain(removed).collect()
    }

    /// Notes what `part` of `node` is now; a change when it was something else before.
    fn hardware(&mut self, node: &str, part: &str, description: String) -> Vec<Difference> {
        match self.hardware.get_mut(&NodePart(node, part)) {
            Some(before) if *before == description => Vec::new(),
            Some(before) => {
                let before = std::mem::replace(before, description.clone());
                vec![(
                    ChangeKind::HardwareChanged,
                    part.to_string(),
                    before,
                    description,
                )]
            }
            None => {
                self.hardware
                    .insert((node.to_string(), part.to_string()), description);
                Vec::new()
            }
        }
    }

    fn hotfixes(&mut self, node: String, now: BTreeSet<String>) -> Vec<Difference> {
        let Some(before) = self.hotfixes.insert(node, now.clone()) else {
            return Vec::new();
        };
        let installed = now.difference(&before).map(|id| {
            (
                ChangeKind::HotfixInstalled,
                id.clone(),
                String::new(),
                id.clone(),
            )
        });
        let removed = before.difference(&now).map(|id| {
            (
                ChangeKind::HotfixRemoved,
                id.clone(),
                id.clone(),
                String::new(),
            )
        });
        installed.chain(removed).collect()
    }

    fn applications(&mut self, node: String, now: BTreeMap<String, String>) -> Vec<Difference> {
        let Some(before) = self.applications.insert(node, now.clone()) else {
            return Vec::new();
        };
        let mut differences = Vec::new();
        for (name, version) in &now {
            match before.get(name) {
                None => differences.push((
                    ChangeKind::ApplicationInstalled,
                    name.clone(),
                    String::new(),
                    version.clone(),
                )),
                Some(old) if old != version => differences.push((
                    ChangeKind::ApplicationUpdated,
                    name.clone(),
                    old.clone(),
                    version.clone(),
                )),
                Some(_) => {}
            }
        }
        for (name, version) in &before {
            if !now.contains_key(name) {
                differences.push((
                    ChangeKind::ApplicationRemoved,
                    name.clone(),
                    version.clone(),
                    String::new(),
                ));
            }
        }
        differences
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// UCX Suite versions read as `<year>.<season>.<number>` (`2024.Winter.1`); seasons in the order
/// of the year. Parts that are neither numbers nor seasons compare as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn part_key(part: &str) -> (u64, String) {
        let season = match part.to_ascii_lowercase().as_str() {
            "spring" => Some(1),
            "summer" => Some(2),
            "autumn" | "fall" => Some(3),
            "winter" => Some(4),
            _ => None,
        };
        match (part.parse::<u64>(), season) {
            (Ok(number), _) => (number, String::new()),
            (_, Some(season)) => (season, String::new()),
            _ => (0, part.to_string()),
        }
    }
    let a: Vec<_> = a.split('.').map(part_key).collect();
    let b: Vec<_> = b.split('.').map(part_key).collect();
    a.cmp(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::{
        Disk, HardwareInfoDisks, Hotfix, SoftwareInfoWindowsUpdates, UcxSuiteCluster,
        UcxSuiteSuiteInfo,
    };
    use ucx_schemas::{Envelope, Region};

    fn beat(beat_id: &str, payload: BeatPayload) -> Beat {
        Beat {
            envelope: Envelope {
                beat_id: beat_id.into(),
                installation_id: "inst".into(),
                node_id: "node-1".into(),
                region: Region::EU,
                sent_at: 1,
                received_at: 1,
                source_ip: None,
            },
            payload,
        }
    }

    fn suite(beat_id: &str, version: &str) -> Beat {
        beat(
            beat_id,
            BeatPayload::UcxSuiteSuiteInfo(UcxSuiteSuiteInfo {
                version: version.into(),
                platform: "Windows x64".into(),
                install_path: "C:\\UCX".into(),
                install_folder_size_bytes: 1,
            }),
        )
    }

    fn kinds(changes: &[Change]) -> Vec<(ChangeKind, &str, &str, &str)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.kind,
                    c.subject.as_str(),
                    c.before.as_str(),
                    c.after.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn versions_compare_by_year_season_and_number() {
        assert_eq!(
            compare_versions("2024.Winter.1", "2024.Summer.3"),
            Ordering::Greater
        );
        assert_eq!(
            compare_versions("2023.Winter.9", "2024.Spring.1"),
            Ordering::Less
        );
        assert_eq!(
            compare_versions("2024.Winter.2", "2024.Winter.10"),
            Ordering::Less
        );
        assert_eq!(
            compare_versions("2024.Winter.1", "2024.Winter.1"),
            Ordering::Equal
        );
    }

    #[test]
    fn the_first_beat_sets_the_reference_and_later_ones_show_upgrades_and_downgrades() {
        let mut inventory = Inventory::default();
        assert!(inventory
            .observe(&suite("1", "2024.Summer.1"), "c")
            .is_empty());
        assert!(inventory
            .observe(&suite("2", "2024.Summer.1"), "c")
            .is_empty());
        let up = inventory.observe(&suite("3", "2024.Winter.1"), "c");
        assert_eq!(
            kinds(&up),
            [(
                ChangeKind::SuiteUpgraded,
                "UCX Suite",
                "2024.Summer.1",
                "2024.Winter.1"
            )]
        );
        assert_eq!(up[0].customer_id, "c");
        let down = inventory.observe(&suite("4", "2023.Winter.5"), "c");
        assert_eq!(down[0].kind, ChangeKind::SuiteDowngraded);
        let mut replayed = inventory.clone();
        assert_eq!(
            inventory.observe(&suite("5", "2024.Winter.1"), "c")[0].change_id,
            replayed.observe(&suite("5", "2024.Winter.1"), "c")[0].change_id,
            "the same beat, the same change id"
        );
    }

    #[test]
    fn a_part_of_other_hardware_is_a_change_and_the_same_one_is_not() {
        let disks = |id: &str, sizes: &[(&str, i64)]| {
            let disks = sizes
                .iter()
                .map(|(name, gib)| Disk {
                    name: name.to_string(),
                    model: "SSD".into(),
                    size_bytes: gib << 30,
                    free_bytes: 1 << 30,
                })
                .collect();
            beat(
                id,
                BeatPayload::HardwareInfoDisks(HardwareInfoDisks { disks }),
            )
        };
        let mut inventory = Inventory::default();
        assert!(inventory
            .observe(&disks("1", &[("D:", 500), ("C:", 100)]), "c")
            .is_empty());
        // listed in another order, free space aside: the same disks
        assert!(inventory
            .observe(&disks("2", &[("C:", 100), ("D:", 500)]), "c")
            .is_empty());
        let changed = inventory.observe(&disks("3", &[("C:", 250), ("D:", 500)]), "c");
        assert_eq!(
            kinds(&changed),
            [(
                ChangeKind::HardwareChanged,
                "disks",
                "C: 100 GiB, D: 500 GiB",
                "C: 250 GiB, D: 500 GiB"
            )]
        );
        assert!(inventory
            .observe(&disks("4", &[("C:", 250), ("D:", 500)]), "c")
            .is_empty());
        // the part is remembered per node, and across the state's document
        let restored: Inventory =
            serde_json::from_slice(&serde_json::to_vec(&inventory).unwrap()).unwrap();
        assert_eq!(restored, inventory);
        let mut other_node = disks("5", &[("C:", 100)]);
        other_node.envelope.node_id = "node-2".into();
        let mut restored = restored;
        assert!(restored.observe(&other_node, "c").is_empty());
        assert_eq!(restored.observe(&disks("6", &[("C:", 100)]), "c").len(), 1);
    }

    #[test]
    fn nodes_and_hotfixes_added_and_removed() {
        let mut inventory = Inventory::default();
        let cluster = |id: &str, nodes: &[&str]| {
            beat(
                id,
                BeatPayload::UcxSuiteCluster(UcxSuiteCluster {
                    nodes: nodes.iter().map(|n| n.to_string()).collect(),
                    replication_strategy: "Merge".into(),
                }),
            )
        };
        inventory.observe(&cluster("1", &["node-1", "node-2"]), "c");
        let changes = inventory.observe(&cluster("2", &["node-1", "node-3"]), "c");
        assert_eq!(
            kinds(&changes),
            [
                (ChangeKind::NodeAdded, "node-3", "", "node-3"),
                (ChangeKind::NodeRemoved, "node-2", "node-2", "")
            ]
        );
        let updates = |id: &str, hotfixes: &[&str]| {
            beat(
                id,
                BeatPayload::SoftwareInfoWindowsUpdates(SoftwareInfoWindowsUpdates {
                    hotfixes: hotfixes
                        .iter()
                        .map(|h| Hotfix {
                            hotfix_id: h.to_string(),
                            installed_at: None,
                        })
                        .collect(),
                }),
            )
        };
        inventory.observe(&updates("3", &["KB1"]), "c");
        let changes = inventory.observe(&updates("4", &["KB1", "KB2"]), "c");
        assert_eq!(
            kinds(&changes),
            [(ChangeKind::HotfixInstalled, "KB2", "", "KB2")]
        );
    }
}
