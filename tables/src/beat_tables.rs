//! Every beat table, declared once. A declaration names the beat category, the table, its row
//! type and the columns that follow the envelope's in the sort key; then it says which items of
//! the beat become rows (`rows(data) = …`, one row per item; a single-row table gives the beat's
//! data itself) and, per column, its Rust type and how its value comes from the item. From it
//! follow the row type, the category's table ([`table_of`]), the beat → rows conversion
//! ([`add_beat`]), the table's `CREATE TABLE` and the column list the sinks check the database
//! against ([`BEAT_TABLES`]). A category without a declaration does not compile.
//!
//! Every row starts with the envelope's columns (installation, customer, node, region, beat id,
//! sent and received times); tables are `ReplacingMergeTree(received_at)`, partitioned by month
//! of `sent_at`, sorted by `(installation_id, node_id, sent_at, beat_id, <key>)`, so that a
//! redelivered beat's rows replace themselves and one installation's time range is one read.

use serde::{Deserialize, Serialize};
use ucx_schemas::{Beat, BeatPayload, Category};

use crate::columns::{
    optional_seconds, position, unsigned, ColumnType, EnvelopeColumns, RowError, RowSink, Seconds,
    ENVELOPE_COLUMNS,
};

/// What the rest of the pipeline knows of a beat table.
pub struct BeatTable {
    pub category: Category,
    pub table: &'static str,
    /// The row's columns after the envelope's, in order.
    pub columns: fn() -> Vec<(&'static str, String)>,
    /// Sort-key columns after the envelope's.
    pub key: &'static [&'static str],
    /// What one row stands for, for the docs.
    pub one_row_per: &'static str,
}

impl BeatTable {
    /// Every column name, the envelope's first: what the row writes.
    pub fn column_names(&self) -> Vec<&'static str> {
        ENVELOPE_COLUMNS
            .iter()
            .map(|(name, _)| *name)
            .chain((self.columns)().into_iter().map(|(name, _)| name))
            .collect()
    }

    /// `CREATE TABLE IF NOT EXISTS` for the table (runs on ClickHouse 18.16 and current).
    pub fn create_sql(&self) -> String {
        let columns: Vec<String> = ENVELOPE_COLUMNS
            .iter()
            .map(|(name, sql)| format!("    {name} {sql}"))
            .chain(
                (self.columns)()
                    .into_iter()
                    .map(|(name, sql)| format!("    {name} {sql}")),
            )
            .collect();
        let key: Vec<&str> = ["installation_id", "node_id", "sent_at", "beat_id"]
            .into_iter()
            .chain(self.key.iter().copied())
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n) ENGINE = ReplacingMergeTree(received_at)\n\
             PARTITION BY toYYYYMM(sent_at)\nORDER BY ({})",
            self.table,
            columns.join(",\n"),
            key.join(", ")
        )
    }
}

