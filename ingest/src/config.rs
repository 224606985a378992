//! The gateway's configuration: `[kafka]` and `[ingest]` of the deployment's TOML file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ucx_common::config::{seconds, section_defaults, KafkaSettings};
use ucx_schemas::{PiiPolicy, Region};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    pub kafka: KafkaSettings,
    pub ingest: IngestSettings,
}

/// `[ingest]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Address of the public HTTP listener: `POST /v1/beats`, `/openapi.json`, `/health`.
    pub listen: String,
    /// Address of the operator's listener: the admin API (`/v1/admin/…`), `/metrics`, `/ready`,
    /// `/health`, `/openapi.json`. Keep it on loopback or an internal network: it is plain HTTP.
    pub admin_listen: String,
    /// Largest request body accepted, after decompression; larger ones get 413.
    pub max_body_bytes: usize,
    /// Most beats one batch request may carry; longer batches get 413.
    pub max_batch_beats: usize,
    /// `Retry-After` sent with 503 when the broker is unavailable.
    pub retry_after_seconds: u32,
    /// Personal data in a beat (e-mail addresses, user-profile paths, account names):
    /// `redact` replaces it and accepts the beat, `reject` refuses the beat with 422.
    pub pii_policy: PiiPolicy,
    /// Bearer token of the admin API (`/v1/admin/…`); without one the admin API is off.
    /// Prefer setting it through `UCX_INGEST__ADMIN_TOKEN` to keeping it in a file.
    pub admin_token: Option<ucx_common::secret::Secret>,
    /// Beats per second one installation may send, sustained.
    pub rate_limit_beats_per_second: u32,
    /// Beats one installation may send at once; at least `max_batch_beats`.
    pub rate_limit_burst: u32,
    /// Proxies (addresses or networks such as `10.0.0.0/8`) whose `Forwarded` /
    /// `X-Forwarded-For` headers are believed; from anyone else they are ignored.
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain and private key: with both set the gateway speaks HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// A connection that has not sent a whole request head within this time is closed.
    #[serde(with = "seconds")]
    pub header_read_timeout_s: Duration,
    /// A request body that has not fully arrived within this time (counted from the end of
    /// the head) gets 408: a Content-Length larger than the body is not waited on forever.
    #[serde(with = "seconds")]
    pub body_timeout_s: Duration,
    /// Open connections at most; requests on connections beyond it get 503 and are closed.
    pub max_connections: usize,
    /// Open connections from one address at most (proxies in `trusted_proxies` excepted).
    pub max_connections_per_address: usize,
    /// Beat requests handled at once at most; more get 503 with `Retry-After`.
    pub max_requests_in_flight: usize,
    /// Requests with a missing or wrong key one address may make per minute; more get 429.
    pub failed_authentications_per_minute: u32,
    /// Beats this gateway remembers (installation, beat id and a hash of the content): a beat
    /// whose id it remembers with other content gets 409 `beat_id_conflict` instead of replacing
    /// the stored row. 0 turns the check off.
    pub beat_id_window: usize,
    /// Data residency: the region this gateway serves; installations of customers registered in
    /// another region get 421 `wrong_region`. `None`: every region (one deployment for all).
    pub region: Option<Region>,
    /// Each region's beats endpoint (`EU`, `US`, `ME` → URL), named in a 421 answer.
    pub region_endpoints: BTreeMap<String, String>,
}

impl Default for IngestSettings {
    fn default() -> Self {
        section_defaults("ingest")
    }
}

impl IngestSettings {
    /// Checks what the types cannot; a bad setting stops the gateway at start with a message.
    pub fn check(&self) -> anyhow::Result<()> {
        for region in self.region_endpoints.keys() {
            if region_named(region).is_none() {
                anyhow::bail!(
                    "ingest.region_endpoints names region {region:?}; regions are EU, US and ME"
                );
            }
        }
        if self.rate_limit_beats_per_second == 0 {
            anyhow::bail!("ingest.rate_limit_beats_per_second must be at least 1");
        }
        if (self.rate_limit_burst as usize) < self.max_batch_beats.max(1) {
            anyhow::bail!(
                "ingest.rate_limit_burst ({}) must be at least ingest.max_batch_beats ({}), or a full batch could never be accepted",
                self.rate_limit_burst,
                self.max_batch_beats
            );
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|token| token.expose().len() < 16)
        {
            anyhow::bail!("ingest.admin_token must be at least 16 characters long");
        }
        for (key, value) in [
            ("max_connections", self.max_connections),
            (
                "max_connections_per_address",
                self.max_connections_per_address,
            ),
            ("max_requests_in_flight", self.max_requests_in_flight),
            (
                "failed_authentications_per_minute",
                self.failed_authentications_per_minute as usize,
            ),
        ] {
            if value == 0 {
                anyhow::bail!("ingest.{key} must be at least 1");
            }
        }
        // port 0 asks for any free port: two of them never collide
        if self.admin_listen.trim() == self.listen.trim() && !self.listen.ends_with(":0") {
            anyhow::bail!(
                "ingest.admin_listen ({}) must differ from ingest.listen: the admin API, /metrics and /ready stay off the public listener",
                self.admin_listen
            );
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            anyhow::bail!(
                "ingest.tls_cert_file and ingest.tls_key_file go together: set both or neither"
            );
        }
        Ok(())
    }
}

/// The region of a `region_endpoints` key.
fn region_named(name: &str) -> Option<Region> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

impl IngestSettings {
    /// The beats endpoint of `region`, if configured.
    pub fn endpoint_of(&self, region: Region) -> Option<&str> {
        self.region_endpoints
            .iter()
            .find(|(name, _)| region_named(name) == Some(region))
            .map(|(_, url)| url.as_str())
    }
}
