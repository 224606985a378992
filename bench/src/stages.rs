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
