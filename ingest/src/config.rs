//! The gateway's configuration: `[kafka]` and `[ingest]` of the deployment's TOML file.

use serde::Deserialize;
use ucx_common::config::KafkaSettings;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    pub kafka: KafkaSettings,
    pub ingest: IngestSettings,
}

/// `[ingest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSettings {
    /// Address of the HTTP listener (beats, `/metrics`, `/health`).
    pub listen: String,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// `Retry-After` sent with 503 when the broker is unavailable.
    pub retry_after_seconds: u32,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            retry_after_seconds: 5,
        }
    }
}
