//! The OpenAPI document the gateway serves matches what it accepts: every example beat fits the
//! document and is accepted, and every property the document requires is one whose absence the
//! gateway refuses.

use ucx_e2e::{example_beat, post_beat, start_gateway, Services};
use ucx_schemas::Category;

/// Follows `$ref`s to the schema object they name.
fn resolve<'a>(
    document: &'a serde_json::Value,
    schema: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Checks that every property of `value` is described by `schema` (recursively through objects
/// and arrays); returns the paths that are not.
fn undescribed(
    document: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
) -> Vec<String> {
    let schema = resolve(document, schema);
    match value {
        serde_json::Value::Object(fields) => fields
            .iter()
            .flat_map(|(name, field)| match schema["properties"].get(name) {
                Some(property) => undescribed(document, property, field, &format!("{path}.{name}")),
                None => vec![format!("{path}.{name}")],
            })
            .collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(index, item)| {
                undescribed(
                    document,
                    &schema["items"],
                    item,
                    &format!("{path}[{index}]"),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn required(schema: &serde_json::Value) -> Vec<String> {
    schema["required"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_matches_what_the_gateway_accepts() {
    let services = Services::from_env();
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: services.kafka("openapi"),
        ..Default::default()
    })
    .await;
    let response = reqwest::get(format!("{}/openapi.json", gateway.url))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    let schemas = &document["components"]["schemas"];
    let envelope = &schemas["Envelope"];

    for &category in Category::ALL {
        let beat_schema = &schemas["Beat"]["discriminator"]["mapping"][category.id()];
        let name = beat_schema
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        let data_schema = resolve(&document, &schemas[name]["allOf"][1]["properties"]["data"]);
        let beat = example_beat(category, "inst-openapi");

        // Everything the example carries is in the document, and the gateway takes it.
        let mut envelope_part = beat.clone();
        let data = envelope_part
            .as_object_mut()
            .unwrap()
            .remove("data")
            .unwrap();
        envelope_part.as_object_mut().unwrap().remove("category");
        assert_eq!(
            undescribed(&document, envelope, &envelope_part, ""),
            Vec::<String>::new()
        );
        assert_eq!(
            undescribed(&document, data_schema, &data, "data"),
            Vec::<String>::new(),
            "{}",
            category.id()
        );
        assert_eq!(
            post_beat(&gateway.url, &beat).await.status(),
            202,
            "{}",
            category.id()
        );

        // What the document requires, the gateway requires.
        for field in required(envelope) {
            let mut without = beat.clone();
            without.as_object_mut().unwrap().remove(&field);
            let response = post_beat(&gateway.url, &without).await;
            assert_eq!(response.status(), 400, "{} without {field}", category.id());
        }
        for field in required(data_schema) {
            let mut without = beat.clone();
            without["data"].as_object_mut().unwrap().remove(&field);
            let response = post_beat(&gateway.url, &without).await;
            assert_eq!(
                response.status(),
                400,
                "{} without data.{field}",
                category.id()
            );
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains(&field), "{body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_admin_route_exists_and_wants_the_admin_token() {
    let services = Services::from_env();
    let gateway = start_gateway(ucx_ingest::IngestConfig {
        kafka: services.kafka("openapi-admin"),
        ..Default::default()
    })
    .await;
    let document: serde_json::Value =
        serde_json::from_str(ucx_schemas::openapi::OPENAPI_JSON).unwrap();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/admin/") {
            continue;
        }
        let concrete = path
            .replace("{customer_id}", "cust-doc")
            .replace("{installation_id}", "inst-doc")
            .replace("{silence_id}", "silence-doc")
            .replace("{alert_id}", "6f1c2a9e-3b7d-4f0a-9c1e-2d5b8a7e4f10");
        for method in operations.as_object().unwrap().keys() {
            if method == "parameters" || method == "servers" {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = reqwest::Client::new()
                .request(method.clone(), format!("{}{concrete}", gateway.admin_url))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{method} {path}");
            // documented on the admin listener, and not served on the public one
            assert_eq!(
                operations["servers"][0]["url"], "http://127.0.0.1:8090",
                "{path}"
            );
            let public = reqwest::Client::new()
                .request(method.clone(), format!("{}{concrete}", gateway.url))
                .bearer_auth(ucx_e2e::ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(
                public.status(),
                404,
                "{method} {path} on the public listener"
            );
            checked += 1;
        }
        assert!(
            operations
                .as_object()
                .unwrap()
                .values()
                .all(|op| op.get("security").is_some() || op.is_array()),
            "{path} names its security"
        );
    }
    assert_eq!(checked, 16, "every admin operation");
    let beats = &document["paths"]["/v1/beats"]["post"]["responses"];
    for status in ["401", "403", "413", "415", "429", "503"] {
        assert!(beats[status].is_object(), "{status} is documented");
    }
}
