//! The ground-truth label file: one JSON object per line, first the run (which installations,
//! which simulated period), then each fault as it is injected.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::faults::Fault;

/// What the report needs to know about the run besides its faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub installations: Vec<String>,
    /// Simulated start, UTC milliseconds.
    pub sim_start_ms: i64,
    pub speed: f64,
    pub tick_s: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Run { run: RunInfo },
    Fault(Box<Fault>),
}

/// Appends labels to the file, each line flushed as it is written (a run stopped early keeps
/// what it injected so far).
pub struct LabelWriter {
    file: Mutex<std::fs::File>,
}

impl LabelWriter {
    pub fn create(path: &Path, run: &RunInfo) -> anyhow::Result<Self> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("creating the label file {}", path.display()))?;
        let writer = LabelWriter {
            file: Mutex::new(file),
        };
        writer.write(&Line::Run { run: run.clone() })?;
        Ok(writer)
    }

    pub fn injected(&self, fault: &Fault) -> anyhow::Result<()> {
        self.write(&Line::Fault(Box::new(fault.clone())))
    }

    fn write(&self, line: &Line) -> anyhow::Result<()> {
        let mut text = serde_json::to_string(line)?;
        text.push('\n');
        let mut file = self.file.lock().expect("label writer poisoned");
        file.write_all(text.as_bytes())?;
        Ok(file.flush()?)
    }
}

/// Reads a label file: the run and its faults.
pub fn read(path: &Path) -> anyhow::Result<(RunInfo, Vec<Fault>)> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("opening the label file {}", path.display()))?;
    let mut run = None;
    let mut faults = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line)
            .with_context(|| format!("{} line {}", path.display(), number + 1))?
        {
            Line::Run { run: info } => run = Some(info),
            Line::Fault(fault) => faults.push(*fault),
        }
    }
    let run = run.with_context(|| format!("{} has no run line", path.display()))?;
    Ok((run, faults))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{schedule, Target};

    #[test]
    fn what_is_written_reads_back() {
        let dir = std::env::temp_dir().join(format!("ucx-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("labels.jsonl");
        let run = RunInfo {
            installations: vec!["inst-0001".into()],
            sim_start_ms: 5,
            speed: 120.0,
            tick_s: 60,
        };
        let targets = [Target {
            installation_id: "inst-0001",
            customer_id: "c",
            nodes: 1,
        }];
        let faults = schedule(&targets, 1.0, 0, 3_600_000, 3);
        let writer = LabelWriter::create(&path, &run).unwrap();
        writer.injected(&faults[0]).unwrap();
        assert_eq!(read(&path).unwrap(), (run, faults));
        std::fs::write(&path, "{\"nonsense\": 1}\n").unwrap();
        let error = format!("{:#}", read(&path).unwrap_err());
        assert!(error.contains("line 1"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
