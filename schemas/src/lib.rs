//! The data contract between UCX Suite servers, the pipeline stages and the dashboards.
//!
//! The Avro schemas under `schemas/avro/` are the source of truth; the Rust types here mirror
//! them. On Kafka every record is Avro *single-object encoded* (magic `C3 01`, the writer
//! schema's 8-byte Rabin fingerprint, then the datum), so a reader always knows which schema
//! version wrote a record and resolves it against its own. See `schemas/README.md`.

pub mod alert;
pub mod beats;
pub mod change;
mod codec;
pub mod openapi;
pub mod pii;
pub mod registry;
pub mod validation;
pub mod wire;

pub use alert::{Alert, AlertState, Resolution, Severity};
pub use beats::{Beat, BeatPayload, Category, DataClass, Envelope, Region};
pub use change::{Change, ChangeKind};
pub use codec::{
    decode_alert, decode_beat, decode_change, decode_registry, encode_alert, encode_beat,
    encode_change, encode_registry, CodecError,
};
pub use pii::{PiiFinding, PiiKind, PiiPolicy};
pub use registry::{
    Acknowledgement, AlertContact, ContractTier, Customer, FleetIncident, FleetIncidentState,
    Installation, InstallationStatus, PurgeRequest, RegistryRecord, Silence, SilenceKind,
};
pub use validation::{Violation, Violations};
pub use wire::{parse_beat, parse_beat_json, ParsedBeat, WireError};
