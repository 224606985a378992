//! Beats: what a UCX Suite server sends, one category per schema (section 10 of the terms).

mod hardware_info;
mod processes;
mod software_info;
mod ucx_suite;

pub use hardware_info::{
    Disk, HardwareInfoDisks, HardwareInfoMemory, HardwareInfoNetwork, HardwareInfoProcessors,
    HardwareInfoVirtualization, NetworkAdapter, Processor,
};
pub use processes::{
    ProcessesRunningProcesses, ProcessesWindowsServices, RunningProcess, RunningService,
};
pub use software_info::{
    Hotfix, InstalledApplication, InstalledService, SoftwareInfoInstalledApplications,
    SoftwareInfoOs, SoftwareInfoWindowsFirewall, SoftwareInfoWindowsServices,
    SoftwareInfoWindowsUpdates,
};
pub use ucx_suite::{
    ConsoleCount, UcxSuiteAcd, UcxSuiteAttendantConsole, UcxSuiteCallRecording, UcxSuiteCluster,
    UcxSuiteContactManager, UcxSuiteDatabase, UcxSuiteDatabaseServer, UcxSuiteDigitalFax,
    UcxSuiteIvr, UcxSuiteLogging, UcxSuitePhoneLock, UcxSuiteSuiteInfo, UcxSuiteVoipArchitecture,
};

use serde::{Deserialize, Serialize};

use crate::validation::{Validate, Violations};

/// Data-centre region of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Region {
    EU,
    US,
    ME,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::EU => "EU",
            Region::US => "US",
            Region::ME => "ME",
        }
    }
}

/// Who sent a beat and when; the same record leads every beat schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUID chosen by the server; a retried beat keeps it, so it is the dedup key.
    pub beat_id: String,
    pub installation_id: String,
    pub node_id: String,
    pub region: Region,
    /// When the server took the measurement, UTC milliseconds.
    pub sent_at: i64,
    /// When the gateway accepted the beat, UTC milliseconds.
    pub received_at: i64,
    /// The server's own IP as seen by the gateway: the only address the terms allow.
    pub source_ip: Option<String>,
}

/// One beat: the envelope and the category's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    pub envelope: Envelope,
    pub payload: BeatPayload,
}

impl Beat {
    pub fn category(&self) -> Category {
        self.payload.category()
    }
}

/// How often a server sends a category: what liveness judges silence by, what the dashboards
/// call recent, and how the simulator paces its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Every tick (a minute): disks, memory, processes, services, ACD queues, faxes.
    Measurements,
    /// UCX Suite counters, every few ticks: IVR, call recording, consoles, CURRI requests.
    Counters,
    /// What is installed and configured, a few times an hour or a day.
    Inventory,
}

impl DataClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Measurements => "measurement",
            DataClass::Counters => "counter",
            DataClass::Inventory => "inventory",
        }
    }
}

/// Declares every beat category once: its wire id (`<beat>.<category>` of the seed table), its
/// data type, its data class and its Avro schema file. Everything that must list all categories is generated
/// from here, so adding a category is one line.
macro_rules! beat_categories {
    ($( $variant:ident => $id:literal, $data:ty, $class:ident; )+) => {
        /// A beat category: the `category` field of the wire format.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Category {
            $( #[serde(rename = $id)] $variant, )+
        }

        impl Category {
            pub const ALL: &'static [Category] = &[$( Category::$variant, )+];

            /// The wire id, e.g. `hardware_info.disks`.
            pub fn id(self) -> &'static str {
                match self { $( Category::$variant => $id, )+ }
            }

            /// How often a server sends this category (see [`DataClass`]).
            pub fn data_class(self) -> DataClass {
                match self { $( Category::$variant => DataClass::$class, )+ }
            }

            /// The example beat of this category (`schemas/examples/`), in the wire format.
            pub fn example_source(self) -> &'static str {
                match self {
                    $( Category::$variant => include_str!(concat!("../../examples/", $id, ".json")), )+
                }
            }

            /// The current Avro schema (JSON text) of this category.
            pub fn schema_source(self) -> &'static str {
                match self {
                    $( Category::$variant => include_str!(concat!("../../avro/beats/", $id, ".avsc")), )+
                }
            }
        }

        /// The category-specific part of a beat; serializes as the wire format's `data` object.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum BeatPayload {
            $( $variant($data), )+
        }

        impl BeatPayload {
            pub fn category(&self) -> Category {
                match self { $( BeatPayload::$variant(_) => Category::$variant, )+ }
            }

            /// Reads the `data` object of a wire beat of the given category (its text or its
            /// parsed tree); fields it does not know are ignored and reported to
            /// `on_unknown_field`.
            pub(crate) fn from_json<'de, D: serde::Deserializer<'de, Error = serde_json::Error>>(
                category: Category,
                data: D,
                tracked: bool,
                mut on_unknown_field: impl FnMut(serde_ignored::Path),
            ) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
                let data = serde_ignored::Deserializer::new(data, &mut on_unknown_field);
                match (category, tracked) {
                    $(
                        (Category::$variant, true) => serde_path_to_error::deserialize(data).map(BeatPayload::$variant),
                        (Category::$variant, false) => <$data>::deserialize(data)
                            .map(BeatPayload::$variant)
                            .map_err(crate::wire::untracked),
                    )+
                }
            }

            /// Reads the `data` object of a wire beat in which the probe found every field
            /// named by the schema: nothing to note.
            pub(crate) fn from_known_json<'de, D: serde::Deserializer<'de, Error = serde_json::Error>>(
                category: Category,
                data: D,
            ) -> Result<Self, serde_path_to_error::Error<serde_json::Error>> {
                match category {
                    $(
                        Category::$variant => <$data>::deserialize(data)
                            .map(BeatPayload::$variant)
                            .map_err(crate::wire::untracked),
                    )+
                }
            }

            pub(crate) fn write_avro(
                &self,
                envelope: &Envelope,
                schema: &apache_avro::Schema,
                out: &mut Vec<u8>,
            ) -> Result<(), apache_avro::Error> {
                match self {
                    $( BeatPayload::$variant(data) => {
                        apache_avro::write_avro_datum_ref(schema, &AvroBeat { envelope, data }, out)?;
                    } )+
                }
                Ok(())
            }

            /// A datum of the category's current schema, decoded straight into the beat.
            pub(crate) fn from_datum(
                category: Category,
                datum: &[u8],
                schema: &serde_avro_fast::Schema,
            ) -> Result<Beat, serde_avro_fast::de::DeError> {
                match category {
                    $( Category::$variant => {
                        let record: AvroBeat<Envelope, $data> = serde_avro_fast::from_datum_slice(datum, schema)?;
                        Ok(Beat { envelope: record.envelope, payload: BeatPayload::$variant(record.data) })
                    } )+
                }
            }

            pub(crate) fn from_avro(
                category: Category,
                value: &apache_avro::types::Value,
            ) -> Result<Beat, apache_avro::Error> {
                match category {
                    $( Category::$variant => {
                        let record: AvroBeat<Envelope, $data> = apache_avro::from_value(value)?;
                        Ok(Beat { envelope: record.envelope, payload: BeatPayload::$variant(record.data) })
                    } )+
                }
            }
        }

        impl Validate for BeatPayload {
            fn validate(&self, violations: &mut Violations) {
                match self { $( BeatPayload::$variant(data) => data.validate(violations), )+ }
            }
        }
    };
}

