//! Hostile clients against a real gateway over TCP: slow unfinished requests, unauthenticated
//! compressed bodies, failed-authentication floods. Legitimate servers keep being answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use ucx_e2e::{example_beat, installation_key, metric_sum, start_gateway, Services};
use ucx_schemas::Category;

const SLOW_CONNECTIONS: usize = 2_000;

/// A connection from `source` (any 127.0.0.0/8 address works on loopback) to `gateway`.
async fn connect_from(source: [u8; 4], gateway: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(gateway).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_unfinished_requests_do_not_stop_legitimate_beats() {
    let services = Services::from_env();
    let mut config = ucx_ingest::IngestConfig {
        kafka: services.kafka("hostile-slow"),
        ..Default::default()
    };
    config.ingest.header_read_timeout_s = Duration::from_secs(5);
    let gateway = start_gateway(config).await;
    let url = &gateway.url;
    let address: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let key = installation_key(url, "inst-hostile").await;

    // 2,000 requests from one address whose heads never end (one header line, then silence).
    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for _ in 0..SLOW_CONNECTIONS {
        let mut stream = connect_from([127, 0, 0, 2], address).await;
        stream
            .write_all(b"POST /v1/beats HTTP/1.1\r\nHost: gateway\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let opened = Instant::now();

    // Legitimate beats from another address meanwhile.
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let response = client
            .post(format!("{url}/v1/beats"))
            .bearer_auth(&key)
            .json(&example_beat(Category::UcxSuiteIvr, "inst-hostile"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    println!(
        "legitimate beats beside {SLOW_CONNECTIONS} slow requests: p50 {:?}, p99 {p99:?}",
        latencies[latencies.len() / 2]
    );
    assert!(
        opened.elapsed() < Duration::from_secs(5),
        "measured while every slow request was still open"
    );
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");

    // A whole request from the crowded address is answered, and told why it is refused.
    let mut extra = connect_from([127, 0, 0, 2], address).await;
    extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );

    // The unfinished heads are dropped by the header-read timeout.
    let mut closed = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 64];
        let deadline = opened + Duration::from_secs(15);
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Ok(_)) = tokio::time::timeout(left, stream.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, SLOW_CONNECTIONS,
        "every unfinished request was closed by the gateway"
    );
    println!(
        "unfinished request heads closed after {:?}",
        opened.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_key_cost_no_body_and_floods_get_429() {
    let services = Services::from_env();
    let mut config = ucx_ingest::IngestConfig {
        kafka: services.kafka("hostile-auth"),
        ..Default::default()
    };
    config.ingest.failed_authentications_per_minute = 20;
    let gateway = start_gateway(config).await;
    let url = &gateway.url;
    let key = installation_key(url, "inst-hostile-auth").await;
    let read_before = metric_sum(url, "ingest_body_bytes_total ").await;

    // 8 MB of spaces, zstd: a few hundred bytes on the wire.
    let bomb = zstd::encode_all(&vec![b' '; 8 << 20][..], 19).unwrap();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let response = client
            .post(format!("{url}/v1/beats"))
            .bearer_auth("ucx_0000_guessed")
            .header("content-type", "application/json")
            .header("content-encoding", "zstd")
            .body(bomb.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let body: serde_json::Value = response.json().await.unwrap();
        if status == 429 {
            assert_eq!(body["code"], "too_many_failed_authentications", "{body}");
            assert!(retry_after.is_some());
        } else {
            assert_eq!(
                (status, &body["code"]),
                (401, &"unauthorized".into()),
                "{body}"
            );
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|&&status| status == 401).count(), 20);
    assert_eq!(statuses.iter().filter(|&&status| status == 429).count(), 10);
    assert_eq!(
        metric_sum(url, "ingest_body_bytes_total ").await,
        read_before,
        "no unauthenticated body was read or decompressed"
    );

    // The installation behind the same address still gets its beats in.
    let response = client
        .post(format!("{url}/v1/beats"))
        .bearer_auth(&key)
        .json(&example_beat(Category::UcxSuiteIvr, "inst-hostile-auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

/// What the HTTP library refuses before any handler (a garbage request line, a control byte in
/// a header, a head too large) gets the same JSON body as every other refusal, and a beat on a
/// fresh connection afterwards is still accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_http_library_cannot_parse_get_a_json_refusal() {
    let services = Services::from_env();
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: services.kafka("hostile-parse"),
        ..Default::default()
    })
    .await;
    let url = &gateway.url;
    let address: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let huge_header = format!(
        "POST /v1/beats HTTP/1.1\r\nHost: g\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    for (request, status, code) in [
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            b"POST /v1/beats HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer a\x01b\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (huge_header.into_bytes(), 431, "headers_too_large"),
    ] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let _ = stream.write_all(&request).await; // a refused head may close before all is sent
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("the gateway answers and closes")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no answer: {answer:?}"));
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{code}: {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let body: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(body["code"], code, "{body}");
        assert!(body["error"].as_str().unwrap().len() > 20, "{body}");
    }
    let key = installation_key(url, "inst-parse").await;
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/beats"))
        .bearer_auth(&key)
        .json(&example_beat(Category::UcxSuiteIvr, "inst-parse"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}
