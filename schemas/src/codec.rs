//! Avro single-object encoding of beats and alerts: `C3 01`, the writer schema's 8-byte Rabin
//! fingerprint, then the Avro datum. The fingerprint tells a reader which schema version wrote
//! the record, so records from older writers resolve against the current schema.

use std::collections::HashMap;
use std::sync::OnceLock;

use apache_avro::rabin::Rabin;
use apache_avro::types::Value;
use apache_avro::GenericSingleObjectReader;
use apache_avro::Schema;

use crate::alert::{Alert, ALERT_SCHEMA_HISTORY, ALERT_SCHEMA_SOURCE};
use crate::beats::{Beat, Category, SCHEMA_HISTORY};
use crate::change::{Change, CHANGE_SCHEMA_SOURCE};
use crate::registry::{
    RegistryRecord, ACKNOWLEDGEMENT_SCHEMA_SOURCE, CUSTOMER_SCHEMA_SOURCE,
    FLEET_INCIDENT_SCHEMA_SOURCE, INSTALLATION_SCHEMA_HISTORY, INSTALLATION_SCHEMA_SOURCE,
    PURGE_SCHEMA_SOURCE, SILENCE_SCHEMA_SOURCE,
};

const MAGIC: [u8; 2] = [0xC3, 0x01];
const HEADER_LEN: usize = MAGIC.len() + 8;

type Fingerprint = [u8; 8];

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("not an Avro single-object record (expected C3 01 and an 8-byte fingerprint)")]
    NotSingleObject,
    #[error("unknown writer schema fingerprint {0}: written by a newer or foreign producer")]
    UnknownSchema(String),
    #[error("record is a {found}, expected {expected}")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error("avro: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    #[error("avro: {0}")]
    Datum(#[from] serde_avro_fast::de::DeError),
}

impl From<apache_avro::Error> for CodecError {
    fn from(error: apache_avro::Error) -> Self {
        CodecError::Avro(Box::new(error))
    }
}

/// What a fingerprint identifies.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Beat(Category),
    Alert,
    Customer,
    Installation,
    Purge,
    Silence,
    Acknowledgement,
    FleetIncident,
    Change,
}

impl Kind {
    fn describe(self) -> String {
        match self {
            Kind::Beat(category) => format!("{} beat", category.id()),
            Kind::Alert => "alert".into(),
            Kind::Customer => "customer".into(),
            Kind::Installation => "installation".into(),
            Kind::Purge => "purge request".into(),
            Kind::Silence => "silence".into(),
            Kind::Acknowledgement => "acknowledgement".into(),
            Kind::FleetIncident => "fleet incident".into(),
            Kind::Change => "change".into(),
        }
    }
}

struct KnownSchema {
    kind: Kind,
    decoder: Decoder,
}

/// How a datum the schema wrote is decoded.
enum Decoder {
    /// The kind's current schema (nearly every record): straight into the Rust type, no
    /// resolution and no `Value` tree.
    Current(serde_avro_fast::Schema),
    /// An earlier version: read by apache-avro, then resolved against the current schema. The
    /// reader builds the schema's table of names once (apache-avro's `from_avro_datum` did so on
    /// every call: 13 % of the sinks', 9 % of the processors' profile samples). The
    /// single-object header is ours to check, so the reader expects none.
    Older(GenericSingleObjectReader),
}

impl KnownSchema {
    fn current(kind: Kind, name: &str, source: &str) -> Self {
        let schema = source
            .parse()
            .unwrap_or_else(|error| panic!("schema {name} does not parse: {error}"));
        Self {
            kind,
            decoder: Decoder::Current(schema),
        }
    }

    fn older(kind: Kind, schema: Schema) -> Self {
        let reader = GenericSingleObjectReader::new_with_header_builder(schema, NoHeader)
            .expect("an embedded schema's names resolve");
        Self {
            kind,
            decoder: Decoder::Older(reader),
        }
    }
}

/// The header of a datum [`Decoder::Older`] reads: none (the caller took it off).
struct NoHeader;

impl apache_avro::headers::HeaderBuilder for NoHeader {
    fn build_header(&self) -> Vec<u8> {
        Vec::new()
    }
}

struct Catalog {
    by_fingerprint: HashMap<Fingerprint, KnownSchema>,
    /// The schema each kind is written with now.
    current: HashMap<Kind, (Schema, Fingerprint)>,
}

impl Catalog {
    fn current(&self, kind: Kind) -> &(Schema, Fingerprint) {
        &self.current[&kind]
    }
}

fn fingerprint(schema: &Schema) -> Fingerprint {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    bytes.try_into().expect("rabin fingerprints are 8 bytes")
}

