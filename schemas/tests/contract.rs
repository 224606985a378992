//! The contract's promises: every example beat round-trips JSON → Rust → Avro → Rust, every
//! category has a schema and an example, and bad beats are refused with a usable message.

use std::path::PathBuf;

use ucx_schemas::{
    decode_alert, decode_beat, encode_alert, encode_beat, parse_beat_json, Alert, AlertState,
    Category, Region, Severity, WireError,
};

/// 2026-11-23T10:05:00Z: shortly after the examples' `sent_at`.
const NOW_MS: i64 = 1_795_428_300_000;

fn example_path(category: Category) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{}.json", category.id()))
}

fn example(category: Category) -> Vec<u8> {
    std::fs::read(example_path(category)).expect("every category has an example")
}

#[test]
fn every_example_round_trips_through_avro() {
    for &category in Category::ALL {
        let beat = parse_beat_json(&example(category), NOW_MS)
            .unwrap_or_else(|error| panic!("example {} is refused: {error}", category.id()));
        assert_eq!(beat.category(), category);
        assert_eq!(beat.envelope.received_at, NOW_MS);
        let bytes = encode_beat(&beat).expect("encodes");
        assert_eq!(&bytes[..2], &[0xC3, 0x01], "single-object magic");
        let decoded = decode_beat(&bytes).expect("decodes");
        assert_eq!(decoded, beat, "{} changed through avro", category.id());
    }
}

#[test]
fn wire_json_written_by_the_types_parses_back_to_the_same_beat() {
    for &category in Category::ALL {
        let beat = parse_beat_json(&example(category), NOW_MS).unwrap();
        let reposted = serde_json::to_vec(&beat.to_wire_json()).unwrap();
        assert_eq!(parse_beat_json(&reposted, NOW_MS).unwrap(), beat);
    }
}

#[test]
fn rfc3339_and_epoch_millis_mean_the_same_instant() {
    let text = br#"{"beat_id":"9a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d","installation_id":"i","node_id":"n","region":"US","sent_at":"2026-11-23T10:00:00.250+01:00","category":"ucx_suite.acd","data":{"fifo_queued_calls":0,"camp_on_queued_calls":0,"active_consultation_calls":0}}"#;
    let beat = parse_beat_json(text, NOW_MS).unwrap();
    assert_eq!(beat.envelope.sent_at, 1_795_428_000_000 - 3_600_000 + 250);
}

fn refusal(body: &str) -> WireError {
    parse_beat_json(body.as_bytes(), NOW_MS).expect_err("must be refused")
}

fn acd_with(data: &str) -> String {
    format!(
        r#"{{"beat_id":"9a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d","installation_id":"i","node_id":"n","region":"EU","sent_at":1795428000000,"category":"ucx_suite.acd","data":{data}}}"#
    )
}

#[test]
fn malformed_json_is_refused_as_invalid_json() {
    let error = refusal("{\"beat_id\": ");
    assert!(error.to_string().starts_with("invalid JSON"), "{error}");
}

#[test]
fn unknown_category_names_the_known_ones() {
    let error = refusal(&acd_with("{}").replace("ucx_suite.acd", "ucx_suite.teleport"));
    let message = error.to_string();
    assert!(message.contains("field `category`"), "{message}");
    assert!(message.contains("ucx_suite.teleport"), "{message}");
    assert!(message.contains("hardware_info.disks"), "{message}");
}

#[test]
fn wrong_type_and_missing_field_carry_the_path() {
    let message = refusal(&acd_with(
        r#"{"fifo_queued_calls":"four","camp_on_queued_calls":0,"active_consultation_calls":0}"#,
    ))
    .to_string();
    assert!(message.contains("data.fifo_queued_calls"), "{message}");
    let message = refusal(&acd_with(
        r#"{"fifo_queued_calls":1,"camp_on_queued_calls":0}"#,
    ))
    .to_string();
    assert!(message.contains("active_consultation_calls"), "{message}");
}

