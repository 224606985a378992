//! Column types and the conversions of beat values into them. Values that cannot fit their
//! column are errors (the record is dead-lettered), never silently clamped.

use clickhouse::{RowOwned, RowWrite};
use serde::{Deserialize, Serialize};
use ucx_schemas::Envelope;

#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("{field} = {value} does not fit its column")]
    OutOfRange { field: &'static str, value: String },
    #[error("beat_id {0:?} is not a UUID")]
    BeatId(String),
}

/// Where rows go: the sinks' batch, a test's list.
pub trait RowSink {
    fn push<R: RowOwned + RowWrite + Send + Sync + 'static>(
        &mut self,
        table: &'static str,
        rows: Vec<R>,
    );
}

/// The ClickHouse type of a row field's column.
pub trait ColumnType {
    fn sql() -> String;
}

macro_rules! column_types {
    ($($rust:ty => $sql:literal),+ $(,)?) => {
        $(impl ColumnType for $rust {
            fn sql() -> String {
                $sql.to_string()
            }
        })+
    };
}

column_types! {
    String => "String",
    u64 => "UInt64",
    u32 => "UInt32",
    u16 => "UInt16",
    u8 => "UInt8",
    bool => "UInt8",
    f32 => "Float32",
    f64 => "Float64",
    Seconds => "DateTime('UTC')",
}

impl<T: ColumnType> ColumnType for Option<T> {
    fn sql() -> String {
        format!("Nullable({})", T::sql())
    }
}

impl<T: ColumnType> ColumnType for Vec<T> {
    fn sql() -> String {
        format!("Array({})", T::sql())
    }
}

/// A `DateTime` column: UTC seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seconds(pub u32);

/// The envelope as columns, shared by every row of one beat.
pub struct EnvelopeColumns {
    pub installation_id: String,
    pub customer_id: String,
    pub node_id: String,
    pub region: String,
    pub beat_id: uuid::Uuid,
    pub sent_at: Seconds,
    pub received_at: Seconds,
}

impl EnvelopeColumns {
    pub fn new(envelope: &Envelope, customer_id: &str) -> Result<Self, RowError> {
        Ok(EnvelopeColumns {
            installation_id: envelope.installation_id.clone(),
            customer_id: customer_id.to_string(),
            node_id: envelope.node_id.clone(),
            region: envelope.region.as_str().to_string(),
            beat_id: uuid::Uuid::parse_str(&envelope.beat_id)
                .map_err(|_| RowError::BeatId(envelope.beat_id.clone()))?,
            sent_at: seconds("sent_at", envelope.sent_at)?,
            received_at: seconds("received_at", envelope.received_at)?,
        })
    }
}

/// The envelope's columns and their types: every beat table starts with them.
pub const ENVELOPE_COLUMNS: &[(&str, &str)] = &[
    ("installation_id", "String"),
    ("customer_id", "String"),
    ("node_id", "String"),
    ("region", "LowCardinality(String)"),
    ("beat_id", "UUID"),
    ("sent_at", "DateTime('UTC')"),
    ("received_at", "DateTime('UTC')"),
];

/// A count or size that must not be negative and must fit the column.
pub fn unsigned<T: TryFrom<i64>>(field: &'static str, value: i64) -> Result<T, RowError> {
    T::try_from(value).map_err(|_| RowError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

/// UTC milliseconds → the seconds of a `DateTime` column.
pub fn seconds(field: &'static str, millis: i64) -> Result<Seconds, RowError> {
    unsigned(field, millis.div_euclid(1000)).map(Seconds)
}

pub fn optional_seconds(
    field: &'static str,
    millis: Option<i64>,
) -> Result<Option<Seconds>, RowError> {
    millis.map(|millis| seconds(field, millis)).transpose()
}

/// The position of an item in its beat's list (lists are capped far below `u16::MAX`).
pub fn position(index: usize) -> Result<u16, RowError> {
    u16::try_from(index).map_err(|_| RowError::OutOfRange {
        field: "item",
        value: index.to_string(),
    })
}
