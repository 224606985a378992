//! The processors' configuration: `[kafka]` and `[processors]` of the deployment's TOML file.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ucx_common::config::{millis, section_defaults, KafkaSettings};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessorConfig {
    pub kafka: KafkaSettings,
    pub processors: ProcessorSettings,
}

/// `[processors]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Address of `/metrics` and `/health`.
    pub listen: String,
    /// Consumer group; instances in one group share the beats topic's partitions.
    pub group_id: String,
    /// The rule library (`processors/rules.toml` in the repository), followed for changes; unset:
    /// the library built into the binary, fixed.
    pub rules_file: Option<PathBuf>,
    /// How often the rule file (and the advisory catalogue's) is checked for changes.
    #[serde(with = "millis")]
    pub rules_reload_interval_ms: Duration,
    /// The advisory catalogue (`processors/advisories.toml` in the repository), followed for
    /// changes like the rule file; unset: the catalogue built into the binary, fixed.
    pub advisories_file: Option<PathBuf>,
    /// Gold and Platinum customers whose care ended more than this many days ago get no new
    /// customer notifications (limited mode); support engineers still see their alerts.
    pub care_grace_days: u32,
    /// Link to a server's dashboard carried by every alert; `{installation_id}` is replaced.
    pub dashboard_url: String,
    /// How often state is written to the changelog and offsets are committed: a crash replays
    /// at most this much.
    #[serde(with = "millis")]
    pub checkpoint_interval_ms: Duration,
    /// A server is lost when no beat came for its usual cadence plus this long in event time
    /// (the newest beat of any server is "now"); 0 disables heartbeat alerts.
    pub heartbeat_timeout_ms: u64,
    /// An alert still open this long after it was announced is announced again (a reminder),
    /// per contract tier; installations of no known customer count as Basic. 0: no reminders.
    pub reminder_interval_s: PerTier,
    /// An alert whose subject goes bad again within this many seconds (event time) of resolving
    /// continues its episode under the same alert id instead of opening a new one; 0: never.
    pub reopen_window_s: u64,
}

/// A value per contract tier (`[processors.<name>]` with `basic`, `gold`, `platinum`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerTier {
    pub basic: u64,
    pub gold: u64,
    pub platinum: u64,
}

impl PerTier {
    pub fn of(&self, tier: Option<ucx_schemas::ContractTier>) -> u64 {
        match tier {
            Some(ucx_schemas::ContractTier::Platinum) => self.platinum,
            Some(ucx_schemas::ContractTier::Gold) => self.gold,
            Some(ucx_schemas::ContractTier::Basic) | None => self.basic,
        }
    }
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        section_defaults("processors")
    }
}