#[test]
fn impossible_values_are_listed_with_path_expected_and_found() {
    let body = r#"{"beat_id":"not-a-uuid","installation_id":"i","node_id":"n","region":"EU","sent_at":1795428000000,"category":"hardware_info.disks","data":{"disks":[{"name":"C:","model":"m","size_bytes":100,"free_bytes":200},{"name":"D:","model":"m","size_bytes":-1,"free_bytes":0}]}}"#;
    let WireError::Invalid(violations) = refusal(body) else {
        panic!("expected violations")
    };
    let mut paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "beat_id",
            "data.disks[0].free_bytes",
            "data.disks[1].size_bytes"
        ]
    );
    let free = violations
        .iter()
        .find(|v| v.path == "data.disks[0].free_bytes")
        .unwrap();
    assert_eq!(free.expected, "at most size_bytes (100)");
    assert_eq!(free.found, "200");
}

#[test]
fn future_and_stale_timestamps_are_refused() {
    let future = acd_with(
        r#"{"fifo_queued_calls":0,"camp_on_queued_calls":0,"active_consultation_calls":0}"#,
    )
    .replace("1795428000000", &(NOW_MS + 3_600_000).to_string());
    assert!(refusal(&future).to_string().contains("sent_at"));
    let stale = future.replace(&(NOW_MS + 3_600_000).to_string(), "1000");
    assert!(refusal(&stale)
        .to_string()
        .contains("within the last 7 days"));
}

#[test]
fn cpu_above_100_percent_is_refused() {
    let body = String::from_utf8(example(Category::ProcessesRunningProcesses))
        .unwrap()
        .replace("12.5", "180.0");
    let message = refusal(&body).to_string();
    assert!(
        message.contains("data.processes[0].cpu_percent"),
        "{message}"
    );
}

#[test]
fn alerts_round_trip_and_are_not_mistaken_for_beats() {
    let alert = Alert {
        alert_id: "a1".into(),
        installation_id: "inst".into(),
        node_id: "node-1".into(),
        region: Region::ME,
        rule_id: "disk_free_low".into(),
        rule_version: 1,
        subject: "disk C:".into(),
        severity: Severity::Critical,
        state: AlertState::Open,
        summary: "disk C: has 3.0% free".into(),
        observed_value: 3.0,
        threshold: 5.0,
        beat_id: "b1".into(),
        event_at: NOW_MS,
        raised_at: NOW_MS + 5,
        customer_id: "cust-acme".into(),
        contract_tier: "GOLD".into(),
        notify_customer: true,
        explanation: "Free space below the threshold stops SQL Server.".into(),
        dashboard_url: "http://grafana/d/server?var-installation=inst".into(),
        suppressed_by: "silence:s1".into(),
        acknowledged_by: "support@ucx.example".into(),
        resolution: "cleared".into(),
        incident_id: "f2b8c7a0-3c1d-4e5f-9a6b-7c8d9e0f1a2b".into(),
        library_version: 3,
    };
    let bytes = encode_alert(&alert).unwrap();
    assert_eq!(decode_alert(&bytes).unwrap(), alert);
    assert!(decode_beat(&bytes).is_err());
    assert!(decode_beat(b"{\"json\": true}").is_err());
    for state in [
        AlertState::Reminder,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ] {
        let alert = Alert {
            state,
            ..alert.clone()
        };
        assert_eq!(decode_alert(&encode_alert(&alert).unwrap()).unwrap(), alert);
    }
}

#[test]
fn changes_round_trip_and_are_not_mistaken_for_alerts() {
    let change = ucx_schemas::Change {
        change_id: "c1".into(),
        installation_id: "inst".into(),
        customer_id: "cust".into(),
        node_id: "node-1".into(),
        region: Region::EU,
        kind: ucx_schemas::ChangeKind::SuiteDowngraded,
        subject: "UCX Suite".into(),
        before: "2024.Winter.1".into(),
        after: "2023.Summer.2".into(),
        beat_id: "b1".into(),
        event_at: NOW_MS,
        detected_at: NOW_MS + 3,
    };
    let bytes = ucx_schemas::encode_change(&change).unwrap();
    assert_eq!(ucx_schemas::decode_change(&bytes).unwrap(), change);
    assert!(decode_alert(&bytes).is_err());
}

