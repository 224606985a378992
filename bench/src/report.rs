//! The figures of a run, by section, printed as a table and optionally written as JSON.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::load::LoadResult;
use crate::raw::Throughput;

#[derive(Default)]
pub struct Report {
    /// Section → name → value, in the order they were measured.
    figures: Vec<(String, String, f64)>,
}

impl Report {
    pub fn new() -> Self {
        Report::default()
    }

    pub fn figure(&mut self, section: &str, name: &str, value: f64) {
        self.figures
            .push((section.to_string(), name.to_string(), value));
    }

    pub fn get(&self, section: &str, name: &str) -> f64 {
        self.figures
            .iter()
            .find(|(s, n, _)| s == section && n == name)
            .map_or(f64::NAN, |(_, _, value)| *value)
    }

    /// Both latencies of a probing phase, with their sample counts and the probes never seen.
    pub fn latencies(&mut self, section: &str, latencies: &crate::probe::Latencies) {
        self.latency(section, "beat_to_queryable", &latencies.queryable);
        self.figure(
            section,
            "beat_to_queryable_missing",
            latencies.queryable_missing as f64,
        );
        self.latency(section, "beat_to_alert", &latencies.alerting);
        self.figure(
            section,
            "beat_to_alert_missing",
            latencies.alerting_missing as f64,
        );
    }

    pub fn throughput(&mut self, section: &str, name: &str, throughput: &Throughput) {
        self.figure(
            section,
            &format!("{name}_per_second"),
            throughput.per_second(),
        );
        if throughput.bytes > 0 {
            self.figure(
                section,
                &format!("{name}_mib_per_second"),
                throughput.mib_per_second(),
            );
        }
    }

    pub fn load(&mut self, section: &str, name: &str, load: &LoadResult) {
        self.figure(section, &format!("{name}_beats"), load.beats as f64);
        self.figure(
            section,
            &format!("{name}_failed_requests"),
            load.failed as f64,
        );
        self.figure(
            section,
            &format!("{name}_beats_per_second"),
            load.beats_per_second(),
        );
        self.figure(section, &format!("{name}_p50_ms"), load.p(0.5));
        self.figure(section, &format!("{name}_p99_ms"), load.p(0.99));
    }

    pub fn latency(&mut self, section: &str, name: &str, histogram: &Histogram<u64>) {
        self.figure(section, &format!("{name}_samples"), histogram.len() as f64);
        if !histogram.is_empty() {
            self.figure(
                section,
                &format!("{name}_p50_ms"),
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
            );
            self.figure(
                section,
                &format!("{name}_p99_ms"),
                histogram.value_at_quantile(0.99) as f64 / 1000.0,
            );
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut section = "";
        for (s, name, value) in &self.figures {
            if s != section {
                out.push_str(&format!("\n[{s}]\n"));
                section = s;
            }
            let shown = if value.abs() >= 100.0 || value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            };
            out.push_str(&format!("  {name:<42} {shown:>14}\n"));
        }
        out
    }

    pub fn json(&self) -> String {
        let mut sections: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
        for (section, name, value) in &self.figures {
            sections.entry(section).or_default().insert(name, *value);
        }
        serde_json::to_string_pretty(&sections).expect("JSON")
    }
}
