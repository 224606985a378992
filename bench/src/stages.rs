//! What the kernel says the pipeline's processes cost: CPU seconds and peak resident memory
//! (`/proc`). The stages run as processes through the test kit (`ucx_e2e::process`).

use std::path::{Path, PathBuf};

use ucx_e2e::process::StageProcess;

/// The process id of a running stage.
pub fn pid(stage: &StageProcess) -> i32 {
    stage.pid().expect("the stage runs") as i32
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: i32) -> f64 {
    let ticks = procfs::ticks_per_second() as f64;
    procfs::process::Process::new(pid)
        .and_then(|process| process.stat())
        .map(|stat| (stat.utime + stat.stime) as f64 / ticks)
        .unwrap_or(0.0)
}

/// The resident size of a process now, MiB.
pub fn rss_mib(pid: i32) -> f64 {
    status_mib(pid, |status| status.vmrss)
}

/// Peak resident memory of a process, MiB.
pub fn peak_rss_mib(pid: i32) -> f64 {
    status_mib(pid, |status| status.vmhwm)
}

/// A size in KiB from a process's `/proc/<pid>/status`, in MiB (0 when unreadable).
fn status_mib(pid: i32, size: impl FnOnce(procfs::process::Status) -> Option<u64>) -> f64 {
    procfs::process::Process::new(pid)
        .and_then(|process| process.status())
        .ok()
        .and_then(size)
        .map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// The PID a services.sh pid file names.
pub fn service_pid(services_dir: &Path, name: &str) -> Option<i32> {
    let path: PathBuf = services_dir.join(format!("{name}.pid"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Starts `perf record` (call graphs, 499 Hz) on each named process for `duration`, writing
/// `dir/<name>.perf.data`; the caller waits for the returned children.
pub fn profile(
    dir: &Path,
    processes: &[(&str, i32)],
    duration: std::time::Duration,
) -> anyhow::Result<Vec<std::process::Child>> {
    std::fs::create_dir_all(dir)?;
    processes
        .iter()
        .map(|(name, pid)| {
            std::process::Command::new("perf")
                .args(["record", "--quiet", "-F", "499", "-g", "-p"])
                .arg(pid.to_string())
                .arg("-o")
                .arg(dir.join(format!("{name}.perf.data")))
                .args(["--", "sleep"])
                .arg(duration.as_secs().to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|error| anyhow::anyhow!("starting perf (is it installed?): {error}"))
        })
        .collect()
}