#[test]
fn every_beat_schema_carries_the_one_envelope() {
    let read = |path: &str| -> serde_json::Value {
        let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
        serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
    };
    let envelope = read("avro/envelope.avsc");
    for &category in Category::ALL {
        let schema: serde_json::Value = serde_json::from_str(category.schema_source()).unwrap();
        assert_eq!(schema["fields"][0]["name"], "envelope", "{}", category.id());
        assert_eq!(
            schema["fields"][0]["type"],
            envelope,
            "{} has a different envelope",
            category.id()
        );
        assert_eq!(schema["fields"][1]["name"], "data", "{}", category.id());
    }
}

#[test]
fn every_category_has_a_schema_file_and_an_example() {
    let beats_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("avro/beats");
    let mut files: Vec<String> = std::fs::read_dir(beats_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = Category::ALL
        .iter()
        .map(|c| format!("{}.avsc", c.id()))
        .collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "a schema file without a category, or the reverse"
    );
    for &category in Category::ALL {
        assert!(
            example_path(category).exists(),
            "no example for {}",
            category.id()
        );
    }
}

#[test]
fn oversize_lists_are_refused() {
    let mut beat: serde_json::Value =
        serde_json::from_slice(&example(Category::ProcessesRunningProcesses)).unwrap();
    let process = beat["data"]["processes"][0].clone();
    beat["data"]["processes"] = serde_json::Value::Array(vec![process; 10_001]);
    let WireError::Invalid(violations) = refusal(&beat.to_string()) else {
        panic!("expected violations")
    };
    assert_eq!(violations[0].path, "data.processes");
    assert_eq!(violations[0].expected, "at most 10000 items");
    assert_eq!(violations[0].found, "10001 items");
}

/// A beat is parsed without tracking field paths first; a malformed one is parsed again with
/// them, so its message still names the field, in the envelope and inside the data.
#[test]
fn a_malformed_field_is_named_by_its_path() {
    let body = String::from_utf8(example(Category::ProcessesRunningProcesses)).unwrap();
    let pid = body.find("\"pid\":").expect("the example has a pid") + "\"pid\":".len();
    let end = pid + body[pid..].find([',', '}']).unwrap();
    let wrong_type = format!("{}\"many\"{}", &body[..pid], &body[end..]);
    let WireError::Malformed { path, message } = refusal(&wrong_type) else {
        panic!("a string for a number is malformed");
    };
    assert_eq!(path.as_deref(), Some("data.processes[0].pid"), "{message}");
    assert!(
        message.starts_with("field `data.processes[0].pid`: invalid type"),
        "{message}"
    );

    let envelope = acd_with("{}").replace("\"sent_at\":1795428000000", "\"sent_at\":\"soon\"");
    let WireError::Malformed { path, message } = refusal(&envelope) else {
        panic!("a string for sent_at is malformed");
    };
    assert_eq!(path.as_deref(), Some("sent_at"), "{message}");
}

/// A beat is read from its text, or from a tree when personal data must be redacted (and when a
/// refusal is named): either way the same fields are reported unknown, and the same data gives
/// the same content hash whatever the order of its fields.
#[test]
fn unknown_fields_and_the_content_hash_do_not_depend_on_how_the_data_was_read() {
    use ucx_schemas::{parse_beat, PiiPolicy};
    let process = |name: &str, order: bool| {
        let fields = [
            "\"pid\": 4120".to_string(),
            format!("\"name\": \"{name}\""),
            "\"memory_bytes\": 2147483648".to_string(),
            "\"handle_count\": 1210".to_string(),
            "\"thread_count\": 88".to_string(),
            "\"cpu_percent\": 12.5".to_string(),
            "\"owner_hint\": {\"x\": [1]}".to_string(),
        ];
        let fields: Vec<_> = if order {
            fields.to_vec()
        } else {
            fields.into_iter().rev().collect()
        };
        format!(
            r#"{{"beat_id":"9a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d","installation_id":"i","node_id":"n","region":"EU","sent_at":1795428000000,"received_at":5,"category":"processes.running_processes","data":{{"processes":[{{{}}}]}}}}"#,
            fields.join(", ")
        )
    };
    let parse = |body: String| parse_beat(body.as_bytes(), NOW_MS, PiiPolicy::Redact).unwrap();
    let clean = parse(process("sqlservr.exe", true));
    let personal = parse(process(r"C:\\Users\\jdoe\\tool.exe", true));
    for parsed in [&clean, &personal] {
        let mut unknown = parsed.unknown_fields.clone();
        unknown.sort();
        assert_eq!(
            unknown,
            ["data.processes.0.owner_hint", "received_at"],
            "{parsed:?}"
        );
    }
    assert!(clean.pii_findings.is_empty());
    assert_eq!(personal.pii_findings.len(), 1, "{personal:?}");
    assert!(!format!("{:?}", personal.beat).contains("jdoe"));
    assert_ne!(clean.content_hash, personal.content_hash);
    assert_eq!(
        clean.content_hash,
        parse(process("sqlservr.exe", false)).content_hash
    );
    assert_eq!(
        personal.content_hash,
        parse(process(r"C:\\Users\\jdoe\\tool.exe", false)).content_hash
    );
    assert_eq!(clean.beat, parse(process("sqlservr.exe", false)).beat);
}

