//! Every beat category of the seed table is accepted by the gateway and lands in its family's
//! table, one row per item of its list, with the example's values and the envelope (installation,
//! customer, node, region, beat id, times) on every row.

use std::time::Duration;

use ucx_e2e::{
    post_every_example, query, start_pipeline, wait_until, Services, EXAMPLE_MAINTENANCE_AGE_MS,
    TEST_CUSTOMER,
};
use ucx_schemas::Category;
use ucx_tables::{table_of, BEAT_TABLES};

/// What each example beat (`schemas/examples/`) becomes: the values of the table's own columns
/// (those its declaration in `tables/src/beat_tables.rs` names after the envelope's), as
/// ClickHouse prints them (TSV, rows ordered by the item's position in the beat).
const EXPECTED: &[(Category, &str)] = &[
    (
        Category::HardwareInfoDisks,
        "C:\tVMware Virtual disk\t107374182400\t32212254720\n\
         D:\tVMware Virtual disk\t214748364800\t128849018880\n",
    ),
    (
        Category::HardwareInfoProcessors,
        "0\tIntel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\tGenuineIntel\t64\t4\n",
    ),
    (
        Category::HardwareInfoMemory,
        "17179869184\t134217728\t6442450944\n",
    ),
    (
        Category::HardwareInfoNetwork,
        "0\tEthernet0\t0\t['10.0.0.2','10.0.0.3']\t['10.0.0.1']\t['10.0.0.20']\n",
    ),
    (
        Category::HardwareInfoVirtualization,
        "1\tVMware\n",
    ),
    (
        Category::ProcessesRunningProcesses,
        "4120\tsqlservr.exe\t2147483648\t1210\t88\t12.5\n\
         5232\tApolloService.exe\t536870912\t930\t41\t3\n",
    ),
    (
        Category::ProcessesWindowsServices,
        "0\t4120\tApolloService\tRunning\n",
    ),
    (
        Category::SoftwareInfoInstalledApplications,
        "0\tImagicle UCX Suite\t10.0.20348\tImagicle SpA\tC:\\\\Program Files\\\\Imagicle\t2024-03-18\n",
    ),
    (
        Category::SoftwareInfoOs,
        "Windows Server 2022 Standard\t10.0.20348\ten-US\tC:\tC:\\\\Windows\\\\system32\n",
    ),
    (
        Category::SoftwareInfoWindowsServices,
        "0\tApolloService\tAuto\tLocalSystem\tC:\\\\Program Files\\\\Imagicle\\\\ApolloService.exe\n",
    ),
    (
        Category::SoftwareInfoWindowsUpdates,
        "0\tKB5034439\t2026-11-18 11:06:40\n",
    ),
    (
        Category::SoftwareInfoWindowsFirewall,
        "1\t1\t1\n",
    ),
    (
        Category::UcxSuiteSuiteInfo,
        "2024.Winter.1\tWindows x64\tC:\\\\Program Files\\\\Imagicle\t5368709120\n",
    ),
    (
        Category::UcxSuiteCluster,
        "['node-1','node-2']\tMerge\n",
    ),
    (
        Category::UcxSuiteVoipArchitecture,
        "14.0.1.13900\t850\t1200\t10.0.0.30\n",
    ),
    (
        Category::UcxSuiteDatabaseServer,
        "Express Edition (64-bit)\t16.0.1000.6\tSQLEXPRESS\n",
    ),
    (
        Category::UcxSuiteDatabase,
        // last maintained EXAMPLE_MAINTENANCE_AGE_MS before it was posted: compared apart
        "ApolloDb\t4294967296\t['D:\\\\SQLData\\\\ApolloDb.mdf','D:\\\\SQLData\\\\ApolloDb_log.ldf']\tSQL\tHealthy\t{maintained}\n",
    ),
    (
        Category::UcxSuiteLogging,
        "1\t30\n",
    ),
    (
        Category::UcxSuiteAttendantConsole,
        "0\tDesktop\t6\n",
    ),
    (
        Category::UcxSuiteCallRecording,
        "3\n",
    ),
    (Category::UcxSuiteIvr, "7\n"),
    (
        Category::UcxSuiteAcd,
        "4\t1\t2\n",
    ),
    (
        Category::UcxSuiteDigitalFax,
        "1\t2\n",
    ),
    (
        Category::UcxSuitePhoneLock,
        "4.5\n",
    ),
    (
        Category::UcxSuiteContactManager,
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

    assert_eq!(
        EXPECTED.len(),
        BEAT_TABLES.len(),
        "an expectation per table"
    );
    for (category, expected) in EXPECTED {
        let table = table_of(*category);
        let declaration = BEAT_TABLES.iter().find(|t| t.table == table).unwrap();
        let columns: Vec<&str> = (declaration.columns)()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let columns = columns.join(", ");
        let values = query(
            clickhouse,
            &format!("SELECT {columns} FROM {table} FINAL ORDER BY sent_at, beat_id, {columns}"),
        )
        .await
        .unwrap();
        let expected = if expected.contains("{maintained}") {
            let maintained = query(
                clickhouse,
                &format!(
                    "SELECT toString(last_maintenance_at), \
                     abs(toInt64(toUnixTimestamp(last_maintenance_at)) - (toInt64(toUnixTimestamp(sent_at)) - {})) < 5 \
                     FROM {table}",
                    EXAMPLE_MAINTENANCE_AGE_MS / 1000
                ),
            )
            .await
            .unwrap();
            let (maintained, as_old_as_the_example) = maintained.trim().split_once('\t').unwrap();
            assert_eq!(as_old_as_the_example, "1", "{maintained}");
            expected.replace("{maintained}", maintained)
        } else {
            expected.to_string()
        };
        assert_eq!(values, expected, "{} in {table}", category.id());

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
