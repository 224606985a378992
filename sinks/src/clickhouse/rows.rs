//! How beats and alerts become table rows: one row per item of a beat's list, each carrying the
//! envelope columns; categories without a table of their own go to `beats_raw` as JSON. Values
//! that cannot fit their column are errors (the record is dead-lettered), never silently clamped.

use serde::{Deserialize, Serialize};
use ucx_schemas::{Alert, Beat, BeatPayload, Envelope};

use super::batch::Batch;

#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("{field} = {value} does not fit its column")]
    OutOfRange { field: &'static str, value: String },
    #[error("beat_id {0:?} is not a UUID")]
    BeatId(String),
}

/// The envelope as columns, shared by every row of one beat.
pub struct EnvelopeColumns {
    installation_id: String,
    node_id: String,
    region: String,
    beat_id: uuid::Uuid,
    sent_at: u32,
    received_at: u32,
}

impl EnvelopeColumns {
    fn new(envelope: &Envelope) -> Result<Self, RowError> {
        Ok(EnvelopeColumns {
            installation_id: envelope.installation_id.clone(),
            node_id: envelope.node_id.clone(),
            region: envelope.region.as_str().to_string(),
            beat_id: uuid::Uuid::parse_str(&envelope.beat_id)
                .map_err(|_| RowError::BeatId(envelope.beat_id.clone()))?,
            sent_at: seconds("sent_at", envelope.sent_at)?,
            received_at: seconds("received_at", envelope.received_at)?,
        })
    }
}

/// Declares a beat table's row: the envelope columns, then the table's own, in column order
/// (rows go over the wire as RowBinary, which is positional).
macro_rules! beat_row {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
        pub struct $name {
            pub installation_id: String,
            pub node_id: String,
            pub region: String,
            #[serde(with = "clickhouse::serde::uuid")]
            pub beat_id: uuid::Uuid,
            pub sent_at: u32,
            pub received_at: u32,
            $(pub $field: $ty,)*
        }

        impl $name {
            #[allow(clippy::too_many_arguments)]
            fn new(envelope: &EnvelopeColumns, $($field: $ty),*) -> Self {
                $name {
                    installation_id: envelope.installation_id.clone(),
                    node_id: envelope.node_id.clone(),
                    region: envelope.region.clone(),
                    beat_id: envelope.beat_id,
                    sent_at: envelope.sent_at,
                    received_at: envelope.received_at,
                    $($field,)*
                }
            }
        }
    };
}

beat_row!(
    /// `hardware_disks`: one row per disk.
    DiskRow { disk_name: String, model: String, size_bytes: u64, free_bytes: u64 }
);

beat_row!(
    /// `running_processes`: one row per process.
    ProcessRow {
        pid: u32,
        process_name: String,
        memory_bytes: u64,
        handle_count: u32,
        thread_count: u32,
        cpu_percent: f32,
    }
);

beat_row!(
    /// `ucx_acd`: one row per beat.
    AcdRow { fifo_queued_calls: u32, camp_on_queued_calls: u32, active_consultation_calls: u32 }
);

beat_row!(
    /// `beats_raw`: one row per beat of a category without a table of its own.
    RawBeatRow { category: String, data: String }
);

/// `alerts`: one row per alert state change.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub installation_id: String,
    pub node_id: String,
    pub region: String,
    pub rule_id: String,
    pub rule_version: u16,
    pub subject: String,
    pub severity: String,
    pub state: String,
    pub summary: String,
    pub observed_value: f64,
    pub threshold: f64,
    pub beat_id: String,
    pub event_at: u32,
    pub raised_at: u32,
}

fn unsigned<T: TryFrom<i64>>(field: &'static str, value: i64) -> Result<T, RowError> {
    T::try_from(value).map_err(|_| RowError::OutOfRange {
        field,
        value: value.to_string(),
    })
}

/// UTC milliseconds → the seconds of a `DateTime` column.
fn seconds(field: &'static str, millis: i64) -> Result<u32, RowError> {
    unsigned(field, millis.div_euclid(1000))
}

/// Adds the rows of `beat` to `batch`; on error nothing of the beat is added.
pub fn add_beat(beat: &Beat, batch: &mut Batch) -> Result<(), RowError> {
    let envelope = EnvelopeColumns::new(&beat.envelope)?;
    match &beat.payload {
        BeatPayload::HardwareInfoDisks(data) => {
            let rows = data
                .disks
                .iter()
                .map(|disk| {
                    Ok(DiskRow::new(
                        &envelope,
                        disk.name.clone(),
                        disk.model.clone(),
                        unsigned("size_bytes", disk.size_bytes)?,
                        unsigned("free_bytes", disk.free_bytes)?,
                    ))
                })
                .collect::<Result<Vec<_>, RowError>>()?;
            batch.disks.extend(rows);
        }
        BeatPayload::ProcessesRunningProcesses(data) => {
            let rows = data
                .processes
                .iter()
                .map(|process| {
                    Ok(ProcessRow::new(
                        &envelope,
                        unsigned("pid", process.pid)?,
                        process.name.clone(),
                        unsigned("memory_bytes", process.memory_bytes)?,
                        unsigned("handle_count", process.handle_count)?,
                        unsigned("thread_count", process.thread_count)?,
                        process.cpu_percent as f32,
                    ))
                })
                .collect::<Result<Vec<_>, RowError>>()?;
            batch.processes.extend(rows);
        }
        BeatPayload::UcxSuiteAcd(data) => {
            let row = AcdRow::new(
                &envelope,
                unsigned("fifo_queued_calls", data.fifo_queued_calls)?,
                unsigned("camp_on_queued_calls", data.camp_on_queued_calls)?,
                unsigned("active_consultation_calls", data.active_consultation_calls)?,
            );
            batch.acd.push(row);
        }
        other => {
            let data = serde_json::to_string(other).expect("beat data always serializes to JSON");
            let row = RawBeatRow::new(&envelope, other.category().id().to_string(), data);
            batch.raw.push(row);
        }
    }
    Ok(())
}

pub fn add_alert(alert: &Alert, batch: &mut Batch) -> Result<(), RowError> {
    let row = AlertRow {
        alert_id: alert.alert_id.clone(),
        installation_id: alert.installation_id.clone(),
        node_id: alert.node_id.clone(),
        region: alert.region.as_str().to_string(),
        rule_id: alert.rule_id.clone(),
        rule_version: unsigned("rule_version", i64::from(alert.rule_version))?,
        subject: alert.subject.clone(),
        severity: alert.severity.as_str().to_string(),
        state: alert.state.as_str().to_string(),
        summary: alert.summary.clone(),
        observed_value: alert.observed_value,
        threshold: alert.threshold,
        beat_id: alert.beat_id.clone(),
        event_at: seconds("event_at", alert.event_at)?,
        raised_at: seconds("raised_at", alert.raised_at)?,
    };
    batch.alerts.push(row);
    Ok(())
}
