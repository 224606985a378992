-- A table per beat family for the categories that were JSON rows of `beats_raw` (no longer
-- written; its rows age out by retention), and the customer on every row: the installation's
-- customer in the registry when the sink wrote it. Same conventions as 0001: envelope columns
-- first, one row per list item (keyed by the item's position, which a redelivered beat keeps),
-- ReplacingMergeTree so redelivered copies vanish in FINAL, monthly partitions.
--
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migration runner treats "column already
-- exists" as done, which keeps this file safe to run again after a crash half-way.

ALTER TABLE hardware_disks ADD COLUMN customer_id String AFTER installation_id;

ALTER TABLE running_processes ADD COLUMN customer_id String AFTER installation_id;

ALTER TABLE ucx_acd ADD COLUMN customer_id String AFTER installation_id;

ALTER TABLE alerts ADD COLUMN customer_id String AFTER installation_id;


-- hardware_info.processors: one row per processor (`item` is its position in the beat, so two sockets of one model stay two rows)
CREATE TABLE IF NOT EXISTS hardware_processors (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    processor_name String,
    manufacturer String,
    bitness UInt8,
    cores UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- hardware_info.memory
CREATE TABLE IF NOT EXISTS hardware_memory (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    total_bytes UInt64,
    reserved_bytes UInt64,
    available_bytes UInt64
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- hardware_info.network: one row per adapter
CREATE TABLE IF NOT EXISTS hardware_network_adapters (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    adapter_name String,
    dhcp_enabled UInt8,
    dns_servers Array(String),
    gateways Array(String),
    ip_addresses Array(String)
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- hardware_info.virtualization
CREATE TABLE IF NOT EXISTS hardware_virtualization (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    is_virtual_machine UInt8,
    hypervisor Nullable(String)
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- processes.windows_services: one row per service the beat saw, with its state
CREATE TABLE IF NOT EXISTS running_services (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    pid UInt32,
    service_name String,
    status LowCardinality(String)
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- software_info.installed_applications: one row per application
CREATE TABLE IF NOT EXISTS installed_applications (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    application_name String,
    version String,
    vendor String,
    install_path String,
    install_date Nullable(String)
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- software_info.os
CREATE TABLE IF NOT EXISTS software_os (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    edition String,
    version String,
    language String,
    system_drive String,
    system_directory String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- software_info.windows_services: one row per installed service
CREATE TABLE IF NOT EXISTS installed_services (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    service_name String,
    startup_mode LowCardinality(String),
    startup_identity String,
    exe_path String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- software_info.windows_updates: one row per hotfix
CREATE TABLE IF NOT EXISTS windows_updates (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    hotfix_id String,
    installed_at Nullable(DateTime('UTC'))
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- software_info.windows_firewall: one row per beat, a flag per profile
CREATE TABLE IF NOT EXISTS windows_firewall (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    domain_enabled UInt8,
    public_enabled UInt8,
    private_enabled UInt8
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.suite_info
CREATE TABLE IF NOT EXISTS ucx_suite_info (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    version String,
    platform String,
    install_path String,
    install_folder_size_bytes UInt64
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.cluster: one row per beat; membership is compared as a whole, and a cluster of no nodes still has its row
CREATE TABLE IF NOT EXISTS ucx_cluster (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    nodes Array(String),
    replication_strategy String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.voip_architecture
CREATE TABLE IF NOT EXISTS ucx_voip (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    cucm_version String,
    cucm_users UInt32,
    cucm_devices UInt32,
    cucm_ip String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.database_server
CREATE TABLE IF NOT EXISTS ucx_database_server (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    sql_server_edition String,
    sql_server_version String,
    instance_name String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.database
CREATE TABLE IF NOT EXISTS ucx_database (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    database_name String,
    size_bytes UInt64,
    file_paths Array(String),
    authentication LowCardinality(String),
    full_text_catalog_status String,
    last_maintenance_at Nullable(DateTime('UTC'))
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.logging
CREATE TABLE IF NOT EXISTS ucx_logging (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    enabled UInt8,
    retention_days UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.attendant_console: one row per console type
CREATE TABLE IF NOT EXISTS ucx_attendant_consoles (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    item UInt16,
    console_type String,
    connected UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, item);

-- ucx_suite.call_recording
CREATE TABLE IF NOT EXISTS ucx_call_recording (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    recording_calls UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.ivr
CREATE TABLE IF NOT EXISTS ucx_ivr (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    active_calls UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.digital_fax
CREATE TABLE IF NOT EXISTS ucx_digital_fax (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    faxes_transmitting UInt32,
    faxes_receiving UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.phone_lock
CREATE TABLE IF NOT EXISTS ucx_phone_lock (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    curri_requests_per_second Float64
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

-- ucx_suite.contact_manager
CREATE TABLE IF NOT EXISTS ucx_contact_manager (
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    curri_requests_per_second Float64
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);
