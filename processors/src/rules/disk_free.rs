//! `disk_free_low`: a disk whose free space fell below a share of its size.

use ucx_schemas::beats::Disk;
use ucx_schemas::{Beat, BeatPayload, Severity};

use super::Finding;

pub const RULE_ID: &str = "disk_free_low";
const RULE_VERSION: i32 = 1;

pub struct DiskFreeRule {
    warning_percent: f64,
    critical_percent: f64,
}

impl DiskFreeRule {
    pub fn new(warning_percent: f64, critical_percent: f64) -> Self {
        debug_assert!(critical_percent <= warning_percent);
        DiskFreeRule {
            warning_percent,
            critical_percent,
        }
    }

    /// One finding per disk of a disks beat; nothing for other beats.
    pub fn evaluate(&self, beat: &Beat) -> Vec<Finding> {
        let BeatPayload::HardwareInfoDisks(disks) = &beat.payload else {
            return Vec::new();
        };
        disks
            .disks
            .iter()
            .filter(|disk| disk.size_bytes > 0)
            .map(|disk| self.judge(disk))
            .collect()
    }

    fn judge(&self, disk: &Disk) -> Finding {
        let free_percent = 100.0 * disk.free_bytes as f64 / disk.size_bytes as f64;
        let (severity, threshold) = if free_percent < self.critical_percent {
            (Some(Severity::Critical), self.critical_percent)
        } else if free_percent < self.warning_percent {
            (Some(Severity::Warning), self.warning_percent)
        } else {
            (None, self.warning_percent)
        };
        Finding {
            rule_id: RULE_ID,
            rule_version: RULE_VERSION,
            subject: format!("disk {}", disk.name),
            severity,
            observed_value: free_percent,
            threshold,
            summary: format!(
                "disk {} ({}) has {free_percent:.1}% free ({} of {} bytes); threshold {threshold}%",
                disk.name, disk.model, disk.free_bytes, disk.size_bytes
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ucx_schemas::beats::HardwareInfoDisks;
    use ucx_schemas::{Envelope, Region};

    fn disks_beat(free_of_100: &[i64]) -> Beat {
        Beat {
            envelope: Envelope {
                beat_id: "b".into(),
                installation_id: "i".into(),
                node_id: "n".into(),
                region: Region::EU,
                sent_at: 0,
                received_at: 0,
                source_ip: None,
            },
            payload: BeatPayload::HardwareInfoDisks(HardwareInfoDisks {
                disks: free_of_100
                    .iter()
                    .enumerate()
                    .map(|(index, &free)| Disk {
                        name: format!("{}:", (b'C' + index as u8) as char),
                        model: "m".into(),
                        size_bytes: 100,
                        free_bytes: free,
                    })
                    .collect(),
            }),
        }
    }

    #[test]
    fn severity_follows_the_thresholds_per_disk() {
        let findings = DiskFreeRule::new(15.0, 5.0).evaluate(&disks_beat(&[50, 10, 2]));
        let severities: Vec<_> = findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            severities,
            [None, Some(Severity::Warning), Some(Severity::Critical)]
        );
        assert_eq!(findings[2].subject, "disk E:");
        assert_eq!(findings[2].observed_value, 2.0);
        assert_eq!(findings[2].threshold, 5.0);
    }

    #[test]
    fn a_zero_sized_disk_is_not_judged() {
        let mut beat = disks_beat(&[0]);
        if let BeatPayload::HardwareInfoDisks(disks) = &mut beat.payload {
            disks.disks[0].size_bytes = 0;
        }
        assert!(DiskFreeRule::new(15.0, 5.0).evaluate(&beat).is_empty());
    }
}
