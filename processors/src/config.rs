//! The processors' configuration: `[kafka]` and `[processors]` of the deployment's TOML file.

use serde::Deserialize;
use ucx_common::config::KafkaSettings;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProcessorConfig {
    pub kafka: KafkaSettings,
    pub processors: ProcessorSettings,
}

/// `[processors]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Address of `/metrics` and `/health`.
    pub listen: String,
    /// Consumer group; instances in one group share the beats topic's partitions.
    pub group_id: String,
    /// A disk with less free space than this (percent of its size) raises a warning.
    pub disk_free_warning_percent: f64,
    /// Below this it is critical.
    pub disk_free_critical_percent: f64,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            listen: "127.0.0.1:8081".into(),
            group_id: "ucx-processors".into(),
            disk_free_warning_percent: 15.0,
            disk_free_critical_percent: 5.0,
        }
    }
}
