//! Changes the processors notice between two beats of one installation (suite upgraded, node
//! removed, hotfix installed, …): recorded as events on the changes topic, stored by the sinks.

use serde::{Deserialize, Serialize};

use crate::beats::Region;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    SuiteUpgraded,
    SuiteDowngraded,
    NodeAdded,
    NodeRemoved,
    HardwareChanged,
    HotfixInstalled,
    HotfixRemoved,
    ApplicationInstalled,
    ApplicationRemoved,
    ApplicationUpdated,
    /// A kind a newer writer knows and this reader does not.
    Other,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::SuiteUpgraded => "SUITE_UPGRADED",
            ChangeKind::SuiteDowngraded => "SUITE_DOWNGRADED",
            ChangeKind::NodeAdded => "NODE_ADDED",
            ChangeKind::NodeRemoved => "NODE_REMOVED",
            ChangeKind::HardwareChanged => "HARDWARE_CHANGED",
            ChangeKind::HotfixInstalled => "HOTFIX_INSTALLED",
            ChangeKind::HotfixRemoved => "HOTFIX_REMOVED",
            ChangeKind::ApplicationInstalled => "APPLICATION_INSTALLED",
            ChangeKind::ApplicationRemoved => "APPLICATION_REMOVED",
            ChangeKind::ApplicationUpdated => "APPLICATION_UPDATED",
            ChangeKind::Other => "OTHER",
        }
    }
}

/// Mirrors `avro/events/change.avsc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Derived from the beat and what changed: the same beat evaluated twice gives the same id.
    pub change_id: String,
    pub installation_id: String,
    #[serde(default)]
    pub customer_id: String,
    pub node_id: String,
    pub region: Region,
    pub kind: ChangeKind,
    /// What changed: `UCX Suite`, `node-2`, `memory`, `KB5034441`, an application's name.
    pub subject: String,
    /// The earlier value ('' when it was absent).
    pub before: String,
    /// The new value ('' when it is gone).
    pub after: String,
    pub beat_id: String,
    /// `sent_at` of that beat, UTC ms.
    pub event_at: i64,
    /// When the processor noticed, UTC ms.
    pub detected_at: i64,
}

pub(crate) const CHANGE_SCHEMA_SOURCE: &str = include_str!("../avro/events/change.avsc");
