//! The gateway's HTTP contract without a broker: the whole router, with the registry in memory
//! and records kept in memory (or refused, as an absent broker would). Every refusal has its
//! status, a JSON body saying what is wrong, and nothing of it is stored.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use futures::future::BoxFuture;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::types::RDKafkaErrorCode;
use tower::ServiceExt;
use ucx_common::kafka::Acknowledged;
use ucx_common::registry::RegistryView;
use ucx_schemas::{
    Category, ContractTier, Customer, Installation, InstallationStatus, Region, RegistryRecord,
};

use crate::records::RecordSink;
use crate::{admin_app, public_app, AppState, IngestConfig};

const ADMIN_TOKEN: &str = "unit-test-admin-token";

/// Records kept in memory; with `broker_down` every produce fails as a timed-out one would.
#[derive(Default)]
struct MemoryRecords {
    stored: Mutex<Vec<(String, Vec<u8>)>>,
    broker_down: std::sync::atomic::AtomicBool,
}

impl RecordSink for MemoryRecords {
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
        _payload: &'a [u8],
        _headers: OwnedHeaders,
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>> {
        Box::pin(async move {
            if self.broker_down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(KafkaError::MessageProduction(
                    RDKafkaErrorCode::MessageTimedOut,
                ));
            }
            let mut stored = self.stored.lock().unwrap();
            stored.push((topic.to_string(), key.to_vec()));
            Ok(Acknowledged {
                partition: 0,
                offset: stored.len() as i64 - 1,
            })
        })
    }

    fn tombstone<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>> {
        self.produce(topic, key, &[], OwnedHeaders::new())
    }
}

struct Gateway {
    router: axum::Router,
    /// The admin listener's router.
    admin: axum::Router,
    records: Arc<MemoryRecords>,
    key: String,
}

/// A gateway whose registry holds `inst-1` of a Gold customer, with at most 4 KiB per body.
fn gateway() -> Gateway {
    gateway_with(|_| {})
}

/// `gateway()` with settings of its own.
fn gateway_with(configure: impl FnOnce(&mut crate::IngestSettings)) -> Gateway {
    let issued = crate::keys::issue();
    let customer = Customer {
        customer_id: "cust-1".into(),
        name: "Clinic".into(),
        region: Region::EU,
        contract_tier: ContractTier::Gold,
        care_end_date: None,
        telemetry_enabled: true,
        alert_contacts: Vec::new(),
        updated_at: 0,
    };
    let installation = Installation {
        installation_id: "inst-1".into(),
        customer_id: "cust-1".into(),
        key_id: issued.key_id,
        key_sha256: issued.key_sha256,
        status: InstallationStatus::Active,
        updated_at: 0,
        licensed_users: None,
        licensed_devices: None,
    };
    let registry = RegistryView::loaded_from([
        RegistryRecord::Customer(customer),
        RegistryRecord::Installation(installation),
    ]);
    let mut config = IngestConfig::default();
    config.ingest.max_body_bytes = 4096;
    config.ingest.admin_token = Some(ADMIN_TOKEN.into());
    configure(&mut config.ingest);
    let records = Arc::new(MemoryRecords::default());
    let metrics = prometheus::Registry::new();
    let state = AppState::new(&config, Arc::new(registry), records.clone(), &metrics).unwrap();
    let state = Arc::new(state);
    let router = public_app(state.clone())
        .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 50_000))));
    Gateway {
        router,
        admin: admin_app(state, metrics),
        records,
        key: issued.key,
    }
}

/// `POST /v1/beats` of JSON `body` with the installation key `key`.
fn beat_request(key: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/v1/beats")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(body.into())
        .unwrap()
}

/// The example beat of `category` as a fresh beat of `inst-1`.
fn beat(category: Category) -> serde_json::Value {
    let mut beat: serde_json::Value = serde_json::from_str(category.example_source()).unwrap();
    beat["beat_id"] = uuid::Uuid::new_v4().to_string().into();
    beat["installation_id"] = "inst-1".into();
    beat["sent_at"] = ucx_common::now_ms().into();
    beat
}

impl Gateway {
    async fn post(
        &self,
        key: Option<&str>,
        content_type: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::post("/v1/beats");
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{status}: the body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, body)
    }

    async fn post_json(&self, body: &serde_json::Value) -> (StatusCode, serde_json::Value) {
        self.post(Some(&self.key), "application/json", body.to_string())
            .await
    }

    fn stored(&self) -> usize {
        self.records.stored.lock().unwrap().len()
    }

    async fn metrics(&self) -> String {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let response = self.admin.clone().oneshot(request).await.unwrap();
        let metrics = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8_lossy(&metrics).into_owned()
    }

    /// The value of an unlabelled counter.
    async fn counter(&self, name: &str) -> u64 {
        let metrics = self.metrics().await;
        let line = metrics
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"));
        line[name.len() + 1..].parse().unwrap()
    }
}

