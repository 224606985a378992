//! Configuration: one TOML file per deployment (every stage reads the sections it needs) with
//! `UCX_…` environment overrides, `__` separating levels: `UCX_KAFKA__BROKERS=host:9092` sets
//! `[kafka] brokers`. Unknown keys inside a section are errors, so typos don't go unnoticed.
//!
//! Defaults live in one place: `config/ucx.toml`, the documented file, is built in as the
//! bottom layer, and every settings struct's `Default` is its section of that file. Values are
//! checked once, when they are read: durations are `Duration`s (their keys still say the unit)
//! and one of zero is refused with the key named, instead of being clamped where it is used.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `config/ucx.toml`: every key with its default value and what it means.
pub const DEFAULTS: &str = include_str!("../../config/ucx.toml");

/// One section of [`DEFAULTS`]: what a settings struct's `Default` returns.
pub fn section_defaults<T: DeserializeOwned>(section: &str) -> T {
    Figment::from(Toml::string(DEFAULTS))
        .extract_inner(section)
        .unwrap_or_else(|error| panic!("config/ucx.toml, [{section}]: {error}"))
}

/// Loads a stage's configuration: the built-in defaults, then the optional TOML file, then the
/// environment.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> anyhow::Result<T> {
    let mut figment = Figment::from(Toml::string(DEFAULTS));
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

/// A duration written as whole milliseconds (`…_ms` keys); zero is refused.
pub mod millis {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_millis() as u64)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        positive(u64::deserialize(deserializer)?, "milliseconds").map(Duration::from_millis)
    }
}

/// A duration written as whole seconds (`…_s` keys); zero is refused.
pub mod seconds {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_secs())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        positive(u64::deserialize(deserializer)?, "seconds").map(Duration::from_secs)
    }
}

fn positive<E: serde::de::Error>(value: u64, unit: &str) -> Result<u64, E> {
    if value == 0 {
        return Err(E::invalid_value(
            serde::de::Unexpected::Unsigned(0),
            &format!("at least 1 ({unit})").as_str(),
        ));
    }
    Ok(value)
}

/// `[kafka]`: the broker and the topics every stage shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// How long the beats, alerts, changes and dead-letter topics keep a record (`retention.ms`
    /// of the topics the stages create): the bound on how long an erased customer's copies
    /// outlive its erasure there.
    pub retention_hours: u32,
    /// How long a produced record may wait for the broker's acknowledgement before the
    /// producer gives up (librdkafka `message.timeout.ms`); the gateway answers 503 then.
    #[serde(with = "millis")]
    pub delivery_timeout_ms: Duration,
    /// Records the producer may hold awaiting acknowledgement; beyond that the gateway refuses
    /// with 503 instead of queueing without bound.
    pub max_in_flight_records: u32,
    /// How long a busy producer gathers records into one request (librdkafka `linger.ms`):
    /// fewer, larger requests cost the stages and the broker less per record. A record produced
    /// while nothing else is in flight is sent at once, so a quiet pipeline does not wait it.
    pub linger_ms: u32,
    /// A consumer-group member not heard of for this long is dropped and its partitions go to
    /// the others (librdkafka `session.timeout.ms`; Apache Kafka's minimum is 6 s). Short, so
    /// that a crashed stage's partitions move on within seconds.
    #[serde(with = "millis")]
    pub consumer_session_timeout_ms: Duration,
    /// How often a member tells the group it is alive (librdkafka `heartbeat.interval.ms`),
    /// from librdkafka's own thread: a stage busy with a record still heartbeats.
    #[serde(with = "millis")]
    pub consumer_heartbeat_interval_ms: Duration,
    /// Static group membership (librdkafka `group.instance.id`, derived from the host name and
    /// the stage's listen port, so unique per process and the same after a restart): a stage
    /// that crashed and comes back at once takes its partitions back without waiting for its
    /// old session to expire. On Apache Kafka a stage that stops for good holds its partitions
    /// for `consumer_session_timeout_ms`. Off by default: the local broker (tansu) never
    /// releases the partitions of a static member that does not come back.
    pub consumer_static_membership: bool,
    /// How the stage reaches the broker (librdkafka `security.protocol`): `plaintext` (the local
    /// broker), `sasl_plaintext` or `sasl_ssl` (Apache Kafka with SASL, as docker-compose runs it).
    pub security_protocol: String,
    /// SASL mechanism (librdkafka `sasl.mechanism`), used with a `sasl_…` protocol.
    pub sasl_mechanism: String,
    /// This stage's own SASL user and password (each stage its own, so that the broker's ACLs
    /// tell them apart); used with a `sasl_…` protocol.
    pub sasl_username: String,
    pub sasl_password: crate::secret::Secret,
    /// Extra librdkafka properties (e.g. `ssl.ca.location`), passed through unchanged.
    pub client_options: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        section_defaults("kafka")
    }
}

/// `[clickhouse]`: where the sinks write and the dashboards read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseSettings {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: crate::secret::Secret,
}

impl Default for ClickHouseSettings {
    fn default() -> Self {
        section_defaults("clickhouse")
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
    fn the_defaults_are_the_documented_file() {
        let kafka = KafkaSettings::default();
        assert_eq!(kafka.beats_topic, "ucx.beats");
        assert_eq!(kafka.delivery_timeout_ms, Duration::from_secs(10));
        assert_eq!(ClickHouseSettings::default().database, "ucx");
    }

    #[test]
    fn a_zero_duration_is_refused_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("ucx.toml", "[kafka]\ndelivery_timeout_ms = 0\n")?;
            let error = load::<StageConfig>(Some(Path::new("ucx.toml"))).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("delivery_timeout_ms"), "{message}");
            assert!(message.contains("at least 1 (milliseconds)"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let error = load::<StageConfig>(Some(Path::new("/nonexistent/ucx.toml"))).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}
