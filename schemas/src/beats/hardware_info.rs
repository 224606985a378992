//! Hardware Info beats.

use serde::{Deserialize, Serialize};

use crate::validation::{Validate, Violations, MAX_LIST_ITEMS};

/// Hardware Info / Disks: the installed disks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoDisks {
    pub disks: Vec<Disk>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Volume or drive name, e.g. `C:`.
    pub name: String,
    pub model: String,
    pub size_bytes: i64,
    /// Not in the 2024 table; read together with the size, and needed for disk-full alerts.
    pub free_bytes: i64,
}

impl Validate for HardwareInfoDisks {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.disks", self.disks.len(), MAX_LIST_ITEMS);
        for (index, disk) in self.disks.iter().enumerate() {
            let path = format!("data.disks[{index}]");
            violations.check_not_empty(&format!("{path}.name"), &disk.name);
            violations.check_non_negative(&format!("{path}.size_bytes"), disk.size_bytes);
            violations.check_non_negative(&format!("{path}.free_bytes"), disk.free_bytes);
            if disk.size_bytes >= 0 && disk.free_bytes > disk.size_bytes {
                violations.push(
                    format!("{path}.free_bytes"),
                    format!("at most size_bytes ({})", disk.size_bytes),
                    disk.free_bytes.to_string(),
                );
            }
        }
    }
}
