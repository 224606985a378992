//! Hardware Info beats. Generated from the seed table's spec; keep in step with `avro/beats/hardware_info.*.avsc`.

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use crate::validation::{ItemPath, Validate, Violations, MAX_LIST_ITEMS};

/// `hardware_info.virtualization`: Hardware Info / Virtualization Info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoVirtualization {
    /// Whether the server is a virtual machine.
    pub is_virtual_machine: bool,
    /// Hypervisor vendor when known, e.g. VMware.
    #[serde(default)]
    pub hypervisor: Option<String>,
}

impl Validate for HardwareInfoVirtualization {
    fn validate(&self, _violations: &mut Violations) {}
}

/// `hardware_info.processors`: Hardware Info / Processors Info.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoProcessors {
    /// Installed processors.
    pub processors: Vec<Processor>,
}

/// One item of `HardwareInfoProcessors::processors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Processor {
    /// Processor name.
    pub name: String,
    /// E.g. GenuineIntel.
    pub manufacturer: String,
    /// 32 or 64.
    pub bitness: i32,
    /// Number of cores.
    pub cores: i64,
}

impl Validate for HardwareInfoProcessors {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.processors", self.processors.len(), MAX_LIST_ITEMS);
        for (index, item) in self.processors.iter().enumerate() {
            let path = ItemPath::new("data.processors", index);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_non_negative(path.field("cores"), item.cores);
        }
        for (index, processor) in self.processors.iter().enumerate() {
            if processor.bitness != 32 && processor.bitness != 64 {
                violations.push(
                    ItemPath::new("data.processors", index).field("bitness"),
                    "32 or 64",
                    processor.bitness.to_string(),
                );
            }
        }
    }
}

/// `hardware_info.memory`: Hardware Info / Memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoMemory {
    /// Total installed memory.
    pub total_bytes: i64,
    /// Memory reserved by hardware.
    pub reserved_bytes: i64,
    /// Memory available to programs (not in the 2024 table; needed for low-memory alerts).
    pub available_bytes: i64,
}

impl Validate for HardwareInfoMemory {
    fn validate(&self, violations: &mut Violations) {
        violations.check_non_negative("data.total_bytes", self.total_bytes);
        violations.check_non_negative("data.reserved_bytes", self.reserved_bytes);
        violations.check_non_negative("data.available_bytes", self.available_bytes);
        if self.total_bytes >= 0 && self.reserved_bytes > self.total_bytes {
            violations.push(
                "data.reserved_bytes",
                format!("at most total_bytes ({})", self.total_bytes),
                self.reserved_bytes.to_string(),
            );
        }
        if self.total_bytes >= 0 && self.available_bytes > self.total_bytes {
            violations.push(
                "data.available_bytes",
                format!("at most total_bytes ({})", self.total_bytes),
                self.available_bytes.to_string(),
            );
        }
    }
}

/// `hardware_info.disks`: Hardware Info / Disks: installed disks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoDisks {
    /// Installed disks.
    pub disks: Vec<Disk>,
}

/// One item of `HardwareInfoDisks::disks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disk {
    /// Volume or drive name, e.g. C:.
    pub name: String,
    /// Disk model.
    pub model: String,
    /// Capacity in bytes.
    pub size_bytes: i64,
    /// Free space in bytes (not in the 2024 table; read with the size, needed for disk-full alerts).
    pub free_bytes: i64,
}

impl Validate for HardwareInfoDisks {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.disks", self.disks.len(), MAX_LIST_ITEMS);
        for (index, item) in self.disks.iter().enumerate() {
            let path = ItemPath::new("data.disks", index);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_non_negative(path.field("size_bytes"), item.size_bytes);
            violations.check_non_negative(path.field("free_bytes"), item.free_bytes);
        }
        for (index, disk) in self.disks.iter().enumerate() {
            if disk.size_bytes >= 0 && disk.free_bytes > disk.size_bytes {
                violations.push(
                    ItemPath::new("data.disks", index).field("free_bytes"),
                    format!("at most size_bytes ({})", disk.size_bytes),
                    disk.free_bytes.to_string(),
                );
            }
        }
    }
}

/// `hardware_info.network`: Hardware Info / Network: the server's network adapters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfoNetwork {
    /// Network adapters.
    pub adapters: Vec<NetworkAdapter>,
}

/// One item of `HardwareInfoNetwork::adapters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkAdapter {
    /// Adapter name.
    pub name: String,
    /// Whether the address comes from DHCP.
    pub dhcp_enabled: bool,
    /// DNS server addresses.
    pub dns_servers: Vec<String>,
    /// Default gateways.
    pub gateways: Vec<String>,
    /// The server's own addresses (the terms: a server address, not personal data).
    pub ip_addresses: Vec<String>,
}

impl Validate for HardwareInfoNetwork {
    fn validate(&self, violations: &mut Violations) {
        violations.check_list_len("data.adapters", self.adapters.len(), MAX_LIST_ITEMS);
        for (index, item) in self.adapters.iter().enumerate() {
            let path = ItemPath::new("data.adapters", index);
            violations.check_not_empty(path.field("name"), &item.name);
            violations.check_list_len(
                path.field("dns_servers"),
                item.dns_servers.len(),
                MAX_LIST_ITEMS,
            );
            violations.check_list_len(path.field("gateways"), item.gateways.len(), MAX_LIST_ITEMS);
            violations.check_list_len(
                path.field("ip_addresses"),
                item.ip_addresses.len(),
                MAX_LIST_ITEMS,
            );
        }
    }
}
