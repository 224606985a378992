//! Hot reload: the rule file (or the advisory catalogue) is read again whenever its modification
//! time or size changes (checked every `interval`; polling works on every filesystem, bind mounts
//! included). A new version replaces the running one only if it validates; otherwise the old
//! one stays and the refusal is logged and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prometheus::{IntCounterVec, IntGauge};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::library::{RuleLibrary, BUILT_IN};
use crate::advisories::Catalogue;

/// A file the processors follow: the rule library or the advisory catalogue.
pub trait Followed: Sized + Send + Sync + 'static {
    /// What it is, for log lines and errors.
    const WHAT: &'static str;
    fn built_in() -> Self;
    fn parse(text: &str) -> anyhow::Result<Self>;
    fn version(&self) -> u32;
    fn entries(&self) -> usize;
}

impl Followed for RuleLibrary {
    const WHAT: &'static str = "rule library";
    fn built_in() -> Self {
        RuleLibrary::parse(BUILT_IN).expect("the built-in rule library validates")
    }
    fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(RuleLibrary::parse(text)?)
    }
    fn version(&self) -> u32 {
        self.library_version
    }
    fn entries(&self) -> usize {
        self.rules.len()
    }
}

impl Followed for Catalogue {
    const WHAT: &'static str = "advisory catalogue";
    fn built_in() -> Self {
        Catalogue::parse(crate::advisories::BUILT_IN)
            .expect("the built-in advisory catalogue validates")
    }
    fn parse(text: &str) -> anyhow::Result<Self> {
        Catalogue::parse(text)
    }
    fn version(&self) -> u32 {
        self.catalogue_version
    }
    fn entries(&self) -> usize {
        self.advisories.len()
    }
}

#[derive(Clone)]
pub struct ReloadMetrics {
    /// `processor_rules_reloads_total{outcome="applied"|"refused"}` (or the catalogue's)
    pub reloads: IntCounterVec,
    /// `processor_rules_library_version` (or `processor_advisories_catalogue_version`)
    pub library_version: IntGauge,
}

/// Loads the library or catalogue (the file, or the built-in one without a file) and, with a
/// file, keeps following it until shutdown. Fails when the initial one does not validate.
pub fn start<T: Followed>(
    file: Option<PathBuf>,
    interval: Duration,
    metrics: ReloadMetrics,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Arc<T>>> {
    let what = T::WHAT;
    let Some(file) = file else {
        let library = T::built_in();
        metrics.library_version.set(library.version().into());
        tracing::info!(entries = library.entries(), "{what}: built in");
        return Ok(watch::channel(Arc::new(library)).1);
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|error| anyhow::anyhow!("reading the {what} {}: {error}", file.display()))?;
    let library =
        T::parse(&text).map_err(|error| anyhow::anyhow!("{what} {}: {error}", file.display()))?;
    metrics.library_version.set(library.version().into());
    tracing::info!(file = %file.display(), entries = library.entries(), version = library.version(), "{what} loaded");
    let (sender, receiver) = watch::channel(Arc::new(library));
    tokio::spawn(follow(file, interval, sender, metrics, shutdown));
    Ok(receiver)
}

fn stamp(file: &Path) -> Option<(SystemTime, u64)> {
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

async fn follow<T: Followed>(
    file: PathBuf,
    interval: Duration,
    sender: watch::Sender<Arc<T>>,
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
            .and_then(|text| T::parse(&text));
        let what = T::WHAT;
        match parsed {
            Ok(library) => {
                tracing::info!(file = %file.display(), entries = library.entries(), version = library.version(), "{what} reloaded");
                metrics.library_version.set(library.version().into());
                metrics.reloads.with_label_values(&["applied"]).inc();
                sender.send_replace(Arc::new(library));
            }
            Err(error) => {
                tracing::error!(file = %file.display(), %error, "{what} refused; the previous one stays in force");
                metrics.reloads.with_label_values(&["refused"]).inc();
            }
        }
    }
}
