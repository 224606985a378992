//! How beats and alerts become table rows: a table per beat family, one row per item of a
//! beat's list (keyed by its position, which a redelivered beat keeps), each row carrying the
//! envelope columns and the installation's customer. Values that cannot fit their column are
//! errors (the record is dead-lettered), never silently clamped.

use serde::{Deserialize, Serialize};
use ucx_schemas::{Alert, Beat, BeatPayload, Category, Change, Envelope};

use super::batch::Batch;

#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("{field} = {value} does not fit its column")]
    OutOfRange { field: &'static str, value: String },
    #[error("beat_id {0:?} is not a UUID")]
    BeatId(String),
}

/// The table each beat category is written to.
pub fn table_of(category: Category) -> &'static str {
    match category {
        Category::HardwareInfoDisks => "hardware_disks",
        Category::HardwareInfoProcessors => "hardware_processors",
        Category::HardwareInfoMemory => "hardware_memory",
        Category::HardwareInfoNetwork => "hardware_network_adapters",
        Category::HardwareInfoVirtualization => "hardware_virtualization",
        Category::ProcessesRunningProcesses => "running_processes",
        Category::ProcessesWindowsServices => "running_services",
        Category::SoftwareInfoInstalledApplications => "installed_applications",
        Category::SoftwareInfoOs => "software_os",
        Category::SoftwareInfoWindowsServices => "installed_services",
        Category::SoftwareInfoWindowsUpdates => "windows_updates",
        Category::SoftwareInfoWindowsFirewall => "windows_firewall",
        Category::UcxSuiteSuiteInfo => "ucx_suite_info",
        Category::UcxSuiteCluster => "ucx_cluster",
        Category::UcxSuiteVoipArchitecture => "ucx_voip",
        Category::UcxSuiteDatabaseServer => "ucx_database_server",
        Category::UcxSuiteDatabase => "ucx_database",
        Category::UcxSuiteLogging => "ucx_logging",
        Category::UcxSuiteAttendantConsole => "ucx_attendant_consoles",
        Category::UcxSuiteCallRecording => "ucx_call_recording",
        Category::UcxSuiteIvr => "ucx_ivr",
        Category::UcxSuiteAcd => "ucx_acd",
        Category::UcxSuiteDigitalFax => "ucx_digital_fax",
        Category::UcxSuitePhoneLock => "ucx_phone_lock",
        Category::UcxSuiteContactManager => "ucx_contact_manager",
    }
}

/// The envelope as columns, shared by every row of one beat.
pub struct EnvelopeColumns {
    installation_id: String,
    customer_id: String,
    node_id: String,
    region: String,
    beat_id: uuid::Uuid,
    sent_at: u32,
    received_at: u32,
}

