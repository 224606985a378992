//! Schema evolution: records written with every earlier schema version decode with the current
//! one, and the check catches a change that would break that.

use std::path::PathBuf;

use apache_avro::rabin::Rabin;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use ucx_schemas::{decode_beat, BeatPayload, Category, PiiPolicy};

fn history() -> Vec<(Category, Schema)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro/history");
    let mut schemas = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let category_id = file.split(".v").next().unwrap();
        if category_id == "alert" || category_id == "installation" {
            continue; // see their own tests below
        }
        let category = *Category::ALL
            .iter()
            .find(|c| c.id() == category_id)
            .unwrap_or_else(|| panic!("{file} names no category"));
        schemas.push((
            category,
            Schema::parse_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
        ));
    }
    schemas
}

/// `record` written with `writer` as a Kafka record is: single-object encoded.
fn single_object(writer: &Schema, record: serde_json::Value) -> Vec<u8> {
    let value = apache_avro::types::Value::from(record)
        .resolve(writer)
        .unwrap();
    let mut bytes = vec![0xC3, 0x01];
    bytes.extend(writer.fingerprint::<Rabin>().bytes);
    bytes.extend(apache_avro::to_avro_datum(writer, value).unwrap());
    bytes
}

fn current(category: Category) -> Schema {
    Schema::parse_str(category.schema_source()).unwrap()
}

#[test]
fn the_current_schemas_read_every_earlier_version() {
    let history = history();
    assert!(!history.is_empty());
    for (category, writer) in history {
        SchemaCompatibility::can_read(&writer, &current(category)).unwrap_or_else(|error| {
            panic!("{} cannot read an earlier version: {error}", category.id())
        });
    }
}

#[test]
fn a_field_added_without_a_default_is_caught() {
    let category = Category::UcxSuiteIvr;
    let mut changed: serde_json::Value = serde_json::from_str(category.schema_source()).unwrap();
    changed["fields"][1]["type"]["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "queued_calls", "type": "long"}));
    let changed = Schema::parse_str(&changed.to_string()).unwrap();
    assert!(SchemaCompatibility::can_read(&current(category), &changed).is_err());

    let mut with_default: serde_json::Value =
        serde_json::from_str(category.schema_source()).unwrap();
    with_default["fields"][1]["type"]["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "queued_calls", "type": "long", "default": 0}));
    let with_default = Schema::parse_str(&with_default.to_string()).unwrap();
    assert!(SchemaCompatibility::can_read(&current(category), &with_default).is_ok());
}

/// The 2024 terms call the Windows service start mode "Startup name": a record written with that
/// field name decodes into today's `startup_mode`.
#[test]
fn a_record_written_with_the_2024_field_name_decodes_into_startup_mode() {
    let (_, writer) = history()
        .into_iter()
        .find(|(category, _)| *category == Category::SoftwareInfoWindowsServices)
        .unwrap();
    let record = serde_json::json!({
        "envelope": {
            "beat_id": "00000000-0000-4000-8000-000000001004", "installation_id": "inst-old", "node_id": "node-1",
            "region": "US", "sent_at": 1_795_428_000_000_i64, "received_at": 1_795_428_000_100_i64, "source_ip": null
        },
        "data": {"services": [{"name": "ApolloService", "startup_name": "Manual", "startup_identity": "LocalSystem", "exe_path": "C:\\a.exe"}]}
    });
    let bytes = single_object(&writer, record);

    let beat = decode_beat(&bytes).unwrap();
    let BeatPayload::SoftwareInfoWindowsServices(data) = beat.payload else {
        panic!("decoded as {:?}", beat.category())
    };
    assert_eq!(data.services[0].startup_mode, "Manual");
    assert_eq!(beat.envelope.installation_id, "inst-old");
}

#[test]
fn the_wire_format_accepts_both_names_of_the_start_mode() {
    let example = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/software_info.windows_services.json"),
    )
    .unwrap()
    .replace("startup_mode", "startup_name");
    let parsed =
        ucx_schemas::parse_beat(example.as_bytes(), 1_795_428_300_000, PiiPolicy::Redact).unwrap();
    assert!(
        parsed.unknown_fields.is_empty(),
        "{:?}",
        parsed.unknown_fields
    );
    let BeatPayload::SoftwareInfoWindowsServices(data) = parsed.beat.payload else {
        panic!()
    };
    assert_eq!(data.services[0].startup_mode, "Auto");
}

/// Alerts gained their customer, tier routing and explanation in v2: v1 records still decode,
/// with the new fields at their defaults.
#[test]
fn the_current_alert_schema_reads_v1_records() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro");
    let v1 =
        Schema::parse_str(&std::fs::read_to_string(folder.join("history/alert.v1.avsc")).unwrap())
            .unwrap();
    let current =
        Schema::parse_str(&std::fs::read_to_string(folder.join("alerts/alert.avsc")).unwrap())
            .unwrap();
    SchemaCompatibility::can_read(&v1, &current).unwrap();

    let record = serde_json::json!({
        "alert_id": "a", "installation_id": "inst-old", "node_id": "node-1", "region": "EU",
        "rule_id": "disk_free_low", "rule_version": 1, "subject": "disk C:", "severity": "WARNING",
        "state": "OPEN", "summary": "s", "observed_value": 9.5, "threshold": 15.0,
        "beat_id": "b", "event_at": 1_795_428_000_000_i64, "raised_at": 1_795_428_000_100_i64
    });
    let bytes = single_object(&v1, record);
    let alert = ucx_schemas::decode_alert(&bytes).unwrap();
    assert_eq!(alert.subject, "disk C:");
    assert_eq!(alert.customer_id, "");
    assert!(!alert.notify_customer);
}