#[tokio::test]
async fn a_valid_beat_is_stored_keyed_by_its_installation() {
    let gateway = gateway();
    let (status, body) = gateway.post_json(&beat(Category::UcxSuiteAcd)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let stored = gateway.records.stored.lock().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "ucx.beats");
    assert_eq!(stored[0].1, b"inst-1");
}

#[tokio::test]
async fn bad_requests_get_a_4xx_that_says_what_is_wrong_and_store_nothing() {
    let gateway = gateway();
    let json = "application/json";

    let (status, body) = gateway
        .post(Some(&gateway.key), json, "{\"beat_id\": ")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().starts_with("invalid JSON"),
        "{body}"
    );

    let mut unknown = beat(Category::UcxSuiteAcd);
    unknown["category"] = "ucx_suite.teleport".into();
    let (status, body) = gateway.post_json(&unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("unknown variant `ucx_suite.teleport`")
            && message.contains("ucx_suite.acd"),
        "{message}"
    );

    let mut missing = beat(Category::UcxSuiteAcd);
    missing.as_object_mut().unwrap().remove("node_id");
    let (status, body) = gateway.post_json(&missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `node_id`"),
        "{body}"
    );

    let mut negative = beat(Category::UcxSuiteAcd);
    negative["data"]["fifo_queued_calls"] = (-3).into();
    let (status, body) = gateway.post_json(&negative).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["violations"][0]["path"], "data.fifo_queued_calls");
    assert_eq!(body["violations"][0]["found"], "-3");

    let (status, body) = gateway
        .post(Some(&gateway.key), json, vec![b' '; 10_000])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["error"].as_str().unwrap().contains("4096 bytes"),
        "{body}"
    );

    let (status, body) = gateway
        .post(Some(&gateway.key), "text/plain", "hello")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body["error"].as_str().unwrap().contains("text/plain"),
        "{body}"
    );

    assert_eq!(gateway.stored(), 0, "nothing of it was stored");
    let metrics = gateway.metrics().await;
    for reason in [
        "malformed\"} 3",
        "invalid\"} 1",
        "body_too_large\"} 1",
        "unsupported_media_type\"} 1",
    ] {
        assert!(
            metrics.contains(&format!("ingest_beats_rejected_total{{reason=\"{reason}")),
            "{reason} in\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_beat_needs_its_own_installations_key() {
    let gateway = gateway();
    let good = beat(Category::UcxSuiteIvr);
    let (status, body) = gateway
        .post(None, "application/json", good.to_string())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthorized");

    let (status, _) = gateway
        .post(Some("ucx_0000_wrong"), "application/json", good.to_string())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut other = beat(Category::UcxSuiteIvr);
    other["installation_id"] = "inst-2".into();
    let (status, body) = gateway.post_json(&other).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "wrong_installation");
    assert_eq!(gateway.stored(), 0);
}

#[tokio::test]
async fn another_regions_installation_gets_421_naming_its_endpoint() {
    let endpoint = "https://eu.telemetry.example.com/v1/beats";
    let us = gateway_with(|settings| {
        settings.region = Some(Region::US);
        settings.region_endpoints = [("EU".to_string(), endpoint.to_string())].into();
    });
    let (status, body) = us.post_json(&beat(Category::UcxSuiteIvr)).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    assert_eq!(body["code"], "wrong_region");
    assert!(body["error"].as_str().unwrap().contains(endpoint), "{body}");
    assert_eq!(us.stored(), 0);

    // its own region's gateway stores it with the registry's region, not the beat's claim
    let eu = gateway_with(|settings| settings.region = Some(Region::EU));
    let mut claims_us = beat(Category::UcxSuiteIvr);
    claims_us["region"] = "US".into();
    let (status, body) = eu.post_json(&claims_us).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(eu.stored(), 1);

    let mut bad = IngestConfig::default();
    bad.ingest.region_endpoints = [("Mars".to_string(), endpoint.to_string())].into();
    let refusal = bad.ingest.check().unwrap_err().to_string();
    assert!(
        refusal.contains("Mars") && refusal.contains("EU, US and ME"),
        "{refusal}"
    );
}

