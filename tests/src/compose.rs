//! `docker-compose.yml` cannot run here (no Docker engine), so it is checked against the project
//! instead: it parses; every pipeline service runs a binary of the workspace; every `UCX_…`
//! variable it sets is a configuration key the stages accept (loaded with `config/ucx.toml`, as
//! in the image); each stage's metrics port is scraped by Prometheus; no secret has a default; only
//! the gateway is published beyond the host's loopback; Kafka's users and ACLs
//! (`config/compose/kafka-secured.sh`) let each stage do only its own work; ClickHouse's users
//! (`config/compose/clickhouse-users.xml`) are one per writing stage and a read-only dashboards
//! user.
//!
//! A unit test of the harness crate: its own process, so the environment that `figment::Jail`
//! sets cannot reach the end-to-end tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load_yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|error| panic!("{} does not parse: {error}", path.display()))
        .remove(0)
}

/// A mapping with YAML 1.1 merge keys (`<<: *anchor`) applied, as Compose does.
fn merged(node: &Yaml) -> BTreeMap<String, Yaml> {
    let mut map = BTreeMap::new();
    let Some(hash) = node.as_hash() else {
        return map;
    };
    if let Some(base) = hash.get(&Yaml::String("<<".into())) {
        map.extend(merged(base));
    }
    for (key, value) in hash {
        if let Some(key) = key.as_str().filter(|key| *key != "<<") {
            map.insert(key.to_string(), value.clone());
        }
    }
    map
}