/// The paths (serde_ignored's: `data.processes.0`) of every object inside `value`.
fn objects(value: &serde_json::Value, at: &str, found: &mut Vec<(String, String)>) {
    let pointer = |at: &str| format!("/{}", at.replace('.', "/"));
    match value {
        serde_json::Value::Object(fields) => {
            found.push((at.to_string(), pointer(at)));
            for (name, field) in fields {
                objects(field, &format!("{at}.{name}"), found);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                objects(item, &format!("{at}.{index}"), found);
            }
        }
        _ => {}
    }
}

/// Nearly every beat is typed without noting unknown fields, once the probe found each of its
/// fields in the schema: a field the contract does not name is still reported, wherever it is.
#[test]
fn an_unknown_field_in_any_object_of_any_example_is_reported() {
    use ucx_schemas::{parse_beat, PiiPolicy};
    for &category in Category::ALL {
        let original = example(category);
        let expected = parse_beat_json(&original, NOW_MS).unwrap().payload;
        let example: serde_json::Value = serde_json::from_slice(&original).unwrap();
        let parsed = parse_beat(&original, NOW_MS, PiiPolicy::Redact).unwrap();
        assert!(parsed.unknown_fields.is_empty(), "{parsed:?}");
        let mut places = Vec::new();
        objects(&example["data"], "data", &mut places);
        for (path, pointer) in places {
            let mut changed = example.clone();
            changed.pointer_mut(&pointer).unwrap()["owner_hint"] = serde_json::json!(7);
            let parsed = parse_beat(changed.to_string().as_bytes(), NOW_MS, PiiPolicy::Redact)
                .unwrap_or_else(|error| panic!("{} at {path}: {error}", category.id()));
            assert_eq!(
                parsed.unknown_fields,
                [format!("{path}.owner_hint")],
                "{}",
                category.id()
            );
            assert_eq!(parsed.beat.payload, expected);
        }
    }
}

/// Text the first, loose reading of `data` lets through but no value can hold (a lone surrogate,
/// a number beyond a double): refused, the field named by its path from the body.
#[test]
fn an_unreadable_value_inside_data_is_named_by_its_path() {
    let body = String::from_utf8(example(Category::ProcessesRunningProcesses)).unwrap();
    let cpu = body
        .find("\"cpu_percent\":")
        .expect("the example has a cpu_percent")
        + "\"cpu_percent\":".len();
    let end = cpu + body[cpu..].find([',', '}']).unwrap();
    for (value, expected) in [
        ("1e400", "number out of range"),
        ("\"\\udc00\"", "surrogate"),
    ] {
        let unreadable = format!("{} {value}{}", &body[..cpu], &body[end..]);
        let WireError::Malformed { path, message } = refusal(&unreadable) else {
            panic!("{value} must be malformed");
        };
        assert_eq!(
            path.as_deref(),
            Some("data.processes[0].cpu_percent"),
            "{value}: {message}"
        );
        assert!(message.contains(expected), "{value}: {message}");
    }
}