fn parse_embedded(name: &str, source: &str) -> Schema {
    // The schemas are compiled in; a parse failure is a bug caught by the unit tests.
    Schema::parse_str(source)
        .unwrap_or_else(|error| panic!("schema {name} does not parse: {error}"))
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut by_fingerprint = HashMap::new();
        let mut current = HashMap::new();
        let mut add_current = |kind: Kind, name: &str, source: &str| {
            let schema = parse_embedded(name, source);
            let print = fingerprint(&schema);
            by_fingerprint.insert(print, KnownSchema::current(kind, name, source));
            current.insert(kind, (schema, print));
        };
        for &category in Category::ALL {
            add_current(
                Kind::Beat(category),
                category.id(),
                category.schema_source(),
            );
        }
        add_current(Kind::Alert, "alert", ALERT_SCHEMA_SOURCE);
        add_current(Kind::Customer, "customer", CUSTOMER_SCHEMA_SOURCE);
        add_current(
            Kind::Installation,
            "installation",
            INSTALLATION_SCHEMA_SOURCE,
        );
        add_current(Kind::Purge, "purge_request", PURGE_SCHEMA_SOURCE);
        add_current(Kind::Silence, "silence", SILENCE_SCHEMA_SOURCE);
        add_current(
            Kind::Acknowledgement,
            "acknowledgement",
            ACKNOWLEDGEMENT_SCHEMA_SOURCE,
        );
        add_current(
            Kind::FleetIncident,
            "fleet_incident",
            FLEET_INCIDENT_SCHEMA_SOURCE,
        );
        add_current(Kind::Change, "change", CHANGE_SCHEMA_SOURCE);
        // earlier versions: readable, resolved against the current one
        let older = SCHEMA_HISTORY
            .iter()
            .map(|&(category, name, source)| (Kind::Beat(category), name, source))
            .chain(
                ALERT_SCHEMA_HISTORY
                    .iter()
                    .map(|&(name, source)| (Kind::Alert, name, source)),
            )
            .chain(
                INSTALLATION_SCHEMA_HISTORY
                    .iter()
                    .map(|&(name, source)| (Kind::Installation, name, source)),
            );
        for (kind, name, source) in older {
            let schema = parse_embedded(name, source);
            let print = fingerprint(&schema);
            by_fingerprint.insert(print, KnownSchema::older(kind, schema));
        }
        Catalog {
            by_fingerprint,
            current,
        }
    })
}

fn start_record(print: &Fingerprint) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(print);
    out
}