#[tokio::test]
async fn a_broker_that_does_not_acknowledge_gets_503_with_retry_after() {
    let gateway = gateway();
    gateway
        .records
        .broker_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let request = beat_request(&gateway.key, beat(Category::UcxSuiteIvr).to_string());
    let response = gateway.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn a_batch_gets_one_result_per_beat() {
    let gateway = gateway();
    let mut bad = beat(Category::UcxSuiteAcd);
    bad["data"]["fifo_queued_calls"] = (-1).into();
    let batch = serde_json::json!([
        beat(Category::UcxSuiteAcd),
        bad,
        beat(Category::UcxSuiteIvr)
    ]);
    let (status, body) = gateway.post_json(&batch).await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["refused"].as_u64()),
        (Some(2), Some(1))
    );
    let statuses: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 202]);
    assert_eq!(gateway.stored(), 2);
}

#[tokio::test]
async fn an_unknown_path_gets_a_json_404() {
    let gateway = gateway();
    let request = Request::get("/v2/beats").body(Body::empty()).unwrap();
    let response = gateway.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(body["code"].is_string(), "{body}");
}

/// The admin API, `/metrics` and `/ready` answer on the admin listener only: on the public one
/// they are a 404 that names the admin listener, even with the right admin token.
#[tokio::test]
async fn operator_paths_are_off_the_public_listener() {
    let gateway = gateway();
    for path in ["/v1/admin/customers", "/metrics", "/ready"] {
        let request = || {
            Request::get(path)
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .body(Body::empty())
                .unwrap()
        };
        let response = gateway.router.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("ingest.admin_listen"),
            "{path}: {body}"
        );
        let response = gateway.admin.clone().oneshot(request()).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} on the admin listener"
        );
    }
    let beats = Request::post("/v1/beats").body(Body::empty()).unwrap();
    let response = gateway.admin.clone().oneshot(beats).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "beats on the admin listener"
    );
}

/// Every admin route of `ucx-admin-api`'s list is served (answered by its handler, not the
/// fallback or a 405) and described in the OpenAPI document, and the document describes no
/// admin route that is not served.
#[tokio::test]
async fn every_admin_route_is_served_and_documented() {
    let gateway = gateway();
    let document: serde_json::Value =
        serde_json::from_str(ucx_schemas::openapi::OPENAPI_JSON).unwrap();
    for (template, methods) in ucx_admin_api::paths::ROUTES {
        let path = template.replace(['{', '}'], "");
        for method in *methods {
            let request = Request::builder()
                .method(method.to_ascii_uppercase().as_str())
                .uri(&path)
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let response = gateway.admin.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED && body["code"] != "not_found",
                "{method} {template}: {status} {body}"
            );
            assert!(
                document["paths"][template][method].is_object(),
                "{method} {template} is not in schemas/openapi.json"
            );
        }
    }
    for (path, operations) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/admin/") {
            continue;
        }
        let served = ucx_admin_api::paths::ROUTES
            .iter()
            .find(|(template, _)| template == path)
            .unwrap_or_else(|| panic!("{path} is documented but not served"));
        for method in operations.as_object().unwrap().keys() {
            if !["parameters", "servers"].contains(&method.as_str()) {
                assert!(served.1.contains(&method.as_str()), "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn nothing_stored_is_never_a_success() {
    let gateway = gateway();
    let (status, body) = gateway.post_json(&serde_json::json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("empty batch"),
        "{body}"
    );

    let mut bad = beat(Category::UcxSuiteAcd);
    bad["data"]["fifo_queued_calls"] = (-1).into();
    let (status, body) = gateway
        .post_json(&serde_json::json!([bad.clone(), bad]))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["refused"].as_u64()),
        (Some(0), Some(2))
    );

    let (status, body) = gateway
        .post(
            Some(&gateway.key),
            "",
            beat(Category::UcxSuiteIvr).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("application/json"),
        "{body}"
    );
    assert_eq!(gateway.stored(), 0);
}

#[tokio::test]
async fn sent_at_extremes_are_impossible_values() {
    let gateway = gateway();
    for extreme in [i64::MIN, i64::MAX, 0] {
        let mut beat = beat(Category::UcxSuiteIvr);
        beat["sent_at"] = extreme.into();
        let (status, body) = gateway.post_json(&beat).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{extreme}: {body}"
        );
        assert_eq!(body["violations"][0]["path"], "sent_at", "{body}");
    }
}

