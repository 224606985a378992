//! The admin API's routes: the templates the gateway routes (`{name}` parameters, axum's
//! syntax) and the paths a client calls.

pub const CUSTOMERS: &str = "/v1/admin/customers";
pub const CUSTOMER: &str = "/v1/admin/customers/{customer_id}";
pub const CUSTOMER_TELEMETRY: &str = "/v1/admin/customers/{customer_id}/telemetry";
pub const CUSTOMER_ERASE: &str = "/v1/admin/customers/{customer_id}/erase";
pub const CUSTOMER_INSTALLATIONS: &str = "/v1/admin/customers/{customer_id}/installations";
pub const INSTALLATION_KEY: &str = "/v1/admin/installations/{installation_id}/key";
pub const INSTALLATION_REVOKE: &str = "/v1/admin/installations/{installation_id}/revoke";
pub const INSTALLATION_LICENCE: &str = "/v1/admin/installations/{installation_id}/licence";
pub const SILENCES: &str = "/v1/admin/silences";
pub const SILENCE: &str = "/v1/admin/silences/{silence_id}";
pub const ALERT_ACKNOWLEDGE: &str = "/v1/admin/alerts/{alert_id}/acknowledge";
pub const FLEET_INCIDENTS: &str = "/v1/admin/fleet-incidents";
pub const FLEET_INCIDENT_RELEASE: &str = "/v1/admin/fleet-incidents/{incident_id}/release";
pub const FLEET_SILENCES: &str = "/v1/admin/fleet-silences";

/// Every route with its methods: what the gateway serves and the OpenAPI document describes.
pub const ROUTES: &[(&str, &[&str])] = &[
    (CUSTOMERS, &["get"]),
    (CUSTOMER, &["get", "put"]),
    (CUSTOMER_TELEMETRY, &["put"]),
    (CUSTOMER_ERASE, &["post"]),
    (CUSTOMER_INSTALLATIONS, &["post"]),
    (INSTALLATION_KEY, &["post"]),
    (INSTALLATION_REVOKE, &["post"]),
    (INSTALLATION_LICENCE, &["put"]),
    (SILENCES, &["get"]),
    (SILENCE, &["put", "delete"]),
    (ALERT_ACKNOWLEDGE, &["post"]),
    (FLEET_INCIDENTS, &["get"]),
    (FLEET_INCIDENT_RELEASE, &["post"]),
    (FLEET_SILENCES, &["post"]),
];

/// `template` with its one `{…}` parameter replaced by `id`.
pub fn with_id(template: &str, id: &str) -> String {
    let start = template.find('{').expect("a template with a parameter");
    let end = template.find('}').expect("a closed parameter");
    format!("{}{}{}", &template[..start], id, &template[end + 1..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_template_takes_its_id() {
        assert_eq!(
            super::with_id(super::INSTALLATION_KEY, "inst-1"),
            "/v1/admin/installations/inst-1/key"
        );
    }
}