fn read_header(bytes: &[u8]) -> Result<(&'static KnownSchema, &[u8]), CodecError> {
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
        return Err(CodecError::NotSingleObject);
    }
    let print: Fingerprint = bytes[2..HEADER_LEN].try_into().expect("8 bytes");
    let known = catalog()
        .by_fingerprint
        .get(&print)
        .ok_or_else(|| CodecError::UnknownSchema(hex(&print)))?;
    Ok((known, &bytes[HEADER_LEN..]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes a beat with its category's current schema.
pub fn encode_beat(beat: &Beat) -> Result<Vec<u8>, CodecError> {
    let (schema, print) = catalog().current(Kind::Beat(beat.category()));
    let mut out = start_record(print);
    beat.payload.write_avro(&beat.envelope, schema, &mut out)?;
    Ok(out)
}

/// Decodes a beat written with any known version of its category's schema.
pub fn decode_beat(bytes: &[u8]) -> Result<Beat, CodecError> {
    let (known, datum) = read_header(bytes)?;
    let Kind::Beat(category) = known.kind else {
        return Err(CodecError::WrongKind {
            expected: "beat",
            found: known.kind.describe(),
        });
    };
    match &known.decoder {
        Decoder::Current(schema) => Ok(crate::beats::BeatPayload::from_datum(
            category, datum, schema,
        )?),
        Decoder::Older(reader) => {
            let value = resolve_older(known.kind, reader, datum)?;
            Ok(crate::beats::BeatPayload::from_avro(category, &value)?)
        }
    }
}

pub fn encode_change(change: &Change) -> Result<Vec<u8>, CodecError> {
    encode_serde(Kind::Change, change)
}

pub fn decode_change(bytes: &[u8]) -> Result<Change, CodecError> {
    let (known, datum) = read_header(bytes)?;
    if known.kind != Kind::Change {
        return Err(CodecError::WrongKind {
            expected: "change",
            found: known.kind.describe(),
        });
    }
    decode_serde(known, datum)
}

pub fn encode_alert(alert: &Alert) -> Result<Vec<u8>, CodecError> {
    encode_serde(Kind::Alert, alert)
}

pub fn decode_alert(bytes: &[u8]) -> Result<Alert, CodecError> {
    let (known, datum) = read_header(bytes)?;
    if known.kind != Kind::Alert {
        return Err(CodecError::WrongKind {
            expected: "alert",
            found: known.kind.describe(),
        });
    }
    decode_serde(known, datum)
}

/// Encodes a registry record with its kind's current schema.
pub fn encode_registry(record: &RegistryRecord) -> Result<Vec<u8>, CodecError> {
    match record {
        RegistryRecord::Customer(customer) => encode_serde(Kind::Customer, customer),
        RegistryRecord::Installation(installation) => {
            encode_serde(Kind::Installation, installation)
        }
        RegistryRecord::Purge(purge) => encode_serde(Kind::Purge, purge),
        RegistryRecord::Silence(silence) => encode_serde(Kind::Silence, silence),
        RegistryRecord::Acknowledgement(ack) => encode_serde(Kind::Acknowledgement, ack),
        RegistryRecord::FleetIncident(incident) => encode_serde(Kind::FleetIncident, incident),
    }
}

/// Decodes a registry record; the writer schema's fingerprint says which kind it is.
pub fn decode_registry(bytes: &[u8]) -> Result<RegistryRecord, CodecError> {
    let (known, datum) = read_header(bytes)?;
    match known.kind {
        Kind::Customer => Ok(RegistryRecord::Customer(decode_serde(known, datum)?)),
        Kind::Installation => Ok(RegistryRecord::Installation(decode_serde(known, datum)?)),
        Kind::Purge => Ok(RegistryRecord::Purge(decode_serde(known, datum)?)),
        Kind::Silence => Ok(RegistryRecord::Silence(decode_serde(known, datum)?)),
        Kind::Acknowledgement => Ok(RegistryRecord::Acknowledgement(decode_serde(known, datum)?)),
        Kind::FleetIncident => Ok(RegistryRecord::FleetIncident(decode_serde(known, datum)?)),
        other => Err(CodecError::WrongKind {
            expected: "registry record",
            found: other.describe(),
        }),
    }
}

fn encode_serde<T: serde::Serialize>(kind: Kind, value: &T) -> Result<Vec<u8>, CodecError> {
    let (schema, print) = catalog().current(kind);
    let mut out = start_record(print);
    apache_avro::write_avro_datum_ref(schema, value, &mut out)?;
    Ok(out)
}

fn decode_serde<T: serde::de::DeserializeOwned>(
    known: &KnownSchema,
    datum: &[u8],
) -> Result<T, CodecError> {
    match &known.decoder {
        Decoder::Current(schema) => Ok(serde_avro_fast::from_datum_slice(datum, schema)?),
        Decoder::Older(reader) => {
            let value = resolve_older(known.kind, reader, datum)?;
            Ok(apache_avro::from_value(&value)?)
        }
    }
}

/// Reads a datum of an earlier version of `kind`'s schema and resolves it against the current
/// one, honouring the reader's field aliases.
fn resolve_older(
    kind: Kind,
    reader: &GenericSingleObjectReader,
    mut datum: &[u8],
) -> Result<Value, CodecError> {
    let written = reader.read_value(&mut datum)?;
    let (current, _) = catalog().current(kind);
    Ok(apply_reader_aliases(written, current).resolve(current)?)
}

/// apache-avro 0.21 resolves record fields by name only, while the Avro specification also
/// matches a reader field's aliases against the writer's field names (how a renamed field
/// stays readable). This renames such fields of a decoded record before resolution. Records
/// nested in unions or maps are left as they are: no schema of ours renames a field there.
fn apply_reader_aliases(value: Value, reader: &Schema) -> Value {
    match (value, reader) {
        (Value::Record(fields), Schema::Record(record)) => Value::Record(
            fields
                .into_iter()
                .map(|(name, value)| {
                    let reader_field = record.fields.iter().find(|field| {
                        field.name == name
                            || field
                                .aliases
                                .as_ref()
                                .is_some_and(|aliases| aliases.contains(&name))
                    });
                    match reader_field {
                        Some(field) => (
                            field.name.clone(),
                            apply_reader_aliases(value, &field.schema),
                        ),
                        None => (name, value),
                    }
                })
                .collect(),
        ),
        (Value::Array(items), Schema::Array(array)) => Value::Array(
            items
                .into_iter()
                .map(|item| apply_reader_aliases(item, &array.items))
                .collect(),
        ),
        (value, _) => value,
    }
}
