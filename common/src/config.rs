//! Configuration: one TOML file per deployment (every stage reads the sections it needs) with
//! `UCX_…` environment overrides, `__` separating levels: `UCX_KAFKA__BROKERS=host:9092` sets
//! `[kafka] brokers`. Unknown keys inside a section are errors, so typos don't go unnoticed.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Loads a stage's configuration from the optional TOML file and the environment.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> anyhow::Result<T> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.exists() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file(path));
    }
    figment
        .merge(Env::prefixed("UCX_").split("__"))
        .extract()
        .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))
}

/// `[kafka]`: the broker and the topics every stage shares.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    pub beats_topic: String,
    pub alerts_topic: String,
    pub dead_letter_topic: String,
    /// Compacted topic of customers, installations and purge requests (one partition).
    pub registry_topic: String,
    /// What the processors noticed changing on a server (suite version, nodes, hardware,
    /// hotfixes, applications).
    pub changes_topic: String,
    /// Compacted changelog of the processors' per-installation state (at least as many
    /// partitions as the beats topic).
    pub processor_state_topic: String,
    /// Partitions of topics the pipeline creates; bounds how many consumers share the work.
    pub topic_partitions: i32,
    pub topic_replication_factor: i32,
    /// How long a produced record may wait for the broker's acknowledgement before the
    /// producer gives up (librdkafka `message.timeout.ms`); the gateway answers 503 then.
    pub delivery_timeout_ms: u64,
    /// Records the producer may hold awaiting acknowledgement; beyond that the gateway refuses
    /// with 503 instead of queueing without bound.
    pub max_in_flight_records: u32,
    /// Extra librdkafka properties (e.g. `security.protocol`), passed through unchanged.
    pub client_options: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            beats_topic: "ucx.beats".into(),
            alerts_topic: "ucx.alerts".into(),
            dead_letter_topic: "ucx.dead-letters".into(),
            registry_topic: "ucx.registry".into(),
            changes_topic: "ucx.changes".into(),
            processor_state_topic: "ucx.processor-state".into(),
            topic_partitions: 6,
            topic_replication_factor: 1,
            delivery_timeout_ms: 10_000,
            max_in_flight_records: 100_000,
            client_options: BTreeMap::new(),
        }
    }
}

/// `[clickhouse]`: where the sinks write and the dashboards read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseSettings {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        ClickHouseSettings {
            url: "http://127.0.0.1:8123".into(),
            database: "ucx".into(),
            user: "default".into(),
            password: String::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own large error
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct StageConfig {
        #[serde(default)]
        kafka: KafkaSettings,
    }

    #[test]
    fn file_values_are_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "ucx.toml",
                "[kafka]\nbrokers = \"file:9092\"\nbeats_topic = \"b\"\n",
            )?;
            jail.set_env("UCX_KAFKA__BROKERS", "env:9092");
            let config: StageConfig = load(Some(Path::new("ucx.toml"))).unwrap();
            assert_eq!(config.kafka.brokers, "env:9092");
            assert_eq!(config.kafka.beats_topic, "b");
            assert_eq!(config.kafka.alerts_topic, "ucx.alerts");
            Ok(())
        });
    }

    #[test]
    fn a_typo_in_a_section_is_an_error_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ucx.toml", "[kafka]\nbrokerz = \"x\"\n")?;
            let error = load::<StageConfig>(Some(Path::new("ucx.toml"))).unwrap_err();
            assert!(error.to_string().contains("brokerz"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let error = load::<StageConfig>(Some(Path::new("/nonexistent/ucx.toml"))).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}
