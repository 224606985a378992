//! Registry records survive the codec, and a registry reader refuses other kinds of records.

use ucx_schemas::{
    decode_registry, encode_alert, encode_registry, Acknowledgement, AlertContact, ContractTier,
    Customer, FleetIncident, FleetIncidentState, Installation, InstallationStatus, PurgeRequest,
    Region, RegistryRecord, Severity, Silence, SilenceKind,
};

fn records() -> Vec<RegistryRecord> {
    vec![
        RegistryRecord::Customer(Customer {
            customer_id: "cust-1".into(),
            name: "Acme Hospital".into(),
            region: Region::EU,
            contract_tier: ContractTier::Gold,
            care_end_date: Some("2027-06-30".into()),
            telemetry_enabled: true,
            alert_contacts: vec![AlertContact {
                email: "it@acme.example".into(),
                min_severity: Severity::Warning,
            }],
            updated_at: 1_764_000_000_000,
        }),
        RegistryRecord::Installation(Installation {
            installation_id: "inst-1".into(),
            customer_id: "cust-1".into(),
            key_id: "0123456789abcdef".into(),
            key_sha256: "ab".repeat(32),
            status: InstallationStatus::Revoked,
            updated_at: 1_764_000_000_001,
            licensed_users: Some(1_000),
            licensed_devices: None,
        }),
        RegistryRecord::Purge(PurgeRequest {
            customer_id: "cust-1".into(),
            installation_ids: vec!["inst-1".into(), "inst-2".into()],
            requested_at: 1_764_000_000_002,
            reason: "telemetry switched off".into(),
        }),
        RegistryRecord::Silence(Silence {
            silence_id: "s-1".into(),
            kind: SilenceKind::Maintenance,
            customer_id: "cust-1".into(),
            installation_id: Some("inst-1".into()),
            rule_id: None,
            starts_at: 1_764_000_000_000,
            ends_at: 1_764_000_360_000,
            comment: "memory upgrade".into(),
            created_by: "support@ucx.example".into(),
            created_at: 1_764_000_000_003,
        }),
        RegistryRecord::Acknowledgement(Acknowledgement {
            alert_id: "a-1".into(),
            acknowledged_by: "support@ucx.example".into(),
            comment: "on it".into(),
            acknowledged_at: 1_764_000_000_004,
        }),
        RegistryRecord::FleetIncident(FleetIncident {
            incident_id: FleetIncident::id_of("service_stopped", Some("8.2.1")),
            rule_id: "service_stopped".into(),
            ucx_version: Some("8.2.1".into()),
            state: FleetIncidentState::Held,
            installations: vec!["inst-1".into(), "inst-2".into()],
            fleet_size: 7,
            opened_at: 1_764_000_000_005,
            hold_until: 1_764_014_400_005,
            decided_by: String::new(),
            comment: String::new(),
            updated_at: 1_764_000_000_005,
        }),
    ]
}

#[test]
fn every_registry_record_round_trips() {
    for record in records() {
        let bytes = encode_registry(&record).unwrap();
        assert_eq!(decode_registry(&bytes).unwrap(), record);
    }
}

#[test]
fn keys_are_one_per_customer_installation_purge_silence_alert_and_fleet_incident() {
    let keys: Vec<String> = records().iter().map(RegistryRecord::key).collect();
    assert_eq!(
        keys,
        [
            "customer:cust-1",
            "installation:inst-1",
            "purge:cust-1",
            "silence:s-1",
            "ack:a-1",
            "fleet:service_stopped@8.2.1"
        ]
    );
}

#[test]
fn an_alert_is_not_a_registry_record() {
    let alert = ucx_schemas::Alert {
        alert_id: "a".into(),
        installation_id: "i".into(),
        node_id: "n".into(),
        region: Region::US,
        rule_id: "r".into(),
        rule_version: 1,
        subject: "s".into(),
        severity: Severity::Info,
        state: ucx_schemas::AlertState::Open,
        summary: "x".into(),
        observed_value: 1.0,
        threshold: 2.0,
        beat_id: "b".into(),
        event_at: 0,
        raised_at: 0,
        customer_id: String::new(),
        contract_tier: String::new(),
        notify_customer: false,
        explanation: String::new(),
        dashboard_url: String::new(),
        suppressed_by: String::new(),
        acknowledged_by: String::new(),
        resolution: String::new(),
        incident_id: String::new(),
        library_version: 0,
    };
    let error = decode_registry(&encode_alert(&alert).unwrap()).unwrap_err();
    assert!(
        error.to_string().contains("expected registry record"),
        "{error}"
    );
}

#[test]
fn a_silence_covers_its_customer_installation_rule_and_time_only() {
    let silence = Silence {
        silence_id: "s".into(),
        kind: SilenceKind::Silence,
        customer_id: "c".into(),
        installation_id: None,
        rule_id: Some("disk_free_low".into()),
        starts_at: 100,
        ends_at: 200,
        comment: String::new(),
        created_by: String::new(),
        created_at: 0,
    };
    assert!(silence.covers("c", "any", "disk_free_low", 100));
    assert!(silence.covers("c", "other", "disk_free_low", 199));
    assert!(
        !silence.covers("c", "any", "disk_free_low", 200),
        "ends_at excluded"
    );
    assert!(!silence.covers("c", "any", "disk_free_low", 99));
    assert!(!silence.covers("c", "any", "memory_low", 150));
    assert!(!silence.covers("d", "any", "disk_free_low", 150));
    let one = Silence {
        installation_id: Some("i".into()),
        rule_id: None,
        ..silence
    };
    assert!(one.covers("c", "i", "memory_low", 150));
    assert!(!one.covers("c", "j", "memory_low", 150));
    assert_eq!(one.reference(), "silence:s");
}