impl EnvelopeColumns {
    fn new(envelope: &Envelope, customer_id: &str) -> Result<Self, RowError> {
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

/// Declares a beat table's row: the envelope columns, then the table's own. The insert names
/// the columns from the field names, so they must match the table's.
macro_rules! beat_row {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
        pub struct $name {
            pub installation_id: String,
            pub customer_id: String,
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
                    customer_id: envelope.customer_id.clone(),
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

beat_row!(DiskRow {
    disk_name: String,
    model: String,
    size_bytes: u64,
    free_bytes: u64
});
beat_row!(ProcessorRow {
    item: u16,
    processor_name: String,
    manufacturer: String,
    bitness: u8,
    cores: u32
});
beat_row!(MemoryRow {
    total_bytes: u64,
    reserved_bytes: u64,
    available_bytes: u64
});
beat_row!(NetworkAdapterRow {
    item: u16,
    adapter_name: String,
    dhcp_enabled: bool,
    dns_servers: Vec<String>,
    gateways: Vec<String>,
    ip_addresses: Vec<String>,
});
beat_row!(VirtualizationRow { is_virtual_machine: bool, hypervisor: Option<String> });
beat_row!(ProcessRow {
    pid: u32,
    process_name: String,
    memory_bytes: u64,
    handle_count: u32,
    thread_count: u32,
    cpu_percent: f32,
});
beat_row!(RunningServiceRow {
    item: u16,
    pid: u32,
    service_name: String,
    status: String
});
beat_row!(InstalledApplicationRow {
    item: u16,
    application_name: String,
    version: String,
    vendor: String,
    install_path: String,
    install_date: Option<String>,
});
beat_row!(OsRow {
    edition: String,
    version: String,
    language: String,
    system_drive: String,
    system_directory: String,
});
beat_row!(InstalledServiceRow {
    item: u16,
    service_name: String,
    startup_mode: String,
    startup_identity: String,
    exe_path: String,
});
beat_row!(HotfixRow { item: u16, hotfix_id: String, installed_at: Option<u32> });
beat_row!(FirewallRow {
    domain_enabled: bool,
    public_enabled: bool,
    private_enabled: bool
});
beat_row!(SuiteInfoRow {
    version: String,
    platform: String,
    install_path: String,
    install_folder_size_bytes: u64,
});
beat_row!(ClusterRow { nodes: Vec<String>, replication_strategy: String });
beat_row!(VoipRow {
    cucm_version: String,
    cucm_users: u32,
    cucm_devices: u32,
    cucm_ip: String
});
beat_row!(DatabaseServerRow {
    sql_server_edition: String,
    sql_server_version: String,
    instance_name: String,
});
beat_row!(DatabaseRow {
    database_name: String,
    size_bytes: u64,
    file_paths: Vec<String>,
    authentication: String,
    full_text_catalog_status: String,
    last_maintenance_at: Option<u32>,
});
beat_row!(LoggingRow {
    enabled: bool,
    retention_days: u32
});
beat_row!(AttendantConsoleRow {
    item: u16,
    console_type: String,
    connected: u32
});
beat_row!(CallRecordingRow {
    recording_calls: u32
});
beat_row!(IvrRow { active_calls: u32 });
beat_row!(AcdRow {
    fifo_queued_calls: u32,
    camp_on_queued_calls: u32,
    active_consultation_calls: u32
});
beat_row!(DigitalFaxRow {
    faxes_transmitting: u32,
    faxes_receiving: u32
});
beat_row!(CurriRow {
    curri_requests_per_second: f64
});

/// `alerts`: one row per alert state change.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct AlertRow {
    pub alert_id: String,
    pub installation_id: String,
    pub customer_id: String,
    pub contract_tier: String,
    pub notify_customer: bool,
    pub node_id: String,
    pub region: String,
    pub rule_id: String,
    pub rule_version: u16,
    pub subject: String,
    pub severity: String,
    pub state: String,
    pub summary: String,
    pub explanation: String,
    pub dashboard_url: String,
    pub suppressed_by: String,
    pub acknowledged_by: String,
    pub observed_value: f64,
    pub threshold: f64,
    pub beat_id: String,
    pub event_at: u32,
    pub raised_at: u32,
}

/// `installation_changes`: one row per change an inventory beat showed.
#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
pub struct ChangeRow {
    pub change_id: String,
    pub installation_id: String,
    pub customer_id: String,
    pub node_id: String,
    pub region: String,
    pub kind: String,
    pub subject: String,
    pub before: String,
    pub after: String,
    pub beat_id: String,
    pub event_at: u32,
    pub detected_at: u32,
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

/// The position of an item in its beat's list (lists are capped far below `u16::MAX`).
fn item(index: usize) -> Result<u16, RowError> {
    u16::try_from(index).map_err(|_| RowError::OutOfRange {
        field: "item",
        value: index.to_string(),
    })
}

fn optional_seconds(field: &'static str, millis: Option<i64>) -> Result<Option<u32>, RowError> {
    millis.map(|millis| seconds(field, millis)).transpose()
}

/// The rows of one list, or the first item that does not fit.
fn each<T, R>(
    items: &[T],
    row: impl Fn(u16, &T) -> Result<R, RowError>,
) -> Result<Vec<R>, RowError> {
    items
        .iter()
        .enumerate()
        .map(|(index, value)| row(item(index)?, value))
        .collect()
}

/// Adds the rows of `beat` to `batch`, `customer_id` on each; on error nothing of the beat is
/// added.
pub fn add_beat(beat: &Beat, customer_id: &str, batch: &mut Batch) -> Result<(), RowError> {
    let e = &EnvelopeColumns::new(&beat.envelope, customer_id)?;
    let table = table_of(beat.payload.category());
    match &beat.payload {
        BeatPayload::HardwareInfoDisks(data) => batch.push(
            table,
            each(&data.disks, |_, disk| {
                Ok(DiskRow::new(
                    e,
                    disk.name.clone(),
                    disk.model.clone(),
                    unsigned("size_bytes", disk.size_bytes)?,
                    unsigned("free_bytes", disk.free_bytes)?,
                ))
            })?,
        ),
        BeatPayload::HardwareInfoProcessors(data) => batch.push(
            table,
            each(&data.processors, |item, cpu| {
                Ok(ProcessorRow::new(
                    e,
                    item,
                    cpu.name.clone(),
                    cpu.manufacturer.clone(),
                    unsigned("bitness", i64::from(cpu.bitness))?,
                    unsigned("cores", cpu.cores)?,
                ))
            })?,
        ),
        BeatPayload::HardwareInfoMemory(data) => batch.push(
            table,
            vec![MemoryRow::new(
                e,
                unsigned("total_bytes", data.total_bytes)?,
                unsigned("reserved_bytes", data.reserved_bytes)?,
                unsigned("available_bytes", data.available_bytes)?,
            )],
        ),
        BeatPayload::HardwareInfoNetwork(data) => batch.push(
            table,
            each(&data.adapters, |item, adapter| {
                Ok(NetworkAdapterRow::new(
                    e,
                    item,
                    adapter.name.clone(),
                    adapter.dhcp_enabled,
                    adapter.dns_servers.clone(),
                    adapter.gateways.clone(),
                    adapter.ip_addresses.clone(),
                ))
            })?,
        ),
        BeatPayload::HardwareInfoVirtualization(data) => batch.push(
            table,
            vec![VirtualizationRow::new(
                e,
                data.is_virtual_machine,
                data.hypervisor.clone(),
            )],
        ),
        BeatPayload::ProcessesRunningProcesses(data) => batch.push(
            table,
            each(&data.processes, |_, process| {
                Ok(ProcessRow::new(
                    e,
                    unsigned("pid", process.pid)?,
                    process.name.clone(),
                    unsigned("memory_bytes", process.memory_bytes)?,
                    unsigned("handle_count", process.handle_count)?,
                    unsigned("thread_count", process.thread_count)?,
                    process.cpu_percent as f32,
                ))
            })?,
        ),
        BeatPayload::ProcessesWindowsServices(data) => batch.push(
            table,
            each(&data.services, |item, service| {
                Ok(RunningServiceRow::new(
                    e,
                    item,
                    unsigned("pid", service.pid)?,
                    service.name.clone(),
                    service.status.clone(),
                ))
            })?,
        ),
        BeatPayload::SoftwareInfoInstalledApplications(data) => batch.push(
            table,
            each(&data.applications, |item, app| {
                Ok(InstalledApplicationRow::new(
                    e,
                    item,
                    app.name.clone(),
                    app.version.clone(),
                    app.vendor.clone(),
                    app.install_path.clone(),
                    app.install_date.clone(),
                ))
            })?,
        ),
        BeatPayload::SoftwareInfoOs(data) => batch.push(
            table,
            vec![OsRow::new(
                e,
                data.edition.clone(),
                data.version.clone(),
                data.language.clone(),
                data.system_drive.clone(),
                data.system_directory.clone(),
            )],
        ),
        BeatPayload::SoftwareInfoWindowsServices(data) => batch.push(
            table,
            each(&data.services, |item, service| {
                Ok(InstalledServiceRow::new(
                    e,
                    item,
                    service.name.clone(),
                    service.startup_mode.clone(),
                    service.startup_identity.clone(),
                    service.exe_path.clone(),
                ))
            })?,
        ),
        BeatPayload::SoftwareInfoWindowsUpdates(data) => batch.push(
            table,
            each(&data.hotfixes, |item, hotfix| {
                Ok(HotfixRow::new(
                    e,
                    item,
                    hotfix.hotfix_id.clone(),
                    optional_seconds("installed_at", hotfix.installed_at)?,
                ))
            })?,
        ),
        BeatPayload::SoftwareInfoWindowsFirewall(data) => batch.push(
            table,
            vec![FirewallRow::new(
                e,
                data.domain_enabled,
                data.public_enabled,
                data.private_enabled,
            )],
        ),
        BeatPayload::UcxSuiteSuiteInfo(data) => batch.push(
            table,
            vec![SuiteInfoRow::new(
                e,
                data.version.clone(),
                data.platform.clone(),
                data.install_path.clone(),
                unsigned("install_folder_size_bytes", data.install_folder_size_bytes)?,
            )],
        ),
        BeatPayload::UcxSuiteCluster(data) => batch.push(
            table,
            vec![ClusterRow::new(
                e,
                data.nodes.clone(),
                data.replication_strategy.clone(),
            )],
        ),
        BeatPayload::UcxSuiteVoipArchitecture(data) => batch.push(
            table,
            vec![VoipRow::new(
                e,
                data.cucm_version.clone(),
                unsigned("cucm_users", data.cucm_users)?,
                unsigned("cucm_devices", data.cucm_devices)?,
                data.cucm_ip.clone(),
            )],
        ),
        BeatPayload::UcxSuiteDatabaseServer(data) => batch.push(
            table,
            vec![DatabaseServerRow::new(
                e,
                data.sql_server_edition.clone(),
                data.sql_server_version.clone(),
                data.instance_name.clone(),
            )],
        ),
        BeatPayload::UcxSuiteDatabase(data) => batch.push(
            table,
            vec![DatabaseRow::new(
                e,
                data.database_name.clone(),
                unsigned("size_bytes", data.size_bytes)?,
                data.file_paths.clone(),
                data.authentication.clone(),
                data.full_text_catalog_status.clone(),
                optional_seconds("last_maintenance_at", data.last_maintenance_at)?,
            )],
        ),
        BeatPayload::UcxSuiteLogging(data) => batch.push(
            table,
            vec![LoggingRow::new(
                e,
                data.enabled,
                unsigned("retention_days", data.retention_days)?,
            )],
        ),
        BeatPayload::UcxSuiteAttendantConsole(data) => batch.push(
            table,
            each(&data.consoles, |item, console| {
                Ok(AttendantConsoleRow::new(
                    e,
                    item,
                    console.console_type.clone(),
                    unsigned("connected", console.connected)?,
                ))
            })?,
        ),
        BeatPayload::UcxSuiteCallRecording(data) => batch.push(
            table,
            vec![CallRecordingRow::new(
                e,
                unsigned("recording_calls", data.recording_calls)?,
            )],
        ),
        BeatPayload::UcxSuiteIvr(data) => batch.push(
            table,
            vec![IvrRow::new(e, unsigned("active_calls", data.active_calls)?)],
        ),
        BeatPayload::UcxSuiteAcd(data) => batch.push(
            table,
            vec![AcdRow::new(
                e,
                unsigned("fifo_queued_calls", data.fifo_queued_calls)?,
                unsigned("camp_on_queued_calls", data.camp_on_queued_calls)?,
                unsigned("active_consultation_calls", data.active_consultation_calls)?,
            )],
        ),
        BeatPayload::UcxSuiteDigitalFax(data) => batch.push(
            table,
            vec![DigitalFaxRow::new(
                e,
                unsigned("faxes_transmitting", data.faxes_transmitting)?,
                unsigned("faxes_receiving", data.faxes_receiving)?,
            )],
        ),
        BeatPayload::UcxSuitePhoneLock(data) => batch.push(
            table,
            vec![CurriRow::new(e, data.curri_requests_per_second)],
        ),
        BeatPayload::UcxSuiteContactManager(data) => batch.push(
            table,
            vec![CurriRow::new(e, data.curri_requests_per_second)],
        ),
    }
    Ok(())
}

pub fn add_alert(alert: &Alert, customer_id: &str, batch: &mut Batch) -> Result<(), RowError> {
    let row = AlertRow {
        alert_id: alert.alert_id.clone(),
        installation_id: alert.installation_id.clone(),
        customer_id: customer_id.to_string(),
        contract_tier: alert.contract_tier.clone(),
        notify_customer: alert.notify_customer,
        node_id: alert.node_id.clone(),
        region: alert.region.as_str().to_string(),
        rule_id: alert.rule_id.clone(),
        rule_version: unsigned("rule_version", i64::from(alert.rule_version))?,
        subject: alert.subject.clone(),
        severity: alert.severity.as_str().to_string(),
        state: alert.state.as_str().to_string(),
        summary: alert.summary.clone(),
        explanation: alert.explanation.clone(),
        dashboard_url: alert.dashboard_url.clone(),
        suppressed_by: alert.suppressed_by.clone(),
        acknowledged_by: alert.acknowledged_by.clone(),
        observed_value: alert.observed_value,
        threshold: alert.threshold,
        beat_id: alert.beat_id.clone(),
        event_at: seconds("event_at", alert.event_at)?,
        raised_at: seconds("raised_at", alert.raised_at)?,
    };
    batch.push("alerts", vec![row]);
    Ok(())
}

pub fn add_change(change: &Change, customer_id: &str, batch: &mut Batch) -> Result<(), RowError> {
    let row = ChangeRow {
        change_id: change.change_id.clone(),
        installation_id: change.installation_id.clone(),
        customer_id: customer_id.to_string(),
        node_id: change.node_id.clone(),
        region: change.region.as_str().to_string(),
        kind: change.kind.as_str().to_string(),
        subject: change.subject.clone(),
        before: change.before.clone(),
        after: change.after.clone(),
        beat_id: change.beat_id.clone(),
        event_at: seconds("event_at", change.event_at)?,
        detected_at: seconds("detected_at", change.detected_at)?,
    };
    batch.push("installation_changes", vec![row]);
    Ok(())
}
