//! Hot reload: the rule file is read again whenever its modification time or size changes
//! (checked every `interval`; polling works on every filesystem, bind mounts included). A new
//! library replaces the running one only if it validates; otherwise the old one stays and the
//! refusal is logged and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus::{IntCounterVec, IntGauge};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::library::{RuleLibrary, BUILT_IN};

#[derive(Clone)]
pub struct ReloadMetrics {
    /// `processor_rules_reloads_total{outcome="applied"|"refused"}`
    pub reloads: IntCounterVec,
    /// `processor_rules_library_version`
    pub library_version: IntGauge,
}

/// Loads the library (the file, or the built-in one without a file) and, with a file, keeps
/// following it until shutdown. Fails when the initial library does not validate.
pub fn start(
    file: Option<PathBuf>,
    interval: Duration,
    metrics: ReloadMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Arc<RuleLibrary>>> {
    let Some(file) = file else {
        let library = RuleLibrary::parse(BUILT_IN).expect("the built-in rule library validates");
        metrics.library_version.set(library.library_version.into());
        tracing::info!(rules = library.rules.len(), "rule library: built in");
        return Ok(watch::channel(Arc::new(library)).1);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|error| anyhow::anyhow!("reading the rule file {}: {error}", file.display()))?;
    let library = RuleLibrary::parse(&text)
        .map_err(|error| anyhow::anyhow!("rule file {}: {error}", file.display()))?;
    metrics.library_version.set(library.library_version.into());
    tracing::info!(file = %file.display(), rules = library.rules.len(), version = library.library_version, "rule library loaded");
    let (sender, receiver) = watch::channel(Arc::new(library));
    tokio::spawn(follow(file, interval, sender, metrics, shutdown));
    Ok(receiver)
}

fn stamp(file: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

async fn follow(
    file: PathBuf,
    interval: Duration,
    sender: watch::Sender<Arc<RuleLibrary>>,
    metrics: ReloadMetrics,
    shutdown: CancellationToken,
) {
    let mut seen = stamp(&file);
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = stamp(&file);
        if now == seen {
            continue;
        }
        seen = now;
        let parsed = std::fs::read_to_string(&file)
            .map_err(anyhow::Error::from)
            .and_then(|text| RuleLibrary::parse(&text).map_err(anyhow::Error::from));
        match parsed {
            Ok(library) => {
                tracing::info!(file = %file.display(), rules = library.rules.len(), version = library.library_version, "rule library reloaded");
                metrics.library_version.set(library.library_version.into());
                metrics.reloads.with_label_values(&["applied"]).inc();
                sender.send_replace(Arc::new(library));
            }
            Err(error) => {
                tracing::error!(file = %file.display(), %error, "rule file refused; the previous rules stay in force");
                metrics.reloads.with_label_values(&["refused"]).inc();
            }
        }
    }
}
