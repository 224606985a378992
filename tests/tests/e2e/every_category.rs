//! Every beat category of the seed table is accepted by the gateway and lands in its family's
//! table, one row per item of its list, with the example's values and the envelope (installation,
//! customer, node, region, beat id, times) on every row.

use std::time::Duration;

use ucx_e2e::{post_every_example, query, start_pipeline, wait_until, Services, TEST_CUSTOMER};
use ucx_schemas::Category;
use ucx_sinks::clickhouse::rows::table_of;

/// What each example beat (`schemas/examples/`) becomes: the table's own columns, as
/// ClickHouse prints them (TSV, rows ordered by the item's position in the beat).
const EXPECTED: &[(Category, &str, &str)] = &[
    (
        Category::HardwareInfoDisks,
        "disk_name, model, size_bytes, free_bytes",
        "C:\tVMware Virtual disk\t107374182400\t32212254720\n\
         D:\tVMware Virtual disk\t214748364800\t10737418240\n",
    ),
    (
        Category::HardwareInfoProcessors,
        "item, processor_name, manufacturer, bitness, cores",
        "0\tIntel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\tGenuineIntel\t64\t4\n",
    ),
    (
        Category::HardwareInfoMemory,
        "total_bytes, reserved_bytes, available_bytes",
        "17179869184\t134217728\t6442450944\n",
    ),
    (
        Category::HardwareInfoNetwork,
        "item, adapter_name, dhcp_enabled, dns_servers, gateways, ip_addresses",
        "0\tEthernet0\t0\t['10.0.0.2','10.0.0.3']\t['10.0.0.1']\t['10.0.0.20']\n",
    ),
    (
        Category::HardwareInfoVirtualization,
        "is_virtual_machine, hypervisor",
        "1\tVMware\n",
    ),
    (
        Category::ProcessesRunningProcesses,
        "pid, process_name, memory_bytes, handle_count, thread_count, cpu_percent",
        "4120\tsqlservr.exe\t2147483648\t1210\t88\t12.5\n\
         5232\tApolloService.exe\t536870912\t930\t41\t3\n",
    ),
    (
        Category::ProcessesWindowsServices,
        "item, pid, service_name, status",
        "0\t4120\tApolloService\tRunning\n",
    ),
    (
        Category::SoftwareInfoInstalledApplications,
        "item, application_name, version, vendor, install_path, install_date",
        "0\tImagicle UCX Suite\t10.0.20348\tImagicle SpA\tC:\\\\Program Files\\\\Imagicle\t2024-03-18\n",
    ),
    (
        Category::SoftwareInfoOs,
        "edition, version, language, system_drive, system_directory",
        "Windows Server 2022 Standard\t10.0.20348\ten-US\tC:\tC:\\\\Windows\\\\system32\n",
    ),
    (
        Category::SoftwareInfoWindowsServices,
        "item, service_name, startup_mode, startup_identity, exe_path",
        "0\tApolloService\tAuto\tLocalSystem\tC:\\\\Program Files\\\\Imagicle\\\\ApolloService.exe\n",
    ),
    (
        Category::SoftwareInfoWindowsUpdates,
        "item, hotfix_id, toUnixTimestamp(installed_at)",
        "0\tKB5034439\t1795000000\n",
    ),
    (
        Category::SoftwareInfoWindowsFirewall,
        "domain_enabled, public_enabled, private_enabled",
        "1\t1\t0\n",
    ),
    (
        Category::UcxSuiteSuiteInfo,
        "version, platform, install_path, install_folder_size_bytes",
        "2024.Winter.1\tWindows x64\tC:\\\\Program Files\\\\Imagicle\t5368709120\n",
    ),
    (
        Category::UcxSuiteCluster,
        "nodes, replication_strategy",
        "['node-1','node-2']\tMerge\n",
    ),
    (
        Category::UcxSuiteVoipArchitecture,
        "cucm_version, cucm_users, cucm_devices, cucm_ip",
        "14.0.1.13900\t850\t1200\t10.0.0.30\n",
    ),
    (
        Category::UcxSuiteDatabaseServer,
        "sql_server_edition, sql_server_version, instance_name",
        "Express Edition (64-bit)\t16.0.1000.6\tSQLEXPRESS\n",
    ),
    (
        Category::UcxSuiteDatabase,
        "database_name, size_bytes, file_paths, authentication, full_text_catalog_status, \
         toUnixTimestamp(last_maintenance_at)",
        "ApolloDb\t4294967296\t['D:\\\\SQLData\\\\ApolloDb.mdf','D:\\\\SQLData\\\\ApolloDb_log.ldf']\tSQL\tHealthy\t1795300000\n",
    ),
    (
        Category::UcxSuiteLogging,
        "enabled, retention_days",
        "1\t30\n",
    ),
    (
        Category::UcxSuiteAttendantConsole,
        "item, console_type, connected",
        "0\tDesktop\t6\n",
    ),
    (
        Category::UcxSuiteCallRecording,
        "recording_calls",
        "3\n",
    ),
    (Category::UcxSuiteIvr, "active_calls", "7\n"),
    (
        Category::UcxSuiteAcd,
        "fifo_queued_calls, camp_on_queued_calls, active_consultation_calls",
        "4\t1\t2\n",
    ),
    (
        Category::UcxSuiteDigitalFax,
        "faxes_transmitting, faxes_receiving",
        "1\t2\n",
    ),
    (
        Category::UcxSuitePhoneLock,
        "curri_requests_per_second",
        "4.5\n",
    ),
    (
        Category::UcxSuiteContactManager,
        "curri_requests_per_second",
        "4.5\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_category_lands_in_its_table_with_its_values() {
    let services = Services::from_env();
    let pipeline = start_pipeline(&services, "every-category").await;
    assert_eq!(Category::ALL.len(), 25, "the seed table's beats");
    assert_eq!(
        EXPECTED.len(),
        Category::ALL.len(),
        "an expectation per category"
    );
    let beat_ids = post_every_example(&pipeline.gateway.url, "inst-all").await;

    let clickhouse = &pipeline.clickhouse;
    let beats_stored = Category::ALL
        .iter()
        .map(|category| format!("(SELECT uniqExact(beat_id) FROM {})", table_of(*category)))
        .collect::<Vec<_>>()
        .join(" + ");
    wait_until("every category's rows", Duration::from_secs(60), || async {
        query(clickhouse, &format!("SELECT {beats_stored}"))
            .await
            .is_ok_and(|n| n.trim() == Category::ALL.len().to_string())
    })
    .await;

    for (category, columns, expected) in EXPECTED {
        let table = table_of(*category);
        let values = query(
            clickhouse,
            &format!("SELECT {columns} FROM {table} FINAL ORDER BY sent_at, beat_id, {columns}"),
        )
        .await
        .unwrap();
        assert_eq!(&values, expected, "{} in {table}", category.id());

        // The envelope on every row: one distinct envelope per beat.
        let envelope = query(
            clickhouse,
            &format!(
                "SELECT DISTINCT installation_id, customer_id, node_id, region, toString(beat_id), \
                 sent_at > now() - 600, received_at >= sent_at FROM {table}"
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            envelope,
            format!(
                "inst-all\t{TEST_CUSTOMER}\tnode-1\tEU\t{}\t1\t1\n",
                beat_ids[category]
            ),
            "{} in {table}",
            category.id()
        );
    }
}
