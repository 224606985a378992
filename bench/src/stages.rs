//! The pipeline's services as processes of their own, and what the kernel says they cost:
//! CPU seconds and peak resident memory (`/proc`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// A running service binary.
pub struct Stage {
    pub url: String,
    child: Child,
}

impl Stage {
    /// Starts `bin_dir/binary` with `env`, logging to `log_dir/name.log`, and waits for `/ready`.
    pub async fn start(
        name: &'static str,
        bin_dir: &Path,
        env: &[(String, String)],
        port: u16,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log")))?;
        let child = Command::new(bin_dir.join(name))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("UCX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin_dir.join(name).display()))?;
        let stage = Stage {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        let ready = format!("{}/ready", stage.url);
        for _ in 0..600 {
            if reqwest::get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(stage);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("{name} not ready after 60 s; see {}", log_dir.display())
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: i32) -> f64 {
    let ticks = procfs::ticks_per_second() as f64;
    procfs::process::Process::new(pid)
        .and_then(|process| process.stat())
        .map(|stat| (stat.utime + stat.stime) as f64 / ticks)
        .unwrap_or(0.0)
}

/// Peak resident memory of a process, MiB.
pub fn peak_rss_mib(pid: i32) -> f64 {
    procfs::process::Process::new(pid)
        .and_then(|process| process.status())
        .ok()
        .and_then(|status| status.vmhwm)
        .map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// The PID a services.sh pid file names.
pub fn service_pid(services_dir: &Path, name: &str) -> Option<i32> {
    let path: PathBuf = services_dir.join(format!("{name}.pid"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
