//! The admin API (`/v1/admin/…`, its own bearer token): customers, their installations and
//! telemetry opt-out. It changes nothing locally: every change is a record published to the
//! registry topic, which every stage (this gateway included) follows. An answer comes once this
//! gateway's own view has applied the change, so a key is usable as soon as it is handed out.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rdkafka::message::OwnedHeaders;
use serde::{Deserialize, Serialize};
use ucx_schemas::validation::is_identifier;
use ucx_schemas::{
    encode_registry, AlertContact, ContractTier, Customer, Installation, InstallationStatus,
    PurgeRequest, Region, RegistryRecord,
};

use crate::error::ErrorBody;
use crate::{admin_silences, auth, keys, AppState};

/// How long an answer waits for this gateway's view to apply the published change.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/admin/customers", get(list_customers))
        .route(
            "/v1/admin/customers/{customer_id}",
            get(get_customer).put(put_customer),
        )
        .route(
            "/v1/admin/customers/{customer_id}/telemetry",
            put(set_telemetry),
        )
        .route(
            "/v1/admin/customers/{customer_id}/installations",
            post(add_installation),
        )
        .route(
            "/v1/admin/installations/{installation_id}/key",
            post(rotate_key),
        )
        .route(
            "/v1/admin/installations/{installation_id}/revoke",
            post(revoke_installation),
        )
        .route(
            "/v1/admin/installations/{installation_id}/licence",
            put(set_licence),
        )
        .route("/v1/admin/silences", get(admin_silences::list_silences))
        .route(
            "/v1/admin/silences/{silence_id}",
            put(admin_silences::put_silence).delete(admin_silences::end_silence),
        )
        .route(
            "/v1/admin/alerts/{alert_id}/acknowledge",
            post(admin_silences::acknowledge),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_admin,
        ))
        .with_state(state)
}

/// A refused admin request.
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub(crate) fn no_customer(customer_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_customer",
            format!("no customer {customer_id}"),
        )
    }

    pub(crate) fn no_installation(installation_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_installation",
            format!("no installation {installation_id}"),
        )
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            error: self.message,
            violations: &[],
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for AdminError {
    fn from(rejection: JsonRejection) -> Self {
        AdminError::new(rejection.status(), "invalid", rejection.body_text())
    }
}