/// v3 added reminders, acknowledgements and suppression: v2 records still decode.
#[test]
fn the_current_alert_schema_reads_v2_records() {
    let v2 = readable_alert_history("v2");

    let record = serde_json::json!({
        "alert_id": "a", "installation_id": "inst-old", "node_id": "node-1", "region": "EU",
        "rule_id": "disk_free_low", "rule_version": 2, "subject": "disk C:", "severity": "WARNING",
        "state": "RESOLVED", "summary": "s", "observed_value": 9.5, "threshold": 15.0,
        "beat_id": "b", "event_at": 1_795_428_000_000_i64, "raised_at": 1_795_428_000_100_i64,
        "customer_id": "cust", "contract_tier": "GOLD", "notify_customer": true,
        "explanation": "e", "dashboard_url": "d"
    });
    let bytes = single_object(&v2, record);
    let alert = ucx_schemas::decode_alert(&bytes).unwrap();
    assert_eq!(alert.state, ucx_schemas::AlertState::Resolved);
    assert!(alert.reaches_customer());
    assert_eq!(
        (alert.suppressed_by.as_str(), alert.acknowledged_by.as_str()),
        ("", "")
    );
}

/// Installations gained their licensed capacity in v2: v1 records (every key issued before)
/// still decode, with the capacity unknown.
#[test]
fn the_current_installation_schema_reads_v1_records() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro");
    let v1 = Schema::parse_str(
        &std::fs::read_to_string(folder.join("history/installation.v1.avsc")).unwrap(),
    )
    .unwrap();
    let record = serde_json::json!({
        "installation_id": "inst-old", "customer_id": "cust", "key_id": "k",
        "key_sha256": "ab", "status": "ACTIVE", "updated_at": 1_795_428_000_000_i64
    });
    let bytes = single_object(&v1, record);
    let ucx_schemas::RegistryRecord::Installation(installation) =
        ucx_schemas::decode_registry(&bytes).unwrap()
    else {
        panic!("not an installation")
    };
    assert_eq!(installation.installation_id, "inst-old");
    assert_eq!(
        (installation.licensed_users, installation.licensed_devices),
        (None, None)
    );
}