beat_categories! {
    ProcessesRunningProcesses => "processes.running_processes", ProcessesRunningProcesses, Measurements;
    ProcessesWindowsServices => "processes.windows_services", ProcessesWindowsServices, Measurements;
    SoftwareInfoInstalledApplications => "software_info.installed_applications", SoftwareInfoInstalledApplications, Inventory;
    SoftwareInfoOs => "software_info.os", SoftwareInfoOs, Inventory;
    SoftwareInfoWindowsServices => "software_info.windows_services", SoftwareInfoWindowsServices, Inventory;
    SoftwareInfoWindowsUpdates => "software_info.windows_updates", SoftwareInfoWindowsUpdates, Inventory;
    SoftwareInfoWindowsFirewall => "software_info.windows_firewall", SoftwareInfoWindowsFirewall, Inventory;
    HardwareInfoVirtualization => "hardware_info.virtualization", HardwareInfoVirtualization, Inventory;
    HardwareInfoProcessors => "hardware_info.processors", HardwareInfoProcessors, Inventory;
    HardwareInfoMemory => "hardware_info.memory", HardwareInfoMemory, Measurements;
    HardwareInfoDisks => "hardware_info.disks", HardwareInfoDisks, Measurements;
    HardwareInfoNetwork => "hardware_info.network", HardwareInfoNetwork, Inventory;
    UcxSuiteSuiteInfo => "ucx_suite.suite_info", UcxSuiteSuiteInfo, Inventory;
    UcxSuiteCluster => "ucx_suite.cluster", UcxSuiteCluster, Inventory;
    UcxSuiteVoipArchitecture => "ucx_suite.voip_architecture", UcxSuiteVoipArchitecture, Inventory;
    UcxSuiteDatabaseServer => "ucx_suite.database_server", UcxSuiteDatabaseServer, Inventory;
    UcxSuiteDatabase => "ucx_suite.database", UcxSuiteDatabase, Inventory;
    UcxSuiteLogging => "ucx_suite.logging", UcxSuiteLogging, Inventory;
    UcxSuiteAttendantConsole => "ucx_suite.attendant_console", UcxSuiteAttendantConsole, Counters;
    UcxSuiteCallRecording => "ucx_suite.call_recording", UcxSuiteCallRecording, Counters;
    UcxSuiteIvr => "ucx_suite.ivr", UcxSuiteIvr, Counters;
    UcxSuiteAcd => "ucx_suite.acd", UcxSuiteAcd, Measurements;
    UcxSuiteDigitalFax => "ucx_suite.digital_fax", UcxSuiteDigitalFax, Measurements;
    UcxSuitePhoneLock => "ucx_suite.phone_lock", UcxSuitePhoneLock, Counters;
    UcxSuiteContactManager => "ucx_suite.contact_manager", UcxSuiteContactManager, Counters;
}

/// Earlier versions of beat schemas: records they wrote stay readable. When a schema changes,
/// its previous version is added here (see `schemas/README.md`).
pub(crate) const SCHEMA_HISTORY: &[(Category, &str, &str)] = &[(
    Category::SoftwareInfoWindowsServices,
    "software_info.windows_services.v1",
    include_str!("../../avro/history/software_info.windows_services.v1.avsc"),
)];

/// The Avro record layout of every beat: `{envelope, data}`.
#[derive(Serialize, Deserialize)]
struct AvroBeat<E, D> {
    envelope: E,
    data: D,
}