#[tokio::test]
async fn a_body_without_a_valid_key_is_never_read_or_decompressed() {
    let gateway = gateway();
    // 4 MB of spaces compress to a few hundred bytes: a decompression bomb for the 4 KiB limit.
    let bomb = zstd::encode_all(&vec![b' '; 4 << 20][..], 19).unwrap();
    for key in [None, Some("ucx_0000_wrong")] {
        let mut request = Request::post("/v1/beats")
            .header("content-type", "application/json")
            .header("content-encoding", "zstd");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = gateway
            .router
            .clone()
            .oneshot(request.body(Body::from(bomb.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(gateway.counter("ingest_body_bytes_total").await, 0);

    // With the key the same body is read, up to the limit, and refused for its size.
    let request = Request::post("/v1/beats")
        .header("content-type", "application/json")
        .header("content-encoding", "zstd")
        .header("authorization", format!("Bearer {}", gateway.key))
        .body(Body::from(bomb))
        .unwrap();
    let response = gateway.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let beat = beat(Category::UcxSuiteIvr).to_string();
    let (status, _) = gateway
        .post(Some(&gateway.key), "application/json", beat.clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        gateway.counter("ingest_body_bytes_total").await,
        beat.len() as u64,
        "only the accepted body was read whole"
    );
}

#[tokio::test]
async fn failed_authentications_from_one_address_get_429() {
    let gateway = gateway_with(|settings| settings.failed_authentications_per_minute = 5);
    let beat = beat(Category::UcxSuiteIvr).to_string();
    for _ in 0..5 {
        let (status, _) = gateway
            .post(Some("ucx_0000_wrong"), "application/json", beat.clone())
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = gateway
        .post(Some("ucx_0000_wrong"), "application/json", beat.clone())
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_failed_authentications");
    let (status, body) = gateway.post(None, "application/json", beat.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The address's own installation, with its valid key, is not locked out.
    let (status, body) = gateway
        .post(Some(&gateway.key), "application/json", beat)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn empty_batches_are_refused_and_charged_to_the_rate_limit() {
    let gateway = gateway_with(|settings| {
        settings.rate_limit_burst = 500;
        settings.rate_limit_beats_per_second = 1;
    });
    for _ in 0..500 {
        let (status, _) = gateway.post_json(&serde_json::json!([])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, body) = gateway.post_json(&serde_json::json!([])).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
}

#[tokio::test]
async fn a_wrong_method_gets_a_json_405() {
    let gateway = gateway();
    for (router, method, path) in [
        (&gateway.router, "GET", "/v1/beats"),
        (&gateway.router, "PUT", "/openapi.json"),
        (&gateway.admin, "DELETE", "/metrics"),
        (&gateway.admin, "POST", "/ready"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{body}");
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }
}

/// A body that sends its first bytes and then nothing, as a Content-Length larger than the body.
fn stalled_body() -> Body {
    let first =
        futures::stream::once(async { Ok::<_, std::io::Error>(axum::body::Bytes::from("[")) });
    Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let gateway = gateway_with(|settings| {
        settings.body_timeout_s = std::time::Duration::from_secs(1);
    });
    let started = std::time::Instant::now();
    let (status, body) = gateway
        .post(Some(&gateway.key), "application/json", stalled_body())
        .await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(body["code"], "body_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(gateway.stored(), 0);
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_get_503_with_retry_after() {
    let gateway = gateway_with(|settings| settings.max_requests_in_flight = 1);
    let router = gateway.router.clone();
    let key = gateway.key.clone();
    let stalled = tokio::spawn(async move {
        router
            .oneshot(beat_request(&key, stalled_body()))
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let request = beat_request(&gateway.key, beat(Category::UcxSuiteIvr).to_string());
    let response = gateway.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");
    stalled.abort();
}

#[tokio::test]
async fn a_beat_id_reused_with_other_content_gets_409_and_a_retry_202() {
    let gateway = gateway();
    let original = beat(Category::UcxSuiteAcd);
    let (status, _) = gateway.post_json(&original).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // A retry, with sent_at renewed: the same beat.
    let mut retry = original.clone();
    retry["sent_at"] = (ucx_common::now_ms() + 1).into();
    let (status, body) = gateway.post_json(&retry).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Other data under the same id: another beat.
    let mut other = original.clone();
    other["data"]["fifo_queued_calls"] = 99.into();
    let (status, body) = gateway.post_json(&other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "beat_id_conflict");
    assert!(
        body["error"].as_str().unwrap().contains("new beat_id"),
        "{body}"
    );
    // In a batch, only that beat is refused.
    let (status, body) = gateway
        .post_json(&serde_json::json!([other, beat(Category::UcxSuiteAcd)]))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"][0]["status"], 409);
    assert_eq!(
        gateway.stored(),
        3,
        "the original, its retry and the batch's new beat"
    );
}
