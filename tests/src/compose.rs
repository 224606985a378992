//! `docker-compose.yml` cannot run here (no Docker engine), so it is checked against the project
//! instead: it parses; every pipeline service runs a binary of the workspace; every `UCX_…`
//! variable it sets is a configuration key the stages accept (loaded with `config/ucx.toml`, as
//! in the image); each stage's listen port is scraped by Prometheus; no secret has a default; only
//! the gateway is published beyond the host's loopback.
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
