//! Stages as processes of their own, for tests that kill them (SIGKILL, SIGTERM) and for the
//! benchmark. A stage's whole configuration is its typed config, written to a TOML file the
//! process reads (`UCX_CONFIG`); no `UCX_…` variable is passed or inherited, so what a test
//! sets is exactly what the stage runs with.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The configuration of one stage, typed.
#[derive(Debug, Clone)]
pub enum StageConfig {
    Gateway(ucx_ingest::IngestConfig),
    Processors(ucx_processors::ProcessorConfig),
    Sinks(ucx_sinks::SinkConfig),
    Notifier(Box<ucx_notifier::NotifierConfig>),
}

impl StageConfig {
    /// The stage's binary in a `target/<profile>` folder.
    pub fn binary_name(&self) -> &'static str {
        match self {
            StageConfig::Gateway(_) => "ucx-ingest",
            StageConfig::Processors(_) => "ucx-processors",
            StageConfig::Sinks(_) => "ucx-sinks",
            StageConfig::Notifier(_) => "ucx-notifier",
        }
    }

    /// The address the stage listens on (its `/metrics`, `/health`, `/ready`).
    pub fn listen(&mut self) -> &mut String {
        match self {
            StageConfig::Gateway(config) => &mut config.ingest.listen,
            StageConfig::Processors(config) => &mut config.processors.listen,
            StageConfig::Sinks(config) => &mut config.sinks.listen,
            StageConfig::Notifier(config) => &mut config.notifier.listen,
        }
    }

    /// The gateway's admin listener (admin API, `/metrics`, `/ready`); other stages have one
    /// listener only.
    pub fn admin_listen(&mut self) -> Option<&mut String> {
        match self {
            StageConfig::Gateway(config) => Some(&mut config.ingest.admin_listen),
            _ => None,
        }
    }

    /// The configuration file the process reads.
    pub fn to_toml(&self) -> String {
        fn text(config: &impl Serialize) -> String {
            toml::to_string(config).expect("stage configurations serialise to TOML")
        }
        match self {
            StageConfig::Gateway(config) => text(config),
            StageConfig::Processors(config) => text(config),
            StageConfig::Sinks(config) => text(config),
            StageConfig::Notifier(config) => text(config),
        }
    }
}

/// A stage binary run as a process, on a free loopback port, logging to a file that is
/// printed when a test fails; killed with SIGKILL when dropped.
pub struct StageProcess {
    pub name: String,
    binary: PathBuf,
    config_file: PathBuf,
    port: u16,
    /// The gateway's admin listener's port; other stages answer everything on `port`.
    admin_port: u16,
    log: PathBuf,
    log_filter: String,
    child: Option<Child>,
    starts: u32,
}

impl StageProcess {
    /// Prepares `binary` with `config` (its listen address set to a free port) in `dir`, where
    /// its configuration file and log go. Not started yet.
    pub fn new(
        name: &str,
        binary: impl Into<PathBuf>,
        mut config: StageConfig,
        dir: &Path,
    ) -> Self {
        let port = crate::free_port();
        *config.listen() = format!("127.0.0.1:{port}");
        let admin_port = match config.admin_listen() {
            Some(admin_listen) => {
                let admin_port = crate::free_port();
                *admin_listen = format!("127.0.0.1:{admin_port}");
                crate::remember_admin_url(
                    &format!("http://127.0.0.1:{port}"),
                    &format!("http://127.0.0.1:{admin_port}"),
                );
                admin_port
            }
            None => port,
        };
        let config_file = dir.join(format!("{name}.toml"));
        std::fs::write(&config_file, config.to_toml()).expect("writing the stage's config");
        StageProcess {
            name: name.to_string(),
            binary: binary.into(),
            config_file,
            port,
            admin_port,
            log: dir.join(format!("{name}.log")),
            log_filter: "info,librdkafka=warn,rdkafka=warn".into(),
            child: None,
            starts: 0,
        }
    }