/// The declaration language; see the module's documentation.
macro_rules! beat_tables {
    ($(
        $(#[doc = $doc:literal])*
        $category:ident => $table:literal, $row:ident, key [$($key:ident),*],
        rows($data:ident) = $items:expr, |$index:pat_param, $item:ident| {
            $($column:ident: $ty:ty = $value:expr),+ $(,)?
        }
    )+) => {
        $(
            #[doc = concat!("A row of `", $table, "`: one per", $($doc),*, ".")]
            #[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
            pub struct $row {
                pub installation_id: String,
                pub customer_id: String,
                pub node_id: String,
                pub region: String,
                #[serde(with = "clickhouse::serde::uuid")]
                pub beat_id: uuid::Uuid,
                pub sent_at: Seconds,
                pub received_at: Seconds,
                $(pub $column: $ty,)+
            }
        )+

        /// The table each beat category is written to.
        pub fn table_of(category: Category) -> &'static str {
            match category {
                $(Category::$category => $table,)+
            }
        }

        /// Every beat table, in the order of the declarations.
        pub static BEAT_TABLES: &[BeatTable] = &[
            $(BeatTable {
                category: Category::$category,
                table: $table,
                columns: || vec![$((stringify!($column), <$ty as ColumnType>::sql()),)+],
                key: &[$(stringify!($key)),*],
                one_row_per: concat!($($doc),*).trim_ascii(),
            },)+
        ];

        /// Adds the rows of `beat` to `sink`, `customer_id` on each, and returns their table;
        /// on error nothing of the beat is added.
        pub fn add_beat<S: RowSink>(
            beat: &Beat,
            customer_id: &str,
            sink: &mut S,
        ) -> Result<&'static str, RowError> {
            let envelope = EnvelopeColumns::new(&beat.envelope, customer_id)?;
            match &beat.payload {
                $(BeatPayload::$category($data) => {
                    let rows = $items
                        .iter()
                        .enumerate()
                        .map(|(index, $item)| {
                            let $index = position(index)?;
                            Ok($row {
                                installation_id: envelope.installation_id.clone(),
                                customer_id: envelope.customer_id.clone(),
                                node_id: envelope.node_id.clone(),
                                region: envelope.region.clone(),
                                beat_id: envelope.beat_id,
                                sent_at: envelope.sent_at,
                                received_at: envelope.received_at,
                                $($column: $value,)+
                            })
                        })
                        .collect::<Result<Vec<$row>, RowError>>()?;
                    sink.push($table, rows);
                    Ok($table)
                })+
            }
        }
    };
}

