//! The OpenAPI 3 document of the gateway's wire format, derived from the Avro schemas so that
//! the two cannot drift apart. The repository keeps it as `schemas/openapi.json` (a test checks
//! the file is current) and the gateway serves it at `/openapi.json`.

use serde_json::{json, Map, Value};

use crate::beats::Category;

/// The document as kept in the repository.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Translates an Avro type (as JSON) into a JSON Schema of its wire form.
fn wire_schema(avro: &Value) -> Value {
    match avro {
        Value::String(name) => primitive(name),
        Value::Array(branches) => {
            // ["null", T]: an optional field.
            let present = branches
                .iter()
                .find(|branch| *branch != "null")
                .expect("a non-null branch");
            let mut schema = wire_schema(present);
            schema["nullable"] = json!(true);
            schema
        }
        Value::Object(object) => match object["type"].as_str() {
            Some("record") => record(object),
            Some("array") => json!({"type": "array", "items": wire_schema(&object["items"])}),
            Some("enum") => json!({"type": "string", "enum": object["symbols"]}),
            Some("long") if object.get("logicalType") == Some(&json!("timestamp-millis")) => {
                json!({"type": "integer", "format": "int64", "description": "UTC milliseconds since the epoch"})
            }
            Some(other) => primitive(other),
            None => panic!("avro type without a type: {avro}"),
        },
        other => panic!("unexpected avro type {other}"),
    }
}

fn primitive(name: &str) -> Value {
    match name {
        "string" => json!({"type": "string"}),
        "long" => json!({"type": "integer", "format": "int64"}),
        "int" => json!({"type": "integer", "format": "int32"}),
        "double" => json!({"type": "number", "format": "double"}),
        "boolean" => json!({"type": "boolean"}),
        other => panic!("unmapped avro type {other}"),
    }
}