    /// `UCX_LOG` of the process (default: info).
    pub fn log_filter(mut self, filter: &str) -> Self {
        self.log_filter = filter.to_string();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where its operator answers: `/metrics`, `/ready` (and the gateway's admin API).
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the stage's log file");
        let mut command = Command::new(&self.binary);
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("UCX_")) {
            command.env_remove(key);
        }
        let child = command
            .env("UCX_CONFIG", &self.config_file)
            .env("UCX_LOG", &self.log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {}: {error}", self.binary.display()));
        self.child = Some(child);
        self.starts += 1;
    }

    /// Waits until `/ready` answers 200; panics after `timeout` with the log's tail.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.is_ready().await {
            assert!(
                Instant::now() < deadline,
                "{} not ready after {timeout:?}; its log ends:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn is_ready(&self) -> bool {
        reqwest::get(format!("{}/ready", self.admin_url()))
            .await
            .is_ok_and(|response| response.status().is_success())
    }

    /// How the process ended, if it has (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().expect("waiting")?;
        self.child = None;
        Some(status)
    }

    /// SIGKILL: no flush, no commit, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and how the process ended (within 30 s).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(
            status.is_ok_and(|status| status.success()),
            "kill -TERM {}",
            self.name
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not exit within 30 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for StageProcess {
    fn drop(&mut self) {
        if std::thread::panicking() && self.starts > 0 {
            eprintln!(
                "--- {} (started {} times), last lines:\n{}",
                self.name,
                self.starts,
                self.log_tail()
            );
        }
        crate::forget_admin_url(&self.url(), &self.admin_url());
        self.kill9();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a process reads is what the test built: each stage's config, written as the process
    /// gets it, loads back through the stages' own loader unchanged.
    #[test]
    fn every_stage_config_survives_its_file() {
        let dir = std::env::temp_dir().join(crate::unique("config-round-trip"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut gateway = ucx_ingest::IngestConfig::default();
        gateway.ingest.admin_token = Some("a-token-of-16-characters".into());
        gateway.ingest.trusted_proxies = vec!["10.0.0.0/8".into()];
        let mut processors = ucx_processors::ProcessorConfig::default();
        processors.processors.rules_file = Some("/etc/ucx/rules.toml".into());
        processors.processors.checkpoint_interval_ms = Duration::from_millis(250);
        let mut sinks = ucx_sinks::SinkConfig::default();
        sinks.sinks.retention_days.insert("ucx_acd".into(), 7);
        sinks
            .kafka
            .client_options
            .insert("session.timeout.ms".into(), "6000".into());
        let mut notifier = ucx_notifier::NotifierConfig::default();
        notifier.notifier.digest_customers = vec!["cust-a".into()];
        notifier.notifier.smtp_security = ucx_notifier::config::SmtpSecurity::Starttls;

        /// Loaded as the process would: the file, and no `UCX_…` variable (the kit removes them).
        #[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own error
        fn round_trip<T: serde::de::DeserializeOwned>(dir: &Path, config: &StageConfig) -> T {
            let file = dir.join("stage.toml");
            std::fs::write(&file, config.to_toml()).unwrap();
            let mut loaded = None;
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                loaded = Some(ucx_common::config::load(Some(&file)).unwrap());
                Ok(())
            });
            loaded.unwrap()
        }
        let loaded: ucx_ingest::IngestConfig =
            round_trip(&dir, &StageConfig::Gateway(gateway.clone()));
        assert_eq!(loaded, gateway);
        let loaded: ucx_processors::ProcessorConfig =
            round_trip(&dir, &StageConfig::Processors(processors.clone()));
        assert_eq!(loaded, processors);
        let loaded: ucx_sinks::SinkConfig = round_trip(&dir, &StageConfig::Sinks(sinks.clone()));
        assert_eq!(loaded, sinks);
        let loaded: ucx_notifier::NotifierConfig =
            round_trip(&dir, &StageConfig::Notifier(Box::new(notifier.clone())));
        assert_eq!(loaded, notifier);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
