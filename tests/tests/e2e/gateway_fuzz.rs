//! A bounded fuzz run against the real gateway: random bodies (raw bytes, mutated beats and
//! batches, compressed or claiming to be) under random headers (credentials, encodings, media
//! types, proxy headers). Every answer must be a 2xx or 4xx with a JSON body: never a 5xx,
//! never a dropped connection.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use ucx_e2e::{example_beat, installation_key, start_gateway, Services};
use ucx_schemas::Category;

#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    Beat(Vec<(usize, u8)>),
    Batch(usize, Vec<(usize, u8)>),
}

#[derive(Debug, Clone)]
struct Case {
    body: Body,
    compress: Option<&'static str>,
    encoding: Option<String>,
    content_type: Option<String>,
    authorization: u8,
    forwarded: Option<String>,
    x_forwarded_for: Option<String>,
}

fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        Just("for=\"[2001:db8::1]:80\";proto=https, for=unknown".to_string()),
        Just("203.0.113.1, 10.0.0.1".to_string()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let mutations = proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6);
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        mutations.clone().prop_map(Body::Beat),
        (0usize..4, mutations).prop_map(|(n, m)| Body::Batch(n, m)),
    ];
    (
        body,
        prop_oneof![Just(None), Just(Some("gzip")), Just(Some("zstd"))],
        proptest::option::weighted(
            0.3,
            prop_oneof![
                Just("gzip".to_string()),
                Just("zstd".to_string()),
                Just("identity".to_string()),
                "[ -~]{0,12}",
            ],
        ),
        // mostly JSON, so most cases get past the content type to the decoders
        proptest::option::weighted(
            0.8,
            prop_oneof![
                Just("application/json".to_string()),
                Just("application/json; charset=utf-8".to_string()),
                "[ -~]{0,20}",
            ],
        ),
        // mostly the right key, so most cases get past authentication to the decoders
        prop_oneof![6 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8), 1 => Just(3u8)],
        proptest::option::of(header_text()),
        proptest::option::of(header_text()),
    )
        .prop_map(
            |(
                body,
                compress,
                encoding,
                content_type,
                authorization,
                forwarded,
                x_forwarded_for,
            )| Case {
                body,
                compress,
                encoding,
                content_type,
                authorization,
                forwarded,
                x_forwarded_for,
            },
        )
}

fn mutate(mut bytes: Vec<u8>, mutations: &[(usize, u8)]) -> Vec<u8> {
    for (position, byte) in mutations {
        if !bytes.is_empty() {
            let len = bytes.len();
            bytes[position % len] = *byte;
        }
    }
    bytes
}

fn body_bytes(body: &Body) -> Vec<u8> {
    let beat = || example_beat(Category::UcxSuiteAcd, "inst-fuzz");
    match body {
        Body::Bytes(bytes) => bytes.clone(),
        Body::Beat(mutations) => mutate(serde_json::to_vec(&beat()).unwrap(), mutations),
        Body::Batch(n, mutations) => {
            let batch: Vec<_> = (0..*n).map(|_| beat()).collect();
            mutate(serde_json::to_vec(&batch).unwrap(), mutations)
        }
    }
}

fn compress(bytes: Vec<u8>, how: Option<&str>) -> Vec<u8> {
    use std::io::Write;
    match how {
        Some("gzip") => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&bytes).unwrap();
            encoder.finish().unwrap()
        }
        Some("zstd") => zstd::encode_all(&bytes[..], 1).unwrap(),
        _ => bytes,
    }
}

#[test]
fn no_request_makes_the_gateway_fail() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let services = Services::from_env();
    let (gateway, key) = runtime.block_on(async {
        let mut config = ucx_ingest::IngestConfig {
            kafka: services.kafka("fuzz"),
            ..Default::default()
        };
        config.ingest.trusted_proxies = vec!["127.0.0.1".into()];
        config.ingest.rate_limit_burst = 100_000;
        let gateway = start_gateway(config).await;
        let key = installation_key(&gateway.url, "inst-fuzz").await;
        (gateway, key)
    });
    let client = reqwest::Client::new();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    runner
        .run(&case(), |case| {
            let body = compress(body_bytes(&case.body), case.compress);
            let mut request = client.post(format!("{}/v1/beats", gateway.url)).body(body);
            let authorization = match case.authorization {
                0 => None,
                1 => Some(format!("Bearer {key}")),
                2 => Some(format!("Bearer {}x", &key[..key.len() - 1])),
                _ => Some("Basic dXNlcjpwYXNz".to_string()),
            };
            for (name, value) in [
                ("authorization", authorization),
                ("content-encoding", case.encoding.clone()),
                ("content-type", case.content_type.clone()),
                ("forwarded", case.forwarded.clone()),
                ("x-forwarded-for", case.x_forwarded_for.clone()),
            ] {
                if let Some(value) = value {
                    request = request.header(name, value);
                }
            }
            let (status, body) = runtime.block_on(async {
                let response = request
                    .send()
                    .await
                    .expect("the gateway answers every request");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            });
            *statuses.lock().unwrap().entry(status).or_default() += 1;
            prop_assert!(status < 500, "{status} for {case:?}: {body}");
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&body);
            prop_assert!(parsed.is_ok(), "a JSON answer for {case:?}: {body}");
            Ok(())
        })
        .unwrap();
    let statuses = statuses.into_inner().unwrap();
    println!("statuses over 400 requests: {statuses:?}");
    assert!(
        statuses.len() >= 4,
        "the cases reach several outcomes: {statuses:?}"
    );
    runtime.block_on(gateway.stop()).unwrap();
}
