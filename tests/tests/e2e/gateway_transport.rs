//! How beats travel: compressed bodies, per-installation rate limits, the server's address
//! behind trusted proxies only, and HTTPS.

use std::io::Write;
use std::time::Duration;

use ucx_e2e::{
    example_beat, installation_key, metrics_text, promtool_check, read_topic, start_gateway,
    Services,
};
use ucx_schemas::{decode_beat, Category};

async fn post_bytes(
    gateway: &str,
    key: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{gateway}/v1/beats"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(text.into()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_zstd_bodies_are_accepted_and_bombs_are_not() {
    let services = Services::from_env();
    let kafka = services.kafka("compression");
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.max_body_bytes = 256 * 1024;
    let gateway = start_gateway(config).await;
    let url = &gateway.url;
    let key = installation_key(url, "inst-zip").await;

    let batch = serde_json::json!([
        example_beat(Category::SoftwareInfoInstalledApplications, "inst-zip"),
        example_beat(Category::ProcessesRunningProcesses, "inst-zip"),
    ]);
    let plain = serde_json::to_vec(&batch).unwrap();
    let (status, body) = post_bytes(url, &key, Some("gzip"), gzip(&plain)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 2);
    let beat = serde_json::to_vec(&example_beat(Category::UcxSuiteAcd, "inst-zip")).unwrap();
    let (status, body) = post_bytes(
        url,
        &key,
        Some("zstd"),
        zstd::encode_all(&beat[..], 3).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    let (status, body) = post_bytes(url, &key, Some("br"), beat.clone()).await;
    assert_eq!(status, 415);
    assert_eq!(body["code"], "unsupported_encoding", "{body}");
    assert!(body["error"].as_str().unwrap().contains("br"), "{body}");
    let (status, body) = post_bytes(url, &key, Some("gzip"), b"not gzip at all".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "unreadable_body");
    // 10 MB of whitespace compresses to ~10 kB: the limit counts decompressed bytes.
    let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
    assert!(bomb.len() < 256 * 1024);
    let (status, body) = post_bytes(url, &key, Some("gzip"), bomb).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "body_too_large");

    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        4,
        Duration::from_secs(5),
    );
    assert_eq!(records.len(), 3, "the two batch beats and the zstd beat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_installation_gets_429_while_another_is_unaffected() {
    let services = Services::from_env();
    let mut config = ucx_ingest::IngestConfig {
        kafka: services.kafka("rate-limit"),
        ..Default::default()
    };
    config.ingest.rate_limit_beats_per_second = 2;
    config.ingest.rate_limit_burst = 10;
    config.ingest.max_batch_beats = 10;
    let gateway = start_gateway(config).await;
    let url = &gateway.url;
    let flood_key = installation_key(url, "inst-flood").await;
    let calm_key = installation_key(url, "inst-calm").await;

    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..30 {
        let beat = serde_json::to_vec(&example_beat(Category::UcxSuiteIvr, "inst-flood")).unwrap();
        let response = reqwest::Client::new()
            .post(format!("{url}/v1/beats"))
            .bearer_auth(&flood_key)
            .header("content-type", "application/json")
            .body(beat)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        statuses.push(response.status().as_u16());
    }
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(accepted + limited, 30, "{statuses:?}");
    assert!(
        (10..=13).contains(&accepted),
        "the burst and little more: {statuses:?}"
    );
    let seconds: u64 = retry_after
        .expect("429 has Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");

    for _ in 0..5 {
        let beat = serde_json::to_vec(&example_beat(Category::UcxSuiteIvr, "inst-calm")).unwrap();
        let (status, body) = post_bytes(url, &calm_key, None, beat).await;
        assert_eq!(status, 202, "another installation is unaffected: {body}");
    }
    // A batch larger than what is left of the allowance is refused whole.
    let batch: Vec<_> = (0..10)
        .map(|_| example_beat(Category::UcxSuiteIvr, "inst-calm"))
        .collect();
    let (status, body) =
        post_bytes(url, &calm_key, None, serde_json::to_vec(&batch).unwrap()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "rate_limited");

    let metrics = metrics_text(url).await;
    assert!(
        metrics.contains(&format!(
            "ingest_requests_total{{outcome=\"rate_limited\"}} {}",
            limited + 1
        )),
        "{metrics}"
    );
    promtool_check(&services.promtool, &metrics).unwrap();
}