fn record(object: &Map<String, Value>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in object["fields"].as_array().expect("fields") {
        let name = field["name"].as_str().expect("a field name");
        let mut schema = wire_schema(&field["type"]);
        if let Some(doc) = field.get("doc").and_then(Value::as_str) {
            schema["description"] = json!(doc);
        }
        if field.get("default").is_none() {
            required.push(json!(name));
        }
        properties.insert(name.to_string(), schema);
    }
    let mut schema =
        json!({"type": "object", "properties": properties, "additionalProperties": true});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn component_name(category: Category) -> String {
    category
        .id()
        .split(['.', '_'])
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// Builds the document from the current beat schemas.
pub fn openapi_document() -> Value {
    let mut schemas = Map::new();
    let mut beat_variants = Vec::new();
    let mut discriminator = Map::new();
    for &category in Category::ALL {
        let avro: Value = serde_json::from_str(category.schema_source()).expect("embedded schema");
        let data_avro = &avro["fields"][1]["type"];
        let name = component_name(category);
        let mut data = wire_schema(data_avro);
        data["description"] = avro["doc"].clone();
        schemas.insert(format!("{name}Data"), data);
        schemas.insert(
            format!("{name}Beat"),
            json!({
                "allOf": [
                    {"$ref": "#/components/schemas/Envelope"},
                    {"type": "object", "required": ["category", "data"], "properties": {
                        "category": {"type": "string", "enum": [category.id()]},
                        "data": {"$ref": format!("#/components/schemas/{name}Data")}
                    }}
                ]
            }),
        );
        beat_variants.push(json!({"$ref": format!("#/components/schemas/{name}Beat")}));
        discriminator.insert(
            category.id().to_string(),
            json!(format!("#/components/schemas/{name}Beat")),
        );
    }
    schemas.insert("Envelope".into(), json!({
        "type": "object",
        "required": ["beat_id", "installation_id", "node_id", "region", "sent_at"],
        "properties": {
            "beat_id": {"type": "string", "format": "uuid", "description": "chosen by the server; a retried beat keeps its id (the dedup key)"},
            "installation_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
            "node_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$", "description": "the cluster node that measured"},
            "region": {"type": "string", "enum": ["EU", "US", "ME"], "description": "the region the server believes it reports to; what is stored is the customer's region from the registry"},
            "sent_at": {"description": "when the server measured: RFC 3339 text or epoch milliseconds; at most 10 minutes ahead, at most 7 days old",
                        "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "format": "int64"}]}
        },
        "additionalProperties": true
    }));
    schemas.insert(
        "Beat".into(),
        json!({
            "oneOf": beat_variants,
            "discriminator": {"propertyName": "category", "mapping": discriminator}
        }),
    );
    schemas.insert("Violation".into(), json!({
        "type": "object", "required": ["path", "expected", "found"],
        "properties": {"path": {"type": "string"}, "expected": {"type": "string"}, "found": {"type": "string"}}
    }));
    schemas.insert("Error".into(), json!({
        "type": "object", "required": ["code", "error"],
        "properties": {
            "code": {"type": "string", "description": "stable, for programs: e.g. invalid, unauthorized, wrong_installation, telemetry_disabled (stop sending), wrong_region (send to the endpoint named), rate_limited, too_many_failed_authentications, body_timeout, overloaded, too_many_connections, broker_unavailable, method_not_allowed, not_found"},
            "error": {"type": "string", "description": "what is wrong and what to do, for people"},
            "violations": {"type": "array", "items": {"$ref": "#/components/schemas/Violation"}}
        }
    }));
    let customer_avro: Value =
        serde_json::from_str(crate::registry::CUSTOMER_SCHEMA_SOURCE).expect("embedded schema");
    schemas.insert("Customer".into(), wire_schema(&customer_avro));
    schemas.insert("CustomerInput".into(), json!({
        "type": "object", "required": ["name", "region", "contract_tier"], "additionalProperties": false,
        "properties": {
            "name": {"type": "string"},
            "region": {"type": "string", "enum": ["EU", "US", "ME"]},
            "contract_tier": {"type": "string", "enum": ["BASIC", "GOLD", "PLATINUM"]},
            "care_end_date": {"type": "string", "format": "date", "nullable": true},
            "alert_contacts": {"type": "array", "items": {"type": "object", "required": ["email", "min_severity"], "properties": {
                "email": {"type": "string", "format": "email"}, "min_severity": {"type": "string", "enum": ["INFO", "WARNING", "CRITICAL"]}}}},
            "telemetry_enabled": {"type": "boolean", "description": "on for a new customer when absent; unchanged for an existing one. Switching it off requests a purge of the customer's stored data"}
        }
    }));
    schemas.insert("Installation".into(), json!({
        "type": "object", "required": ["installation_id", "customer_id", "key_id", "status", "updated_at"],
        "properties": {
            "installation_id": {"type": "string"}, "customer_id": {"type": "string"},
            "key_id": {"type": "string", "description": "public part of the current key"},
            "status": {"type": "string", "enum": ["ACTIVE", "REVOKED"]},
            "updated_at": {"type": "integer", "format": "int64"},
            "licensed_users": {"type": "integer", "nullable": true, "description": "call-manager users the licences cover"},
            "licensed_devices": {"type": "integer", "nullable": true, "description": "call-manager devices the licences cover"}
        }
    }));
    schemas.insert(
        "Licence".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "licensed_users": {"type": "integer", "minimum": 1, "nullable": true},
                "licensed_devices": {"type": "integer", "minimum": 1, "nullable": true}
            }
        }),
    );
    schemas.insert("IssuedKey".into(), json!({
        "allOf": [{"$ref": "#/components/schemas/Installation"}, {"type": "object", "required": ["key"], "properties": {
            "key": {"type": "string", "description": "the installation's key, shown this once: ucx_<key id>_<secret>"}}}]
    }));
    schemas.insert("CustomerWithInstallations".into(), json!({
        "allOf": [{"$ref": "#/components/schemas/Customer"}, {"type": "object", "required": ["installations"], "properties": {
            "installations": {"type": "array", "items": {"$ref": "#/components/schemas/Installation"}}}}]
    }));
    let silence_avro: Value =
        serde_json::from_str(crate::registry::SILENCE_SCHEMA_SOURCE).expect("embedded schema");
    schemas.insert("SilenceRecord".into(), wire_schema(&silence_avro));
    schemas.insert("Silence".into(), json!({
        "allOf": [{"$ref": "#/components/schemas/SilenceRecord"}, {"type": "object", "required": ["active"], "properties": {
            "active": {"type": "boolean", "description": "in force now"}}}]
    }));
    schemas.insert("SilenceInput".into(), json!({
        "type": "object", "required": ["customer_id", "comment", "created_by"], "additionalProperties": false,
        "description": "give ends_at or duration_minutes; at most 90 days",
        "properties": {
            "kind": {"type": "string", "enum": ["silence", "maintenance"], "description": "silence (default): alerts recorded for support, customer not notified, no reminders; maintenance: no alert opens, heartbeat loss included"},
            "customer_id": {"type": "string"},
            "installation_id": {"type": "string", "nullable": true, "description": "one installation of the customer; all when absent"},
            "rule_id": {"type": "string", "nullable": true, "description": "one rule; all when absent"},
            "starts_at": {"type": "string", "format": "date-time", "description": "default: now"},
            "ends_at": {"type": "string", "format": "date-time"},
            "duration_minutes": {"type": "integer", "minimum": 1},
            "comment": {"type": "string", "description": "why, for the next engineer"},
            "created_by": {"type": "string"}
        }
    }));
    let fleet_avro: Value = serde_json::from_str(crate::registry::FLEET_INCIDENT_SCHEMA_SOURCE)
        .expect("embedded schema");
    schemas.insert("FleetIncidentRecord".into(), wire_schema(&fleet_avro));
    schemas.insert("FleetIncident".into(), json!({
        "allOf": [{"$ref": "#/components/schemas/FleetIncidentRecord"}, {"type": "object", "required": ["in_force"], "properties": {
            "in_force": {"type": "boolean", "description": "holds (HELD) or withholds (SILENCED) customer mail of the rule now"}}}]
    }));
    schemas.insert("FleetSilenceInput".into(), json!({
        "type": "object", "required": ["rule_id", "comment", "created_by"], "additionalProperties": false,
        "description": "give ends_at or duration_minutes; at most 90 days",
        "properties": {
            "rule_id": {"type": "string", "description": "e.g. service_stopped"},
            "ucx_version": {"type": "string", "nullable": true, "description": "only installations running this UCX Suite version; every version when absent"},
            "ends_at": {"type": "string", "format": "date-time"},
            "duration_minutes": {"type": "integer", "minimum": 1},
            "comment": {"type": "string", "description": "why, for the next engineer"},
            "created_by": {"type": "string"}
        }
    }));
    let ack_avro: Value = serde_json::from_str(crate::registry::ACKNOWLEDGEMENT_SCHEMA_SOURCE)
        .expect("embedded schema");
    schemas.insert("Acknowledgement".into(), wire_schema(&ack_avro));
    schemas.insert("Accepted".into(), json!({
        "type": "object", "required": ["beat_id", "status"],
        "properties": {"beat_id": {"type": "string"}, "status": {"type": "string", "enum": ["accepted"]}}
    }));
    schemas.insert("BatchAnswer".into(), json!({
        "type": "object", "required": ["accepted", "refused", "results"],
        "properties": {
            "accepted": {"type": "integer"}, "refused": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object", "required": ["index", "status"], "properties": {
                "index": {"type": "integer"}, "status": {"type": "integer"}, "beat_id": {"type": "string"},
                "code": {"type": "string"}, "error": {"type": "string"}, "violations": {"type": "array", "items": {"$ref": "#/components/schemas/Violation"}}
            }}}
        }
    }));
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "UCX telemetry ingest gateway",
            "version": "1",
            "description": "Where UCX Suite servers post their telemetry beats (section 10 of the Cloud Services Terms of Use). Fields a beat carries beyond these are accepted and ignored. Personal data (e-mail addresses, user-profile and home-share paths, account names, international phone numbers) is redacted or, if so configured, refused. The gateway has two listeners: the public one (ingest.listen) serves /v1/beats, /openapi.json and /health; the admin listener (ingest.admin_listen, plain HTTP for loopback or an internal network) serves the admin API, /metrics, /ready, /health and /openapi.json. Each path names its listener in `servers`; asked on the other listener it answers 404 (code not_found) naming the right one."
        },
        "servers": [PUBLIC_SERVER.clone()],
        "paths": {
            "/v1/beats": {"post": {
                "summary": "Post one beat, or a batch of beats",
                "security": [{"installationKey": []}],
                "parameters": [{"name": "Content-Encoding", "in": "header", "required": false,
                    "schema": {"type": "string", "enum": ["gzip", "zstd", "identity"]},
                    "description": "compressed bodies; the size limit applies after decompression"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Beat"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Beat"}, "description": "a batch (at most max_batch_beats, default 500)"}
                ]}}}},
                "responses": {
                    "202": {"description": "stored: the broker acknowledged the beat (every beat of a batch)", "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Accepted"}, {"$ref": "#/components/schemas/BatchAnswer"}]}}}},
                    "207": {"description": "a batch of which some beats were refused for their content; see each result", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchAnswer"}}}},
                    "400": error_response("malformed JSON, a wrong type, a missing field, an unknown category, or an empty batch; code malformed_request: the request itself is not valid HTTP/1.1 (request line, a header name or value, e.g. a control byte) and the connection is closed"),
                    "414": error_response("code uri_too_long: the URI is too long (the connection is closed)"),
                    "431": error_response("code headers_too_large: the request head is larger than the gateway reads (about 400 KiB; the connection is closed)"),
                    "401": error_response("no key, an unknown key or a revoked key (code unauthorized)"),
                    "403": error_response("code telemetry_disabled: the customer switched telemetry off, stop sending until it is switched on again; code wrong_installation: the key is of another installation than the beat; code unknown_customer"),
                    "421": error_response("code wrong_region: the installation's customer is registered in another data region than this gateway serves (ingest.region); nothing of the request was read or stored: send the beats to the endpoint the message names"),
                    "409": error_response("code beat_id_conflict: a beat_id this gateway accepted lately (the last beat_id_window beats, default 100,000) sent again with another category, node or data; a new beat needs a new beat_id (a retry of the same beat, sent_at renewed or not, gets 202)"),
                    "405": error_response("a method other than POST (code method_not_allowed); every path answers a wrong method so"),
                    "408": error_response("the body did not fully arrive within body_timeout_s (default 30 s) of the request head, e.g. a Content-Length larger than the body (code body_timeout)"),
                    "413": error_response("the body (after decompression) or the batch is too large"),
                    "415": error_response("no Content-Type or not application/json, or a Content-Encoding other than gzip and zstd"),
                    "422": {"description": "impossible values, or personal data under the reject policy (see violations); for a batch, every beat refused: the batch answer with each beat's result", "content": {"application/json": {"schema": {"oneOf": [
                        {"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/BatchAnswer"}]}}}},
                    "429": {"description": "code rate_limited: the installation sends more beats than its rate limit (an empty batch costs one beat); code too_many_failed_authentications: too many requests with a missing or wrong key came from this address. Retry after Retry-After seconds",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "503": {"description": "not stored for now: broker unavailable or saturated (broker_unavailable), the gateway still loading its registry (registry_loading), handling as many requests as it can (overloaded), or too many open connections in all or from this address (too_many_connections, the connection is closed): retry the same beats after Retry-After seconds",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            "content": {"application/json": {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Error"}, {"$ref": "#/components/schemas/BatchAnswer"}]}}}}
                }
            }},
            "/v1/admin/customers": {"get": {"summary": "List customers", "security": [{"adminToken": []}],
                "responses": {"200": {"description": "every customer", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}}}}},
                              "401": error_response("no or a wrong admin token")}}},
            "/v1/admin/customers/{customer_id}": {
                "parameters": [{"name": "customer_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"summary": "A customer and its installations", "security": [{"adminToken": []}],
                    "responses": {"200": {"description": "found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerWithInstallations"}}}},
                                  "404": error_response("no such customer")}},
                "put": {"summary": "Create or update a customer", "security": [{"adminToken": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerInput"}}}},
                    "responses": {"200": {"description": "updated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerWithInstallations"}}}},
                                  "201": {"description": "created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerWithInstallations"}}}},
                                  "422": error_response("an invalid field")}}},
            "/v1/admin/customers/{customer_id}/telemetry": {"put": {
                "summary": "Switch telemetry on or off; off refuses the customer's beats from now on and requests a purge of its stored data",
                "security": [{"adminToken": []}],
                "parameters": [{"name": "customer_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["enabled"], "additionalProperties": false, "properties": {"enabled": {"type": "boolean"}, "by": {"type": "string", "description": "who asks (the customer, a reseller on its behalf, a support engineer): kept with the purge request and in the purges table"}, "reason": {"type": "string", "description": "why, kept likewise"}}}}}},
                "responses": {"200": {"description": "switched", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CustomerWithInstallations"}}}},
                              "404": error_response("no such customer")}}},
            "/v1/admin/customers/{customer_id}/erase": {"post": {
                "summary": "Erase a customer: telemetry off and its stored data purged (as a switch-off does), then its registry records deleted: installations (their keys stop working), silences, and the customer with its contacts. The purge request stays, naming who asked and why",
                "security": [{"adminToken": []}],
                "parameters": [{"name": "customer_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["by", "reason"], "additionalProperties": false,
                    "properties": {"by": {"type": "string", "description": "who asks: the customer, a reseller on its behalf"}, "reason": {"type": "string"}}}}}},
                "responses": {"200": {"description": "erased", "content": {"application/json": {"schema": {"type": "object", "required": ["customer_id", "installation_ids", "registry_records_deleted"],
                    "properties": {"customer_id": {"type": "string"}, "installation_ids": {"type": "array", "items": {"type": "string"}}, "registry_records_deleted": {"type": "integer"}}}}}},
                              "401": error_response("no or a wrong admin token"),
                              "404": error_response("no such customer (code unknown_customer)"),
                              "422": error_response("by or reason missing (code invalid)")}}},
            "/v1/admin/customers/{customer_id}/installations": {"post": {
                "summary": "Register an installation and get its key (shown once)", "security": [{"adminToken": []}],
                "parameters": [{"name": "customer_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"allOf": [
                    {"type": "object", "required": ["installation_id"], "properties": {"installation_id": {"type": "string"}}},
                    {"$ref": "#/components/schemas/Licence"}]}}}},
                "responses": {"201": {"description": "registered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IssuedKey"}}}},
                              "404": error_response("no such customer"), "409": error_response("the installation is already registered")}}},
            "/v1/admin/installations/{installation_id}/key": {"post": {
                "summary": "Issue a new key (the old one stops working; a revoked installation is active again)", "security": [{"adminToken": []}],
                "parameters": [{"name": "installation_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "issued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IssuedKey"}}}},
                              "404": error_response("no such installation")}}},
            "/v1/admin/installations/{installation_id}/revoke": {"post": {
                "summary": "Revoke an installation's key", "security": [{"adminToken": []}],
                "parameters": [{"name": "installation_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "revoked", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Installation"}}}},
                              "404": error_response("no such installation")}}},
            "/v1/admin/installations/{installation_id}/licence": {"put": {
                "summary": "Set the call-manager users and devices the installation's licences cover (the licence rules compare the CUCM counts with them)", "security": [{"adminToken": []}],
                "parameters": [{"name": "installation_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Licence"}}}},
                "responses": {"200": {"description": "set", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Installation"}}}},
                              "404": error_response("no such installation"), "422": error_response("not a positive count")}}},
            "/v1/admin/silences": {"get": {"summary": "List silences and maintenance windows (ended ones too)", "security": [{"adminToken": []}],
                "responses": {"200": {"description": "every silence", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Silence"}}}}},
                              "401": error_response("no or a wrong admin token")}}},
            "/v1/admin/silences/{silence_id}": {
                "parameters": [{"name": "silence_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "put": {"summary": "Declare or replace a silence or maintenance window", "security": [{"adminToken": []}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SilenceInput"}}}},
                    "responses": {"200": {"description": "replaced", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}},
                                  "201": {"description": "declared", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}},
                                  "404": error_response("no such customer or installation"),
                                  "422": error_response("an invalid field: times, a missing comment, an installation of another customer")}},
                "delete": {"summary": "End a silence now (the record stays, ended)", "security": [{"adminToken": []}],
                    "responses": {"200": {"description": "ended", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}},
                                  "404": error_response("no such silence")}}},
            "/v1/admin/alerts/{alert_id}/acknowledge": {"post": {
                "summary": "Acknowledge an open alert: no more reminders; it still resolves when the condition clears (the processor records an ACKNOWLEDGED state change)",
                "security": [{"adminToken": []}],
                "parameters": [{"name": "alert_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["by"], "additionalProperties": false, "properties": {
                    "by": {"type": "string"}, "comment": {"type": "string"}}}}}},
                "responses": {"200": {"description": "recorded", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Acknowledgement"}}}},
                              "422": error_response("not an alert id")}}},
            "/v1/admin/fleet-incidents": {"get": {"summary": "List fleet incidents (one rule opening on a large share of the fleet, or of one UCX Suite version, at once: its customer mail is held until released, silenced or notifier.fleet_hold_s runs out) and fleet-wide silences, newest first", "security": [{"adminToken": []}],
                "responses": {"200": {"description": "every fleet incident", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/FleetIncident"}}}}},
                              "401": error_response("no or a wrong admin token")}}},
            "/v1/admin/fleet-incidents/{incident_id}/release": {"post": {
                "summary": "Release a held fleet incident (the alerts are real): the held customer mail goes out at the notifier's next round; also ends a fleet-wide silence early",
                "security": [{"adminToken": []}],
                "parameters": [{"name": "incident_id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "<rule_id>@<ucx_version> or <rule_id>@all-versions, as listed"}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["by"], "additionalProperties": false, "properties": {
                    "by": {"type": "string"}, "comment": {"type": "string"}}}}}},
                "responses": {"200": {"description": "released", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FleetIncident"}}}},
                              "404": error_response("no such fleet incident"), "422": error_response("by is empty")}}},
            "/v1/admin/fleet-silences": {"post": {
                "summary": "Silence a rule fleet-wide (every version, or one UCX Suite version): no customer mail of it anywhere until it ends; alerts are still recorded for support. Answers a held fleet incident of that rule and version too",
                "security": [{"adminToken": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FleetSilenceInput"}}}},
                "responses": {"200": {"description": "replaced the incident or silence of that rule and version", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FleetIncident"}}}},
                              "201": {"description": "declared", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FleetIncident"}}}},
                              "422": error_response("an invalid field: times, a missing comment, a malformed rule id or version")}}},
            "/ready": {"get": {"summary": "Readiness: the customer registry is loaded and readable, and the broker answers", "responses": {"200": {"description": "ready"}, "503": {"description": "text `not ready: ` and the failing checks, e.g. `not ready: registry` (loading, or a record it cannot read) or `not ready: broker`; the details are in the gateway's log"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "the OpenAPI document"}}}},
            "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}}
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "installationKey": {"type": "http", "scheme": "bearer", "description": "the installation's key from the admin API"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ingest.admin_token"}
            }
        }
    });
    let admin_server = json!({"url": "http://127.0.0.1:8090", "description": "the admin listener (ingest.admin_listen; default 127.0.0.1:8090)"});
    for (path, item) in document["paths"].as_object_mut().expect("paths").iter_mut() {
        let servers = match path.as_str() {
            "/v1/beats" => vec![PUBLIC_SERVER.clone()],
            "/health" | "/openapi.json" => vec![PUBLIC_SERVER.clone(), admin_server.clone()],
            _ => vec![admin_server.clone()], // the admin API, /metrics, /ready
        };
        item["servers"] = serde_json::Value::Array(servers);
    }
    document
}