beat_tables! {
    /// disk
    HardwareInfoDisks => "hardware_disks", DiskRow, key [disk_name],
    rows(data) = data.disks, |_, disk| {
        disk_name: String = disk.name.clone(),
        model: String = disk.model.clone(),
        size_bytes: u64 = unsigned("size_bytes", disk.size_bytes)?,
        free_bytes: u64 = unsigned("free_bytes", disk.free_bytes)?,
    }

    /// processor (`item` is its position in the beat, so two sockets of one model stay two rows)
    HardwareInfoProcessors => "hardware_processors", ProcessorRow, key [item],
    rows(data) = data.processors, |item, cpu| {
        item: u16 = item,
        processor_name: String = cpu.name.clone(),
        manufacturer: String = cpu.manufacturer.clone(),
        bitness: u8 = unsigned("bitness", i64::from(cpu.bitness))?,
        cores: u32 = unsigned("cores", cpu.cores)?,
    }

    /// beat
    HardwareInfoMemory => "hardware_memory", MemoryRow, key [],
    rows(data) = std::slice::from_ref(data), |_, memory| {
        total_bytes: u64 = unsigned("total_bytes", memory.total_bytes)?,
        reserved_bytes: u64 = unsigned("reserved_bytes", memory.reserved_bytes)?,
        available_bytes: u64 = unsigned("available_bytes", memory.available_bytes)?,
    }

    /// network adapter
    HardwareInfoNetwork => "hardware_network_adapters", NetworkAdapterRow, key [item],
    rows(data) = data.adapters, |item, adapter| {
        item: u16 = item,
        adapter_name: String = adapter.name.clone(),
        dhcp_enabled: bool = adapter.dhcp_enabled,
        dns_servers: Vec<String> = adapter.dns_servers.clone(),
        gateways: Vec<String> = adapter.gateways.clone(),
        ip_addresses: Vec<String> = adapter.ip_addresses.clone(),
    }

    /// beat
    HardwareInfoVirtualization => "hardware_virtualization", VirtualizationRow, key [],
    rows(data) = std::slice::from_ref(data), |_, virtualization| {
        is_virtual_machine: bool = virtualization.is_virtual_machine,
        hypervisor: Option<String> = virtualization.hypervisor.clone(),
    }

    /// process
    ProcessesRunningProcesses => "running_processes", ProcessRow, key [pid, process_name],
    rows(data) = data.processes, |_, process| {
        pid: u32 = unsigned("pid", process.pid)?,
        process_name: String = process.name.clone(),
        memory_bytes: u64 = unsigned("memory_bytes", process.memory_bytes)?,
        handle_count: u32 = unsigned("handle_count", process.handle_count)?,
        thread_count: u32 = unsigned("thread_count", process.thread_count)?,
        cpu_percent: f32 = process.cpu_percent as f32,
    }

    /// service and its state
    ProcessesWindowsServices => "running_services", RunningServiceRow, key [item],
    rows(data) = data.services, |item, service| {
        item: u16 = item,
        pid: u32 = unsigned("pid", service.pid)?,
        service_name: String = service.name.clone(),
        status: String = service.status.clone(),
    }

    /// application
    SoftwareInfoInstalledApplications => "installed_applications", InstalledApplicationRow, key [item],
    rows(data) = data.applications, |item, application| {
        item: u16 = item,
        application_name: String = application.name.clone(),
        version: String = application.version.clone(),
        vendor: String = application.vendor.clone(),
        install_path: String = application.install_path.clone(),
        install_date: Option<String> = application.install_date.clone(),
    }

    /// beat
    SoftwareInfoOs => "software_os", OsRow, key [],
    rows(data) = std::slice::from_ref(data), |_, os| {
        edition: String = os.edition.clone(),
        version: String = os.version.clone(),
        language: String = os.language.clone(),
        system_drive: String = os.system_drive.clone(),
        system_directory: String = os.system_directory.clone(),
    }

    /// service and its start mode
    SoftwareInfoWindowsServices => "installed_services", InstalledServiceRow, key [item],
    rows(data) = data.services, |item, service| {
        item: u16 = item,
        service_name: String = service.name.clone(),
        startup_mode: String = service.startup_mode.clone(),
        startup_identity: String = service.startup_identity.clone(),
        exe_path: String = service.exe_path.clone(),
    }

    /// hotfix
    SoftwareInfoWindowsUpdates => "windows_updates", HotfixRow, key [item],
    rows(data) = data.hotfixes, |item, hotfix| {
        item: u16 = item,
        hotfix_id: String = hotfix.hotfix_id.clone(),
        installed_at: Option<Seconds> = optional_seconds("installed_at", hotfix.installed_at)?,
    }

    /// beat
    SoftwareInfoWindowsFirewall => "windows_firewall", FirewallRow, key [],
    rows(data) = std::slice::from_ref(data), |_, firewall| {
        domain_enabled: bool = firewall.domain_enabled,
        public_enabled: bool = firewall.public_enabled,
        private_enabled: bool = firewall.private_enabled,
    }

    /// beat
    UcxSuiteSuiteInfo => "ucx_suite_info", SuiteInfoRow, key [],
    rows(data) = std::slice::from_ref(data), |_, suite| {
        version: String = suite.version.clone(),
        platform: String = suite.platform.clone(),
        install_path: String = suite.install_path.clone(),
        install_folder_size_bytes: u64 =
            unsigned("install_folder_size_bytes", suite.install_folder_size_bytes)?,
    }

    /// beat (the nodes as an array)
    UcxSuiteCluster => "ucx_cluster", ClusterRow, key [],
    rows(data) = std::slice::from_ref(data), |_, cluster| {
        nodes: Vec<String> = cluster.nodes.clone(),
        replication_strategy: String = cluster.replication_strategy.clone(),
    }

    /// beat
    UcxSuiteVoipArchitecture => "ucx_voip", VoipRow, key [],
    rows(data) = std::slice::from_ref(data), |_, voip| {
        cucm_version: String = voip.cucm_version.clone(),
        cucm_users: u32 = unsigned("cucm_users", voip.cucm_users)?,
        cucm_devices: u32 = unsigned("cucm_devices", voip.cucm_devices)?,
        cucm_ip: String = voip.cucm_ip.clone(),
    }

    /// beat
    UcxSuiteDatabaseServer => "ucx_database_server", DatabaseServerRow, key [],
    rows(data) = std::slice::from_ref(data), |_, server| {
        sql_server_edition: String = server.sql_server_edition.clone(),
        sql_server_version: String = server.sql_server_version.clone(),
        instance_name: String = server.instance_name.clone(),
    }

    /// beat
    UcxSuiteDatabase => "ucx_database", DatabaseRow, key [],
    rows(data) = std::slice::from_ref(data), |_, database| {
        database_name: String = database.database_name.clone(),
        size_bytes: u64 = unsigned("size_bytes", database.size_bytes)?,
        file_paths: Vec<String> = database.file_paths.clone(),
        authentication: String = database.authentication.clone(),
        full_text_catalog_status: String = database.full_text_catalog_status.clone(),
        last_maintenance_at: Option<Seconds> =
            optional_seconds("last_maintenance_at", database.last_maintenance_at)?,
    }

    /// beat
    UcxSuiteLogging => "ucx_logging", LoggingRow, key [],
    rows(data) = std::slice::from_ref(data), |_, logging| {
        enabled: bool = logging.enabled,
        retention_days: u32 = unsigned("retention_days", logging.retention_days)?,
    }

    /// console type
    UcxSuiteAttendantConsole => "ucx_attendant_consoles", AttendantConsoleRow, key [item],
    rows(data) = data.consoles, |item, console| {
        item: u16 = item,
        console_type: String = console.console_type.clone(),
        connected: u32 = unsigned("connected", console.connected)?,
    }

    /// beat
    UcxSuiteCallRecording => "ucx_call_recording", CallRecordingRow, key [],
    rows(data) = std::slice::from_ref(data), |_, recording| {
        recording_calls: u32 = unsigned("recording_calls", recording.recording_calls)?,
    }

    /// beat
    UcxSuiteIvr => "ucx_ivr", IvrRow, key [],
    rows(data) = std::slice::from_ref(data), |_, ivr| {
        active_calls: u32 = unsigned("active_calls", ivr.active_calls)?,
    }

    /// beat
    UcxSuiteAcd => "ucx_acd", AcdRow, key [],
    rows(data) = std::slice::from_ref(data), |_, acd| {
        fifo_queued_calls: u32 = unsigned("fifo_queued_calls", acd.fifo_queued_calls)?,
        camp_on_queued_calls: u32 = unsigned("camp_on_queued_calls", acd.camp_on_queued_calls)?,
        active_consultation_calls: u32 =
            unsigned("active_consultation_calls", acd.active_consultation_calls)?,
    }

    /// beat
    UcxSuiteDigitalFax => "ucx_digital_fax", DigitalFaxRow, key [],
    rows(data) = std::slice::from_ref(data), |_, fax| {
        faxes_transmitting: u32 = unsigned("faxes_transmitting", fax.faxes_transmitting)?,
        faxes_receiving: u32 = unsigned("faxes_receiving", fax.faxes_receiving)?,
    }

    /// beat
    UcxSuitePhoneLock => "ucx_phone_lock", PhoneLockRow, key [],
    rows(data) = std::slice::from_ref(data), |_, phone_lock| {
        curri_requests_per_second: f64 = phone_lock.curri_requests_per_second,
    }

    /// beat
    UcxSuiteContactManager => "ucx_contact_manager", ContactManagerRow, key [],
    rows(data) = std::slice::from_ref(data), |_, contact_manager| {
        curri_requests_per_second: f64 = contact_manager.curri_requests_per_second,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_one_table_and_every_table_one_category() {
        assert_eq!(BEAT_TABLES.len(), Category::ALL.len());
        for &category in Category::ALL {
            let declared: Vec<&BeatTable> = BEAT_TABLES
                .iter()
                .filter(|table| table.category == category)
                .collect();
            assert_eq!(declared.len(), 1, "{category:?}");
            assert_eq!(declared[0].table, table_of(category));
        }
    }

    #[test]
    fn the_declared_columns_are_the_rows_columns() {
        use clickhouse::Row;
        assert_eq!(
            BEAT_TABLES[0].column_names(),
            <DiskRow as Row>::COLUMN_NAMES.to_vec()
        );
        let sql = BEAT_TABLES
            .iter()
            .find(|table| table.table == "windows_updates")
            .unwrap()
            .create_sql();
        assert!(
            sql.contains("installed_at Nullable(DateTime('UTC'))"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY (installation_id, node_id, sent_at, beat_id, item)"),
            "{sql}"
        );
    }
}