async fn source_ip_recorded(trusted: &[&str], headers: &[(&str, &str)]) -> String {
    let services = Services::from_env();
    let kafka = services.kafka("proxies");
    let mut config = ucx_ingest::IngestConfig {
        kafka: kafka.clone(),
        ..Default::default()
    };
    config.ingest.trusted_proxies = trusted.iter().map(|s| s.to_string()).collect();
    let gateway = start_gateway(config).await;
    let key = installation_key(&gateway.url, "inst-proxy").await;
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/beats", gateway.url))
        .bearer_auth(key)
        .json(&example_beat(Category::HardwareInfoMemory, "inst-proxy"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    assert_eq!(request.send().await.unwrap().status(), 202);
    let records = read_topic(
        &kafka.brokers,
        &kafka.beats_topic,
        1,
        Duration::from_secs(10),
    );
    let beat = decode_beat(rdkafka::Message::payload(&records[0]).unwrap()).unwrap();
    beat.envelope
        .source_ip
        .expect("the gateway records the source address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
    let forwarded = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(source_ip_recorded(&[], &forwarded).await, "127.0.0.1");
    assert_eq!(
        source_ip_recorded(&["127.0.0.0/8"], &forwarded).await,
        "203.0.113.7"
    );
    let rfc7239 = [("forwarded", "for=198.51.100.4;proto=https")];
    assert_eq!(
        source_ip_recorded(&["127.0.0.1"], &rfc7239).await,
        "198.51.100.4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_speaks_https_when_given_a_certificate() {
    let services = Services::from_env();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let folder = std::env::temp_dir().join(ucx_e2e::unique("tls"));
    std::fs::create_dir_all(&folder).unwrap();
    let cert_file = folder.join("cert.pem");
    let key_file = folder.join("key.pem");
    std::fs::write(&cert_file, certified.cert.pem()).unwrap();
    std::fs::write(&key_file, certified.signing_key.serialize_pem()).unwrap();
    let mut config = ucx_ingest::IngestConfig {
        kafka: services.kafka("tls"),
        ..Default::default()
    };
    config.ingest.tls_cert_file = Some(cert_file);
    config.ingest.tls_key_file = Some(key_file);
    let gateway = start_gateway(config).await;
    let url = gateway.url.replace("127.0.0.1", "localhost");
    assert!(url.starts_with("https://"));

    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    // the typed admin client on the admin listener, which stays plain HTTP (loopback only)
    let admin = ucx_admin_api::AdminClient::with_http(
        client.clone(),
        &gateway.admin_url,
        ucx_e2e::ADMIN_TOKEN,
    );
    let customer = ucx_admin_api::CustomerInput {
        name: "TLS".into(),
        region: ucx_schemas::Region::US,
        contract_tier: ucx_schemas::ContractTier::Basic,
        care_end_date: None,
        alert_contacts: Vec::new(),
        telemetry_enabled: None,
    };
    assert!(
        admin
            .put_customer("cust-tls", &customer)
            .await
            .unwrap()
            .created
    );
    let issued = admin.key_for("cust-tls", "inst-tls").await.unwrap();
    let response = client
        .post(format!("{url}/v1/beats"))
        .bearer_auth(&issued.key)
        .json(&example_beat(Category::UcxSuiteIvr, "inst-tls"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let plain = reqwest::get(url.replacen("https://", "http://", 1) + "/health").await;
    assert!(
        plain.is_err() || !plain.unwrap().status().is_success(),
        "no plain HTTP"
    );
    let _ = std::fs::remove_dir_all(folder);
}
