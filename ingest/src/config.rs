//! The gateway's configuration: `[kafka]` and `[ingest]` of the deployment's TOML file.

use serde::Deserialize;
use ucx_common::config::KafkaSettings;
use ucx_schemas::PiiPolicy;

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
    /// Most beats one batch request may carry; longer batches get 413.
    pub max_batch_beats: usize,
    /// `Retry-After` sent with 503 when the broker is unavailable.
    pub retry_after_seconds: u32,
    /// Personal data in a beat (e-mail addresses, user-profile paths, account names):
    /// `redact` replaces it and accepts the beat, `reject` refuses the beat with 422.
    pub pii_policy: PiiPolicy,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            max_batch_beats: 500,
            retry_after_seconds: 5,
            pii_policy: PiiPolicy::Redact,
        }
    }
}