/// The public listener (`ingest.listen`), where servers post beats.
static PUBLIC_SERVER: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(
    || json!({"url": "http://127.0.0.1:8080", "description": "the public listener (ingest.listen; default 127.0.0.1:8080): beats"}),
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document is what the schemas say. To refresh it after a schema change:
    /// `UCX_UPDATE_OPENAPI=1 cargo test -p ucx-schemas openapi`.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let generated = serde_json::to_string_pretty(&openapi_document()).unwrap() + "\n";
        if std::env::var_os("UCX_UPDATE_OPENAPI").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"),
                &generated,
            )
            .unwrap();
            return;
        }
        assert!(
            OPENAPI_JSON == generated,
            "schemas/openapi.json is stale: run UCX_UPDATE_OPENAPI=1 cargo test -p ucx-schemas openapi"
        );
    }

    #[test]
    fn every_category_has_a_beat_variant_with_its_data() {
        let document = openapi_document();
        let schemas = &document["components"]["schemas"];
        for &category in Category::ALL {
            let name = component_name(category);
            assert!(schemas[format!("{name}Data")].is_object(), "{name}");
            assert_eq!(
                document["components"]["schemas"]["Beat"]["discriminator"]["mapping"]
                    [category.id()],
                format!("#/components/schemas/{name}Beat")
            );
        }
        assert_eq!(
            component_name(Category::HardwareInfoDisks),
            "HardwareInfoDisks"
        );
        assert_eq!(
            schemas["HardwareInfoDisksData"]["properties"]["disks"]["items"]["required"],
            json!(["name", "model", "size_bytes", "free_bytes"])
        );
        assert_eq!(
            schemas["UcxSuiteDatabaseData"]["properties"]["last_maintenance_at"]["nullable"],
            json!(true)
        );
    }
}
