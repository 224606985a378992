//! Delivers a tick's beats like a well-behaved agent: one batch request; beats the gateway could
//! not store for now (503, 429, no answer) are sent again with the same beat ids after a
//! backoff until accepted; beats refused for their content are counted and logged, never
//! retried. Optionally records every beat the gateway acknowledged (the fault-injection tests
//! compare it with ClickHouse).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;
use ucx_schemas::Beat;

#[derive(Default)]
pub struct Counts {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    /// Beats sent again after a retryable answer.
    pub retried: AtomicU64,
    /// Beats still not accepted when the run had to end.
    pub abandoned: AtomicU64,
}

/// The final counts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub accepted: u64,
    pub refused: u64,
    pub retried: u64,
    pub abandoned: u64,
}

impl Counts {
    pub fn totals(&self) -> Totals {
        Totals {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }

    pub fn log(&self) {
        tracing::info!(
            accepted = self.accepted.load(Ordering::Relaxed),
            refused = self.refused.load(Ordering::Relaxed),
            retried = self.retried.load(Ordering::Relaxed),
            abandoned = self.abandoned.load(Ordering::Relaxed),
            "beats so far"
        );
    }
}

/// One line per acknowledged beat: `beat_id`, installation, node, category (tab-separated).
pub struct AckLog {
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl AckLog {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating the acknowledgement log {}", path.display()))?;
        Ok(AckLog {
            file: Mutex::new(std::io::BufWriter::new(file)),
        })
    }

    fn record(&self, beat: &Beat) {
        let mut file = self.file.lock().expect("ack log poisoned");
        let envelope = &beat.envelope;
        if let Err(error) = writeln!(
            file,
            "{}\t{}\t{}\t{}",
            envelope.beat_id,
            envelope.installation_id,
            envelope.node_id,
            beat.category().id()
        ) {
            tracing::error!(%error, "writing the acknowledgement log");
        }
    }

    pub fn flush(&self) -> std::io::Result<()> {
        self.file.lock().expect("ack log poisoned").flush()
    }
}

pub struct Poster {
    pub client: reqwest::Client,
    pub url: String,
    pub counts: Counts,
    pub acks: Option<AckLog>,
    /// Cancelled when retrying must stop (some time after the run was asked to stop).
    pub abandon: CancellationToken,
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

impl Poster {
    /// Posts `beats` as one batch with the installation's `key` until each is accepted, refused
    /// for its content, or abandoned.
    pub async fn deliver(&self, key: &str, mut beats: Vec<Beat>) {
        let mut backoff = Duration::from_millis(200);
        while !beats.is_empty() {
            let body: Vec<serde_json::Value> = beats.iter().map(Beat::to_wire_json).collect();
            let answer = self
                .client
                .post(&self.url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await;
            let retry: Vec<Beat> = match answer {
                Err(error) => {
                    tracing::warn!(%error, beats = beats.len(), "gateway unreachable; will retry");
                    beats
                }
                Ok(response) => {
                    let status = response.status();
                    let answer: serde_json::Value = response.json().await.unwrap_or_default();
                    self.sort(status, &answer, beats)
                }
            };
            if retry.is_empty() {
                return;
            }
            self.counts
                .retried
                .fetch_add(retry.len() as u64, Ordering::Relaxed);
            tokio::select! {
                _ = self.abandon.cancelled() => {
                    self.counts.abandoned.fetch_add(retry.len() as u64, Ordering::Relaxed);
                    tracing::warn!(beats = retry.len(), "giving up on beats the gateway did not accept");
                    return;
                }
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            beats = retry;
        }
    }

    /// Records the accepted beats and returns those to send again.
    fn sort(&self, status: StatusCode, answer: &serde_json::Value, beats: Vec<Beat>) -> Vec<Beat> {
        let Some(results) = answer["results"].as_array() else {
            // The request as a whole was answered (auth, size, overload…).
            if retryable(status) {
                tracing::warn!(%status, %answer, "gateway busy; will retry");
                return beats;
            }
            self.counts
                .refused
                .fetch_add(beats.len() as u64, Ordering::Relaxed);
            tracing::error!(%status, %answer, beats = beats.len(), "batch refused");
            return Vec::new();
        };
        let mut retry = Vec::new();
        for (beat, result) in beats.into_iter().zip(results) {
            let beat_status = result["status"]
                .as_u64()
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if beat_status.is_success() {
                self.counts.accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(acks) = &self.acks {
                    acks.record(&beat);
                }
            } else if retryable(beat_status) {
                retry.push(beat);
            } else {
                self.counts.refused.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%result, "beat refused");
            }
        }
        retry
    }
}
