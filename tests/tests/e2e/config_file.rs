//! The documented configuration file loads into every stage and passes the gateway's checks.

use std::path::PathBuf;

#[test]
fn config_ucx_toml_loads_for_every_stage() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/ucx.toml");
    let ingest: ucx_ingest::IngestConfig = ucx_common::config::load(Some(&file)).unwrap();
    ingest.ingest.check().unwrap();
    assert_eq!(ingest.kafka.registry_topic, "ucx.registry");
    assert_eq!(ingest.ingest.rate_limit_burst, 1000);
    let _: ucx_processors::ProcessorConfig = ucx_common::config::load(Some(&file)).unwrap();
    let _: ucx_sinks::SinkConfig = ucx_common::config::load(Some(&file)).unwrap();
    let notifier: ucx_notifier::NotifierConfig = ucx_common::config::load(Some(&file)).unwrap();
    notifier.notifier.check().unwrap();
}
