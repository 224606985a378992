//! Readiness: whether a service can do its work now, i.e. whether what it depends on (the
//! broker, ClickHouse, the customer registry) answers. Each dependency is probed in the
//! background; `/ready` answers 200 when every probe passed last time, else 503 naming what is
//! not reachable. Liveness (`/health`) stays 200 meanwhile: the service is fine, it waits.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tokio_util::sync::CancellationToken;

use crate::config::{ClickHouseSettings, KafkaSettings};

/// How often dependencies are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const NOT_CHECKED: &str = "not checked yet";

/// The last outcome of every named check; a check not run yet counts as not ready.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<&'static str, Result<(), String>>>>,
}

impl Readiness {
    /// Declares a check (not ready until it first passes).
    pub fn expect(&self, name: &'static str) {
        let mut checks = self.checks.lock().expect("readiness poisoned");
        checks.insert(name, Err(NOT_CHECKED.into()));
    }

    /// Records a check's outcome; a change either way is logged.
    pub fn set(&self, name: &'static str, outcome: Result<(), String>) {
        let mut checks = self.checks.lock().expect("readiness poisoned");
        match (checks.get(name), &outcome) {
            (Some(Ok(())) | None, Err(error)) => tracing::warn!(check = name, %error, "not ready"),
            (Some(Err(before)), Ok(())) if before != NOT_CHECKED => {
                tracing::info!(check = name, "ready again")
            }
            _ => {}
        }
        checks.insert(name, outcome);
    }

    /// Ready, or what is not.
    pub fn status(&self) -> Result<(), String> {
        let checks = self.checks.lock().expect("readiness poisoned");
        let failing: Vec<String> = checks
            .iter()
            .filter_map(|(name, outcome)| outcome.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(failing.join("; "))
        }
    }

    /// The names of the failing checks only (`broker`, `clickhouse`, …), for an answer to the
    /// internet: the details are in the log, where `set` wrote them.
    pub fn failing_checks(&self) -> Vec<&'static str> {
        let checks = self.checks.lock().expect("readiness poisoned");
        checks
            .iter()
            .filter(|(_, outcome)| outcome.is_err())
            .map(|(name, _)| *name)
            .collect()
    }

    /// Runs `probe` now and every couple of seconds until `shutdown`, recording it as `name`.
    pub fn probe<P, F>(&self, name: &'static str, shutdown: CancellationToken, probe: P)
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send,
    {
        self.expect(name);
        let readiness = self.clone();
        tokio::spawn(async move {
            loop {
                let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
                };
                readiness.set(name, outcome);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                }
            }
        });
    }

    /// Probes the broker: its metadata must come back.
    pub fn probe_broker(&self, settings: &KafkaSettings, shutdown: CancellationToken) {
        let client: Option<Arc<BaseConsumer>> = crate::kafka::metadata_client(settings)
            .map(Arc::new)
            .map_err(|error| tracing::error!(%error, "cannot build the broker probe"))
            .ok();
        self.probe("broker", shutdown, move || {
            let client = client.clone();
            async move {
                let client = client.ok_or("the probe's Kafka client could not be built")?;
                tokio::task::spawn_blocking(move || {
                    client
                        .fetch_metadata(None, PROBE_TIMEOUT)
                        .map(|_| ())
                        .map_err(|error| format!("unreachable ({error})"))
                })
                .await
                .map_err(|error| error.to_string())?
            }
        });
    }

    /// Probes ClickHouse with `SELECT 1`.
    pub fn probe_clickhouse(&self, settings: &ClickHouseSettings, shutdown: CancellationToken) {
        let client = crate::clickhouse::server_client(settings);
        self.probe("clickhouse", shutdown, move || {
            let client = client.clone();
            async move {
                client
                    .query("SELECT 1")
                    .fetch_one::<u8>()
                    .await
                    .map(|_| ())
                    .map_err(|error| format!("unreachable ({error})"))
            }
        });
    }
}

/// `/ready` for `readiness`.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Readiness>) -> impl IntoResponse {
    match readiness.status() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(failing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {failing}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_passed_last_time() {
        let readiness = Readiness::default();
        assert!(readiness.status().is_ok(), "nothing to wait for");
        readiness.expect("broker");
        readiness.set("clickhouse", Ok(()));
        assert_eq!(readiness.status(), Err("broker: not checked yet".into()));
        readiness.set("broker", Ok(()));
        assert!(readiness.status().is_ok());
        readiness.set("clickhouse", Err("unreachable (refused)".into()));
        assert_eq!(
            readiness.status(),
            Err("clickhouse: unreachable (refused)".into())
        );
    }
}