fn text(value: &Yaml) -> String {
    match value {
        Yaml::String(text) => text.clone(),
        Yaml::Integer(number) => number.to_string(),
        Yaml::Boolean(flag) => flag.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

struct Service {
    command: String,
    environment: BTreeMap<String, String>,
}

fn pipeline_services() -> BTreeMap<String, Service> {
    let compose = load_yaml(&repository().join("docker-compose.yml"));
    let mut services = BTreeMap::new();
    for (name, service) in merged(&compose["services"]) {
        let service = merged(&service);
        let Some(command) = service.get("command").and_then(|c| c.as_vec()) else {
            continue;
        };
        let command = text(&command[0]);
        if !command.starts_with("ucx-") {
            continue;
        }
        let environment = service
            .get("environment")
            .map(merged)
            .unwrap_or_default()
            .iter()
            .map(|(key, value)| (key.clone(), text(value)))
            .collect();
        services.insert(
            name,
            Service {
                command,
                environment,
            },
        );
    }
    services
}

/// The binaries the workspace builds.
fn workspace_binaries() -> Vec<String> {
    let mut binaries = Vec::new();
    let workspace: toml::Value = std::fs::read_to_string(repository().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let members = workspace["workspace"]["members"].as_array().unwrap();
    for member in members.iter().map(|member| member.as_str().unwrap()) {
        let text = std::fs::read_to_string(repository().join(member).join("Cargo.toml")).unwrap();
        let manifest: toml::Value = text.parse().unwrap();
        binaries.push(manifest["package"]["name"].as_str().unwrap().to_string());
        for bin in manifest
            .get("bin")
            .and_then(|b| b.as_array())
            .into_iter()
            .flatten()
        {
            binaries.push(bin["name"].as_str().unwrap().to_string());
        }
    }
    binaries
}

/// Loads one stage's configuration as the image does: `config/ucx.toml` and the variables.
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own large error
fn load<T: serde::de::DeserializeOwned>(environment: &BTreeMap<String, String>) -> T {
    let mut loaded = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        for (key, value) in environment {
            jail.set_env(key, value);
        }
        let file = repository().join("config/ucx.toml");
        loaded = Some(
            ucx_common::config::load::<T>(Some(&file))
                .map_err(|error| figment::Error::from(error.to_string()))?,
        );
        Ok(())
    });
    loaded.unwrap()
}

fn port(address: &str) -> String {
    address.rsplit(':').next().unwrap().to_string()
}

#[test]
fn the_compose_file_agrees_with_the_stages_their_config_and_prometheus() {
    let services = pipeline_services();
    let binaries = workspace_binaries();
    let prometheus =
        std::fs::read_to_string(repository().join("dashboards/prometheus/prometheus.yml")).unwrap();
    let mut stages = Vec::new();
    for (name, service) in &services {
        assert!(
            binaries.contains(&service.command),
            "{name} runs {}, which the workspace does not build ({binaries:?})",
            service.command
        );
        let listen = match service.command.as_str() {
            "ucx-ingest" => {
                // its /metrics is on the admin listener; the public one takes beats only
                let ingest = load::<ucx_ingest::IngestConfig>(&service.environment).ingest;
                ingest.check().unwrap();
                assert!(ingest.listen.starts_with("0.0.0.0:"), "{}", ingest.listen);
                ingest.admin_listen
            }
            "ucx-processors" => {
                load::<ucx_processors::ProcessorConfig>(&service.environment)
                    .processors
                    .listen
            }
            "ucx-sinks" => {
                load::<ucx_sinks::SinkConfig>(&service.environment)
                    .sinks
                    .listen
            }
            "ucx-notifier" => {
                let config = load::<ucx_notifier::NotifierConfig>(&service.environment);
                config.notifier.check().unwrap();
                config.notifier.listen
            }
            _ => continue, // the simulator is a client
        };
        assert!(
            listen.starts_with("0.0.0.0:"),
            "{name} listens on {listen}: unreachable in a container"
        );
        let listen_port = port(&listen);
        assert!(
            prometheus.contains(&format!("\"{name}:{listen_port}\"")),
            "Prometheus does not scrape {name}:{listen_port}"
        );
        stages.push(service.command.clone());
    }
    stages.sort();
    assert_eq!(
        stages,
        ["ucx-ingest", "ucx-notifier", "ucx-processors", "ucx-sinks"],
        "every stage runs in the compose file"
    );
}

/// Every port mapping of every service (not only the pipeline's), by service name.
fn published_ports() -> BTreeMap<String, Vec<String>> {
    let compose = load_yaml(&repository().join("docker-compose.yml"));
    merged(&compose["services"])
        .into_iter()
        .map(|(name, service)| {
            let ports = merged(&service)
                .get("ports")
                .and_then(|ports| ports.as_vec().cloned())
                .unwrap_or_default();
            (name, ports.iter().map(text).collect())
        })
        .collect()
}

/// A variable that holds a secret, by its name.
fn is_secret(name: &str) -> bool {
    ["TOKEN", "PASSWORD", "SECRET", "KEY"]
        .iter()
        .any(|word| name.to_ascii_uppercase().contains(word))
}

/// Only `${VARIABLE:?message}`: Compose refuses to start when the variable is not set.
fn is_required_reference(value: &str) -> bool {
    value.starts_with("${") && value.ends_with('}') && value.contains(":?") && !value.contains(":-")
}

#[test]
fn the_compose_file_has_no_default_secret_and_publishes_only_the_gateway() {
    let path = repository().join("docker-compose.yml");
    let compose_text = std::fs::read_to_string(&path).unwrap();
    let compose = load_yaml(&path);
    for (name, service) in merged(&compose["services"]) {
        for (key, value) in merged(&service)
            .get("environment")
            .map(merged)
            .unwrap_or_default()
        {
            if !is_secret(&key) {
                continue;
            }
            let value = text(&value);
            assert!(
                is_required_reference(&value),
                "{name}: {key} = {value:?} is a secret with a value or a default; use ${{{key}:?…}}"
            );
        }
    }
    for line in compose_text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
    {
        if let Some(start) = line.find("${") {
            let variable = &line[start + 2..];
            let name: String = variable
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                !(is_secret(&name) && variable[name.len()..].starts_with(":-")),
                "a default for the secret {name}: {line}"
            );
        }
    }
    for (name, ports) in published_ports() {
        for mapping in ports {
            let loopback_only = mapping.starts_with("127.0.0.1:");
            assert!(
                loopback_only || name == "ingest",
                "{name} publishes {mapping} beyond this host's loopback: only the gateway may be reachable from outside"
            );
        }
    }
    assert_eq!(published_ports()["ingest"], ["8080:8080"]);
    for internal in ["kafka", "clickhouse"] {
        assert!(
            published_ports()[internal].is_empty(),
            "{internal} must not be published at all"
        );
    }
}

