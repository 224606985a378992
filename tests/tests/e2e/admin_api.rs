//! The admin API refuses without its token and explains every refusal; the gateway's OpenAPI
//! document lists it.

use reqwest::Method;
use ucx_admin_api::paths::{self, with_id};
use ucx_e2e::{admin, put_customer, start_gateway, Services};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_checks_its_token_and_its_input() {
    let services = Services::from_env();
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: services.kafka("admin-api"),
        ..Default::default()
    })
    .await;
    let url = &gateway.admin_url;

    for token in [None, Some("wrong-token-wrong-token")] {
        let mut request = reqwest::Client::new().get(format!("{url}{}", paths::CUSTOMERS));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }

    let customer = |tier: &str, date: &str, email: &str| {
        serde_json::json!({
            "name": "Clinic", "region": "ME", "contract_tier": tier, "care_end_date": date,
            "alert_contacts": [{"email": email, "min_severity": "CRITICAL"}],
        })
    };
    let path = &with_id(paths::CUSTOMER, "cust-x");
    let cases = [
        (
            customer("SILVER", "2027-01-31", "a@b.example"),
            "contract_tier",
        ),
        (
            customer("GOLD", "31.01.2027", "a@b.example"),
            "care_end_date",
        ),
        (
            customer("GOLD", "2027-01-31", "not an address"),
            "not an e-mail address",
        ),
    ];
    for (body, complaint) in cases {
        let (status, answer) = admin(url, Method::PUT, path, Some(body)).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(complaint),
            "{answer}"
        );
    }
    let (status, answer) = admin(
        url,
        Method::PUT,
        &with_id(paths::CUSTOMER, "bad%20id"),
        Some(customer("GOLD", "2027-01-31", "a@b.example")),
    )
    .await;
    assert_eq!(status, 422, "{answer}");

    let (status, answer) = admin(
        url,
        Method::PUT,
        path,
        Some(customer("GOLD", "2027-01-31", "a@b.example")),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        answer["telemetry_enabled"], true,
        "telemetry is on by default"
    );
    let (status, _) = admin(
        url,
        Method::PUT,
        path,
        Some(customer("PLATINUM", "2028-01-31", "a@b.example")),
    )
    .await;
    assert_eq!(status, 200, "an update");
    let (_, listed) = admin(url, Method::GET, paths::CUSTOMERS, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["contract_tier"], "PLATINUM");

    let (status, answer) = admin(url, Method::GET, &with_id(paths::CUSTOMER, "nobody"), None).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (404, Some("unknown_customer"))
    );
    let add = |customer: &'static str| async move {
        admin(
            url,
            Method::POST,
            &with_id(paths::CUSTOMER_INSTALLATIONS, customer),
            Some(serde_json::json!({"installation_id": "inst-x"})),
        )
        .await
    };
    assert_eq!(add("nobody").await.0, 404);
    assert_eq!(add("cust-x").await.0, 201);
    let (status, answer) = add("cust-x").await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("/key"),
        "says how to get a new key"
    );
    let (status, _) = admin(
        url,
        Method::POST,
        &with_id(paths::INSTALLATION_REVOKE, "nothing"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    put_customer(url, "cust-y", "BASIC", false).await;
    let (_, answer) = admin(url, Method::GET, &with_id(paths::CUSTOMER, "cust-y"), None).await;
    assert_eq!(answer["telemetry_enabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_short_admin_token_stops_the_gateway_at_start() {
    let services = Services::from_env();
    let mut config = ucx_ingest::IngestConfig {
        kafka: services.kafka("admin-off"),
        ..Default::default()
    };
    config.ingest.admin_token = Some("".into());
    // An empty token is refused at start: it is shorter than the minimum.
    let result = ucx_ingest::run(
        config.clone(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await;
    assert!(result.unwrap_err().to_string().contains("admin_token"));
}