/// v4 says why an alert resolved: v3 records still decode, with no reason.
#[test]
fn the_current_alert_schema_reads_v3_records() {
    let v3 = readable_alert_history("v3");
    let record = serde_json::json!({
        "alert_id": "a", "installation_id": "inst-old", "node_id": "node-1", "region": "EU",
        "rule_id": "disk_free_low", "rule_version": 2, "subject": "disk C:", "severity": "WARNING",
        "state": "ACKNOWLEDGED", "summary": "s", "observed_value": 9.5, "threshold": 15.0,
        "beat_id": "b", "event_at": 1_795_428_000_000_i64, "raised_at": 1_795_428_000_100_i64,
        "customer_id": "cust", "contract_tier": "GOLD", "notify_customer": true,
        "explanation": "e", "dashboard_url": "d", "suppressed_by": "", "acknowledged_by": "anna"
    });
    let bytes = single_object(&v3, record);
    let alert = ucx_schemas::decode_alert(&bytes).unwrap();
    assert_eq!(alert.acknowledged_by, "anna");
    assert_eq!(alert.resolution, "");
}

/// v5 groups related findings: v4 records still decode, in no incident.
#[test]
fn the_current_alert_schema_reads_v4_records() {
    let v4 = readable_alert_history("v4");
    let record = serde_json::json!({
        "alert_id": "a", "installation_id": "inst-old", "node_id": "node-1", "region": "EU",
        "rule_id": "disk_free_low", "rule_version": 2, "subject": "disk C:", "severity": "WARNING",
        "state": "RESOLVED", "summary": "s", "observed_value": 9.5, "threshold": 15.0,
        "beat_id": "b", "event_at": 1_795_428_000_000_i64, "raised_at": 1_795_428_000_100_i64,
        "customer_id": "cust", "contract_tier": "GOLD", "notify_customer": true,
        "explanation": "e", "dashboard_url": "d", "suppressed_by": "", "acknowledged_by": "",
        "resolution": "cleared"
    });
    let bytes = single_object(&v4, record);
    let alert = ucx_schemas::decode_alert(&bytes).unwrap();
    assert_eq!(alert.resolution, "cleared");
    assert_eq!(alert.incident_id, "");
}

/// The alert schema `version` from `avro/history`, after checking the current one reads it.
fn readable_alert_history(version: &str) -> Schema {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro");
    let read = |path: &str| Schema::parse_str(&std::fs::read_to_string(folder.join(path)).unwrap());
    let older = read(&format!("history/alert.{version}.avsc")).unwrap();
    let current = read("alerts/alert.avsc").unwrap();
    SchemaCompatibility::can_read(&older, &current).unwrap();
    older
}

/// v6 names the rule library's version: v5 records still decode, as version 0.
#[test]
fn the_current_alert_schema_reads_v5_records() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro");
    let v5 =
        Schema::parse_str(&std::fs::read_to_string(folder.join("history/alert.v5.avsc")).unwrap())
            .unwrap();
    let current =
        Schema::parse_str(&std::fs::read_to_string(folder.join("alerts/alert.avsc")).unwrap())
            .unwrap();
    SchemaCompatibility::can_read(&v5, &current).unwrap();
    let record = serde_json::json!({
        "alert_id": "a", "installation_id": "inst-old", "node_id": "node-1", "region": "EU",
        "rule_id": "disk_free_low", "rule_version": 2, "subject": "disk C:", "severity": "WARNING",
        "state": "OPEN", "summary": "s", "observed_value": 9.5, "threshold": 15.0,
        "beat_id": "b", "event_at": 1_795_428_000_000_i64, "raised_at": 1_795_428_000_100_i64,
        "customer_id": "cust", "contract_tier": "GOLD", "notify_customer": true,
        "explanation": "e", "dashboard_url": "d", "suppressed_by": "", "acknowledged_by": "",
        "resolution": "", "incident_id": "a"
    });
    let bytes = single_object(&v5, record);
    let alert = ucx_schemas::decode_alert(&bytes).unwrap();
    assert_eq!(alert.incident_id, "a");
    assert_eq!(alert.library_version, 0);
}