#[test]
fn the_secret_check_fails_on_a_default() {
    // The check above, fed a value of the kind it must refuse.
    for value in [
        "${UCX_ADMIN_TOKEN:-change-me}",
        "admin",
        "${UCX_ADMIN_TOKEN}",
    ] {
        assert!(!is_required_reference(value), "{value}");
    }
    assert!(is_secret("GF_SECURITY_ADMIN_PASSWORD") && is_secret("UCX_INGEST__ADMIN_TOKEN"));
}

/// One `allow` line of the broker's security script: (user, operation, resource kind, name).
type Acl = (String, String, String, String);

/// The users and ACLs `config/compose/kafka-secured.sh` creates, and its broker properties.
fn kafka_security() -> (Vec<String>, Vec<Acl>, BTreeMap<String, String>) {
    let script =
        std::fs::read_to_string(repository().join("config/compose/kafka-secured.sh")).unwrap();
    let (mut users, mut acls, mut properties) = (Vec::new(), Vec::new(), BTreeMap::new());
    let mut loops: Vec<Vec<String>> = Vec::new();
    let mut in_properties = false;
    for line in script.lines().map(str::trim) {
        // the broker's properties: the here-document `<<PROPERTIES … PROPERTIES`
        if line.ends_with("<<PROPERTIES") || line == "PROPERTIES" {
            in_properties = !in_properties;
            continue;
        }
        if in_properties {
            let (key, value) = line.split_once('=').expect("key=value");
            properties.insert(key.to_string(), value.to_string());
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let word = |index: usize| words.get(index).cloned().unwrap_or_default();
        match word(0).as_str() {
            // `for stage in a b c; do` / `for topic in …; do`: the lines inside run for each
            "for" => loops.push(
                words[3..]
                    .iter()
                    .map(|w| w.trim_end_matches(';').to_string())
                    .take_while(|w| w != "do")
                    .collect(),
            ),
            "done" => {
                loops.pop();
            }
            "user" if words.len() == 3 => users.push(word(1)),
            "allow" | "allow_cluster" => {
                let (kind, name) = if word(0) == "allow" {
                    (word(3), word(4).trim_matches('"').to_string())
                } else {
                    ("cluster".into(), "kafka-cluster".into())
                };
                let user = word(1).trim_matches('"').to_string();
                let mut expanded = vec![(user, name)];
                for values in &loops {
                    expanded = expanded
                        .into_iter()
                        .flat_map(|(user, name)| {
                            values.iter().map(move |value| {
                                let user = if user == "$stage" {
                                    value.clone()
                                } else {
                                    user.clone()
                                };
                                let name = if name == "$topic" {
                                    value.clone()
                                } else {
                                    name.clone()
                                };
                                (user, name)
                            })
                        })
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                }
                for (user, name) in expanded {
                    acls.push((user, word(2), kind.clone(), name));
                }
            }
            _ => {}
        }
    }
    (users, acls, properties)
}

/// Who may `operation` on topic `topic`.
fn allowed(acls: &[Acl], operation: &str, topic: &str) -> Vec<String> {
    let mut users: Vec<String> = acls
        .iter()
        .filter(|(_, op, kind, name)| op == operation && kind == "topic" && name == topic)
        .map(|(user, ..)| user.clone())
        .collect();
    users.sort();
    users.dedup();
    users
}

#[test]
fn kafka_authenticates_every_stage_and_lets_each_do_only_its_own_work() {
    let (users, acls, properties) = kafka_security();
    let topics = ucx_common::config::KafkaSettings::default();
    // the broker: SASL/SCRAM for clients; the unauthenticated listeners on its loopback only
    assert_eq!(properties["sasl.enabled.mechanisms"], "SCRAM-SHA-512");
    assert_eq!(properties["allow.everyone.if.no.acl.found"], "false");
    assert_eq!(properties["super.users"], "User:ANONYMOUS");
    let protocols: BTreeMap<&str, &str> = properties["listener.security.protocol.map"]
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .collect();
    for listener in properties["listeners"].split(',') {
        let (name, address) = listener.split_once("://").unwrap();
        if protocols[name] == "PLAINTEXT" {
            assert!(
                address.starts_with("127.0.0.1:") || address.starts_with("$internal"),
                "{listener}: an unauthenticated listener beyond the container's loopback"
            );
        } else {
            assert_eq!(protocols[name], "SASL_PLAINTEXT", "{listener}");
        }
    }
    // every stage logs in as its own user, which the broker knows
    let mut logins = Vec::new();
    for (name, service) in pipeline_services() {
        let kafka = match service.command.as_str() {
            "ucx-ingest" => load::<ucx_ingest::IngestConfig>(&service.environment).kafka,
            "ucx-processors" => load::<ucx_processors::ProcessorConfig>(&service.environment).kafka,
            "ucx-sinks" => load::<ucx_sinks::SinkConfig>(&service.environment).kafka,
            "ucx-notifier" => load::<ucx_notifier::NotifierConfig>(&service.environment).kafka,
            _ => continue,
        };
        assert_eq!(kafka.security_protocol, "sasl_plaintext", "{name}");
        assert_eq!(kafka.sasl_mechanism, "SCRAM-SHA-512", "{name}");
        assert!(
            users.contains(&kafka.sasl_username),
            "{name} logs in as {:?}, a user the broker does not have",
            kafka.sasl_username
        );
        logins.push(kafka.sasl_username);
    }
    logins.sort();
    assert_eq!(
        logins,
        ["ucx-ingest", "ucx-notifier", "ucx-processors", "ucx-sinks"],
        "one user per stage"
    );
    // who may write where
    let expected = [
        (&topics.beats_topic, vec!["ucx-ingest"]),
        (&topics.registry_topic, vec!["ucx-ingest", "ucx-notifier"]),
        (&topics.alerts_topic, vec!["ucx-processors"]),
        (&topics.changes_topic, vec!["ucx-processors"]),
        (&topics.processor_state_topic, vec!["ucx-processors"]),
        (
            &topics.dead_letter_topic,
            vec!["ucx-notifier", "ucx-processors", "ucx-sinks"],
        ),
    ];
    for (topic, writers) in expected {
        assert_eq!(
            allowed(&acls, "Write", topic),
            writers,
            "writers of {topic}"
        );
    }
    // each stage reads what it consumes, in its own group
    for (user, group, read) in [
        (
            "ucx-processors",
            ucx_processors::ProcessorConfig::default()
                .processors
                .group_id,
            vec![&topics.beats_topic, &topics.registry_topic],
        ),
        (
            "ucx-sinks",
            ucx_sinks::SinkConfig::default().sinks.group_id,
            vec![
                &topics.beats_topic,
                &topics.alerts_topic,
                &topics.changes_topic,
            ],
        ),
        (
            "ucx-notifier",
            ucx_notifier::NotifierConfig::default().notifier.group_id,
            vec![&topics.alerts_topic, &topics.registry_topic],
        ),
    ] {
        for topic in read {
            assert!(
                allowed(&acls, "Read", topic).contains(&user.to_string()),
                "{user} reads {topic}"
            );
        }
        assert!(
            acls.contains(&(user.into(), "Read".into(), "group".into(), group.clone())),
            "{user} joins its group {group}"
        );
    }
    for (user, operation, kind, name) in &acls {
        assert!(users.contains(user), "an ACL for the unknown user {user}");
        assert!(
            operation != "All" && name != "*" && !name.contains('$'),
            "{user} {operation} {kind} {name}: too wide"
        );
    }
}

#[test]
fn clickhouse_has_a_user_per_stage_and_a_read_only_dashboards_user() {
    let text =
        std::fs::read_to_string(repository().join("config/compose/clickhouse-users.xml")).unwrap();
    let document = roxmltree::Document::parse(&text).unwrap();
    let users = document
        .descendants()
        .find(|node| node.has_tag_name("users"))
        .unwrap();
    let user = |name: &str| {
        users
            .children()
            .find(|node| node.has_tag_name(name))
            .unwrap_or_else(|| panic!("no ClickHouse user {name}"))
    };
    let grants = |name: &str| -> Vec<String> {
        user(name)
            .descendants()
            .filter(|node| node.has_tag_name("query"))
            .map(|node| node.text().unwrap_or_default().to_string())
            .collect()
    };
    let compose = load_yaml(&repository().join("docker-compose.yml"));
    let clickhouse_env = merged(&merged(&compose["services"])["clickhouse"])
        .get("environment")
        .map(merged)
        .unwrap();
    // each stage that writes ClickHouse logs in as its own user, whose password the server gets
    let services = pipeline_services();
    for (stage, expected) in [("sinks", "ucx_sinks"), ("notifier", "ucx_notifier")] {
        let settings = match stage {
            "sinks" => load::<ucx_sinks::SinkConfig>(&services[stage].environment).clickhouse,
            _ => load::<ucx_notifier::NotifierConfig>(&services[stage].environment).clickhouse,
        };
        assert_eq!(settings.user, expected, "{stage}'s ClickHouse user");
        let variable = user(expected)
            .children()
            .find(|node| node.has_tag_name("password"))
            .and_then(|node| node.attribute("from_env"))
            .unwrap_or_else(|| panic!("{expected}'s password comes from the environment"));
        assert!(
            clickhouse_env.contains_key(variable),
            "the clickhouse service lacks {variable}"
        );
    }
    assert!(grants("ucx_notifier")
        .iter()
        .all(|grant| !grant.contains("ALTER,") && !grant.contains("DROP")));
    // the dashboards: SELECT only, bounded, and no mail addresses
    assert_eq!(grants("ucx_dashboards"), ["GRANT SELECT ON ucx.*"]);
    let profile = document
        .descendants()
        .find(|node| node.has_tag_name("profiles"))
        .and_then(|profiles| {
            profiles
                .children()
                .find(|n| n.has_tag_name("ucx_dashboards"))
        })
        .expect("the dashboards' profile");
    let setting = |name: &str| {
        profile
            .children()
            .find(|node| node.has_tag_name(name))
            .and_then(|node| node.text())
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(setting("readonly"), "0");
    for limit in ["max_execution_time", "max_rows_to_read", "max_result_rows"] {
        assert!(
            setting(limit).parse::<u64>().is_ok_and(|v| v > 0),
            "{limit}"
        );
    }
    let filtered: Vec<&str> = user("ucx_dashboards")
        .descendants()
        .filter(|node| node.has_tag_name("filter") && node.text() == Some("0"))
        .map(|node| node.parent().unwrap().tag_name().name())
        .collect();
    assert!(
        filtered.contains(&"notification_deliveries"),
        "{filtered:?}"
    );
    // Grafana's datasource logs in as that user
    let datasources = std::fs::read_to_string(
        repository().join("dashboards/grafana/provisioning/datasources/datasources.yml"),
    )
    .unwrap();
    assert!(datasources.contains("username: ucx_dashboards"));
    assert!(datasources.contains("${UCX_CLICKHOUSE_DASHBOARDS_PASSWORD}"));
}