async fn require_admin(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.admin_token.as_deref() else {
        return AdminError::new(
            StatusCode::NOT_FOUND,
            "admin_api_disabled",
            "the admin API is off: set ingest.admin_token (UCX_INGEST__ADMIN_TOKEN) to turn it on",
        )
        .into_response();
    };
    match auth::bearer(&headers) {
        Some(token) if keys::secrets_equal(token, expected) => next.run(request).await,
        _ => {
            let mut response = AdminError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the admin API needs Authorization: Bearer <admin token>",
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// What the admin API shows of an installation: never the key's hash.
#[derive(Serialize)]
struct InstallationView {
    installation_id: String,
    customer_id: String,
    key_id: String,
    status: InstallationStatus,
    updated_at: i64,
    licensed_users: Option<i32>,
    licensed_devices: Option<i32>,
}

impl From<Installation> for InstallationView {
    fn from(installation: Installation) -> Self {
        InstallationView {
            installation_id: installation.installation_id,
            customer_id: installation.customer_id,
            key_id: installation.key_id,
            status: installation.status,
            updated_at: installation.updated_at,
            licensed_users: installation.licensed_users,
            licensed_devices: installation.licensed_devices,
        }
    }
}

#[derive(Serialize)]
struct CustomerView {
    #[serde(flatten)]
    customer: Customer,
    installations: Vec<InstallationView>,
}

/// An installation and its new key, shown this once.
#[derive(Serialize)]
struct IssuedKeyView {
    #[serde(flatten)]
    installation: InstallationView,
    key: String,
}

async fn list_customers(State(state): State<Arc<AppState>>) -> Json<Vec<Customer>> {
    Json(state.registry.customers())
}

async fn get_customer(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
) -> Result<Json<CustomerView>, AdminError> {
    let customer = state
        .registry
        .customer(&customer_id)
        .ok_or_else(|| AdminError::no_customer(&customer_id))?;
    Ok(Json(customer_view(&state, customer)))
}

fn customer_view(state: &AppState, customer: Customer) -> CustomerView {
    let installations = state
        .registry
        .installations_of(&customer.customer_id)
        .into_iter()
        .map(InstallationView::from)
        .collect();
    CustomerView {
        customer,
        installations,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerInput {
    name: String,
    region: Region,
    contract_tier: ContractTier,
    #[serde(default)]
    care_end_date: Option<String>,
    #[serde(default)]
    alert_contacts: Vec<AlertContact>,
    /// On for a new customer when absent; left as it is for an existing one.
    #[serde(default)]
    telemetry_enabled: Option<bool>,
}

impl CustomerInput {
    fn check(&self) -> Result<(), AdminError> {
        if self.name.trim().is_empty() {
            return Err(AdminError::invalid("name must not be empty"));
        }
        if let Some(date) = &self.care_end_date {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(date, &format).map_err(|_| {
                AdminError::invalid(format!("care_end_date {date:?} is not a YYYY-MM-DD date"))
            })?;
        }
        for contact in &self.alert_contacts {
            contact.email.parse::<lettre::Address>().map_err(|error| {
                AdminError::invalid(format!(
                    "alert contact {:?} is not an e-mail address: {error}",
                    contact.email
                ))
            })?;
        }
        Ok(())
    }
}

pub(crate) fn check_id(kind: &str, id: &str) -> Result<(), AdminError> {
    if is_identifier(id) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "{kind} {id:?} must be 1 to 128 characters of A-Z a-z 0-9 - _ . :"
        )))
    }
}

/// Creates (201) or updates (200) a customer.
async fn put_customer(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<CustomerInput>, JsonRejection>,
) -> Result<(StatusCode, Json<CustomerView>), AdminError> {
    let Json(input) = input?;
    check_id("customer_id", &customer_id)?;
    input.check()?;
    let _writer = state.admin_writes.lock().await;
    let previous = state.registry.customer(&customer_id);
    let telemetry_enabled = input
        .telemetry_enabled
        .or(previous.as_ref().map(|customer| customer.telemetry_enabled))
        .unwrap_or(true);
    let customer = Customer {
        customer_id: customer_id.clone(),
        name: input.name,
        region: input.region,
        contract_tier: input.contract_tier,
        care_end_date: input.care_end_date,
        telemetry_enabled,
        alert_contacts: input.alert_contacts,
        updated_at: ucx_common::now_ms(),
    };
    let status = if previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let was_enabled = previous.is_some_and(|customer| customer.telemetry_enabled);
    let customer = publish_customer(&state, customer, was_enabled).await?;
    Ok((status, Json(customer_view(&state, customer))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetryInput {
    enabled: bool,
}

/// Switches a customer's telemetry on or off; off also requests a purge of its stored data.
async fn set_telemetry(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<TelemetryInput>, JsonRejection>,
) -> Result<Json<CustomerView>, AdminError> {
    let Json(input) = input?;
    let _writer = state.admin_writes.lock().await;
    let previous = state
        .registry
        .customer(&customer_id)
        .ok_or_else(|| AdminError::no_customer(&customer_id))?;
    let was_enabled = previous.telemetry_enabled;
    let customer = Customer {
        telemetry_enabled: input.enabled,
        updated_at: ucx_common::now_ms(),
        ..previous
    };
    let customer = publish_customer(&state, customer, was_enabled).await?;
    Ok(Json(customer_view(&state, customer)))
}

/// Publishes a customer; when this switches telemetry off, a purge request follows it.
async fn publish_customer(
    state: &AppState,
    customer: Customer,
    was_enabled: bool,
) -> Result<Customer, AdminError> {
    publish(state, RegistryRecord::Customer(customer.clone())).await?;
    if was_enabled && !customer.telemetry_enabled {
        let installation_ids = state
            .registry
            .installations_of(&customer.customer_id)
            .into_iter()
            .map(|installation| installation.installation_id)
            .collect();
        let purge = PurgeRequest {
            customer_id: customer.customer_id.clone(),
            installation_ids,
            requested_at: ucx_common::now_ms(),
            reason: "telemetry switched off".into(),
        };
        tracing::info!(customer_id = %customer.customer_id, "telemetry switched off; purge requested");
        publish(state, RegistryRecord::Purge(purge)).await?;
    }
    Ok(customer)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallationInput {
    installation_id: String,
    #[serde(default)]
    licensed_users: Option<i32>,
    #[serde(default)]
    licensed_devices: Option<i32>,
}

/// The call-manager capacity an installation's licences cover (Cloud Licensing).
#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct LicenceInput {
    #[serde(default)]
    licensed_users: Option<i32>,
    #[serde(default)]
    licensed_devices: Option<i32>,
}

impl LicenceInput {
    fn check(self) -> Result<Self, AdminError> {
        for (name, value) in [
            ("licensed_users", self.licensed_users),
            ("licensed_devices", self.licensed_devices),
        ] {
            if value.is_some_and(|count| count <= 0) {
                return Err(AdminError::invalid(format!(
                    "{name} must be a positive count (leave it out when unknown)"
                )));
            }
        }
        Ok(self)
    }
}

/// Registers an installation of a customer and hands out its key, once.
async fn add_installation(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<InstallationInput>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedKeyView>), AdminError> {
    let Json(input) = input?;
    check_id("installation_id", &input.installation_id)?;
    let licence = LicenceInput {
        licensed_users: input.licensed_users,
        licensed_devices: input.licensed_devices,
    }
    .check()?;
    let _writer = state.admin_writes.lock().await;
    if state.registry.customer(&customer_id).is_none() {
        return Err(AdminError::no_customer(&customer_id));
    }
    if let Some(existing) = state.registry.installation(&input.installation_id) {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "installation_exists",
            format!(
                "installation {} is already registered (customer {}); issue a new key with POST /v1/admin/installations/{}/key",
                existing.installation_id, existing.customer_id, existing.installation_id
            ),
        ));
    }
    let issued = issue_key(&state, input.installation_id, customer_id, licence).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Replaces an installation's key (the old one stops working) and re-activates it.
async fn rotate_key(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
) -> Result<Json<IssuedKeyView>, AdminError> {
    let _writer = state.admin_writes.lock().await;
    let existing = state
        .registry
        .installation(&installation_id)
        .ok_or_else(|| AdminError::no_installation(&installation_id))?;
    let licence = LicenceInput {
        licensed_users: existing.licensed_users,
        licensed_devices: existing.licensed_devices,
    };
    Ok(Json(
        issue_key(&state, installation_id, existing.customer_id, licence).await?,
    ))
}

async fn issue_key(
    state: &AppState,
    installation_id: String,
    customer_id: String,
    licence: LicenceInput,
) -> Result<IssuedKeyView, AdminError> {
    let issued = keys::issue();
    let installation = Installation {
        installation_id,
        customer_id,
        key_id: issued.key_id,
        key_sha256: issued.key_sha256,
        status: InstallationStatus::Active,
        updated_at: ucx_common::now_ms(),
        licensed_users: licence.licensed_users,
        licensed_devices: licence.licensed_devices,
    };
    publish(state, RegistryRecord::Installation(installation.clone())).await?;
    tracing::info!(installation_id = %installation.installation_id, key_id = %installation.key_id, "installation key issued");
    Ok(IssuedKeyView {
        installation: installation.into(),
        key: issued.key,
    })
}

/// Revokes an installation: its key stops working as soon as each gateway has read this.
async fn revoke_installation(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
) -> Result<Json<InstallationView>, AdminError> {
    let _writer = state.admin_writes.lock().await;
    let existing = state
        .registry
        .installation(&installation_id)
        .ok_or_else(|| AdminError::no_installation(&installation_id))?;
    let revoked = Installation {
        status: InstallationStatus::Revoked,
        updated_at: ucx_common::now_ms(),
        ..existing
    };
    publish(
        state.as_ref(),
        RegistryRecord::Installation(revoked.clone()),
    )
    .await?;
    tracing::info!(%installation_id, "installation revoked");
    Ok(Json(revoked.into()))
}

/// Sets the call-manager capacity an installation's licences cover (what the licence rules
/// compare the CUCM users and devices with).
async fn set_licence(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
    input: Result<Json<LicenceInput>, JsonRejection>,
) -> Result<Json<InstallationView>, AdminError> {
    let Json(input) = input?;
    let licence = input.check()?;
    let _writer = state.admin_writes.lock().await;
    let existing = state
        .registry
        .installation(&installation_id)
        .ok_or_else(|| AdminError::no_installation(&installation_id))?;
    let updated = Installation {
        licensed_users: licence.licensed_users,
        licensed_devices: licence.licensed_devices,
        updated_at: ucx_common::now_ms(),
        ..existing
    };
    publish(&state, RegistryRecord::Installation(updated.clone())).await?;
    tracing::info!(%installation_id, users = ?updated.licensed_users, devices = ?updated.licensed_devices, "licensed capacity set");
    Ok(Json(updated.into()))
}

/// Produces a registry record and waits until this gateway's view has applied it.
pub(crate) async fn publish(state: &AppState, record: RegistryRecord) -> Result<(), AdminError> {
    if !state.registry.is_loaded() {
        return Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_loading",
            "the gateway is still loading the customer registry; retry shortly",
        ));
    }
    let payload = encode_registry(&record).map_err(|error| {
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("encoding the registry record failed: {error}"),
        )
    })?;
    let acknowledged = state
        .producer
        .produce(
            &state.registry_topic,
            record.key().as_bytes(),
            &payload,
            OwnedHeaders::new(),
        )
        .await
        .map_err(|error| {
            tracing::warn!(%error, "registry record not acknowledged by the broker");
            AdminError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the change could not be stored right now; retry",
            )
        })?;
    if !state
        .registry
        .wait_applied(acknowledged.offset, APPLY_TIMEOUT)
        .await
    {
        tracing::warn!(
            offset = acknowledged.offset,
            "registry change stored but not yet read back"
        );
    }
    Ok(())
}
