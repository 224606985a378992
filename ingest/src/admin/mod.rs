//! The admin API (`/v1/admin/…`, its own bearer token): customers, their installations and
//! telemetry opt-out, silences and acknowledgements. It changes nothing locally: every change is
//! a record published to the registry topic, which every stage (this gateway included) follows.
//! An answer comes once this gateway's own view has applied the change, so a key is usable as
//! soon as it is handed out. The requests and answers are `ucx-admin-api`'s types, shared with
//! the typed client.
//!
//! - `customers`, `installations`, `silences` (with acknowledgements), `fleet` (fleet incidents
//!   and fleet-wide silences): the handlers by resource;
//! - here: the routes, the admin token, refusals and publishing to the registry.

mod customers;
mod fleet;
mod installations;
mod silences;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rdkafka::message::OwnedHeaders;
use ucx_admin_api::paths;
use ucx_schemas::validation::is_identifier;
use ucx_schemas::{encode_registry, RegistryRecord};

use crate::error::ErrorBody;
use crate::{auth, keys, AppState};

/// How long an answer waits for this gateway's view to apply the published change.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route(paths::CUSTOMERS, get(customers::list))
        .route(paths::CUSTOMER, get(customers::get).put(customers::put))
        .route(paths::CUSTOMER_TELEMETRY, put(customers::set_telemetry))
        .route(paths::CUSTOMER_ERASE, post(customers::erase))
        .route(paths::CUSTOMER_INSTALLATIONS, post(installations::add))
        .route(paths::INSTALLATION_KEY, post(installations::rotate_key))
        .route(paths::INSTALLATION_REVOKE, post(installations::revoke))
        .route(paths::INSTALLATION_LICENCE, put(installations::set_licence))
        .route(paths::SILENCES, get(silences::list))
        .route(paths::SILENCE, put(silences::put).delete(silences::end))
        .route(paths::ALERT_ACKNOWLEDGE, post(silences::acknowledge))
        .route(paths::FLEET_INCIDENTS, get(fleet::list))
        .route(paths::FLEET_INCIDENT_RELEASE, post(fleet::release))
        .route(paths::FLEET_SILENCES, post(fleet::silence))
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
    let Some(expected) = state.admin_token.as_ref().map(|token| token.expose()) else {
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

pub(crate) fn check_id(kind: &str, id: &str) -> Result<(), AdminError> {
    if is_identifier(id) {
        Ok(())
    } else {
        Err(AdminError::invalid(format!(
            "{kind} {id:?} must be 1 to 128 characters of A-Z a-z 0-9 - _ . :"
        )))
    }
}

/// Produces a registry record and waits until this gateway's view has applied it.
pub(crate) async fn publish(state: &AppState, record: RegistryRecord) -> Result<i64, AdminError> {
    let payload = encode_registry(&record).map_err(|error| {
        AdminError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("encoding the registry record failed: {error}"),
        )
    })?;
    store(state, &record.key(), Some(&payload)).await
}

/// Deletes the registry record of `key` (a tombstone), read back like [`publish`].
pub(crate) async fn publish_tombstone(state: &AppState, key: &str) -> Result<i64, AdminError> {
    store(state, key, None).await
}

/// Stores a registry record (or, without a payload, a tombstone) and waits until this
/// gateway's view has applied it.
async fn store(state: &AppState, key: &str, payload: Option<&[u8]>) -> Result<i64, AdminError> {
    if !state.registry.is_loaded() {
        return Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_loading",
            "the gateway is still loading the customer registry; retry shortly",
        ));
    }
    let stored = match payload {
        Some(payload) => {
            state
                .records
                .produce(
                    &state.registry_topic,
                    key.as_bytes(),
                    payload,
                    OwnedHeaders::new(),
                )
                .await
        }
        None => {
            state
                .records
                .tombstone(&state.registry_topic, key.as_bytes())
                .await
        }
    };
    let acknowledged = stored.map_err(|error| {
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
        // Answering success now would let the caller read the old state back from here.
        return Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_lagging",
            format!(
                "the change was stored (registry offset {}) but this gateway has not read it back within {} s; check that the change shows before relying on it",
                acknowledged.offset,
                APPLY_TIMEOUT.as_secs()
            ),
        ));
    }
    Ok(acknowledged.offset)
}

/// A registry record that admin changes rewrite whole: an installation or a customer.
pub(crate) trait Rewritten: Clone + Sized {
    const KIND: &'static str;
    fn key(id: &str) -> String;
    fn current(state: &AppState, id: &str) -> Option<Self>;
    fn from_record(record: RegistryRecord) -> Option<Self>;
    fn into_record(self) -> RegistryRecord;
}

impl Rewritten for ucx_schemas::Installation {
    const KIND: &'static str = "installation";
    fn key(id: &str) -> String {
        format!("installation:{id}")
    }
    fn current(state: &AppState, id: &str) -> Option<Self> {
        state.registry.installation(id)
    }
    fn from_record(record: RegistryRecord) -> Option<Self> {
        match record {
            RegistryRecord::Installation(installation) => Some(installation),
            _ => None,
        }
    }
    fn into_record(self) -> RegistryRecord {
        RegistryRecord::Installation(self)
    }
}

impl Rewritten for ucx_schemas::Customer {
    const KIND: &'static str = "customer";
    fn key(id: &str) -> String {
        format!("customer:{id}")
    }
    fn current(state: &AppState, id: &str) -> Option<Self> {
        state.registry.customer(id)
    }
    fn from_record(record: RegistryRecord) -> Option<Self> {
        match record {
            RegistryRecord::Customer(customer) => Some(customer),
            _ => None,
        }
    }
    fn into_record(self) -> RegistryRecord {
        RegistryRecord::Customer(self)
    }
}

/// Writes `change` of the newest record of `id` (none if there is none yet), as a
/// compare-and-set on the record's offset: every gateway writes the whole record, so a change
/// built from a view that another gateway's write (say a revocation, or telemetry switched off)
/// had not reached yet would undo that write. After its own record is read back, the writer
/// looks whether another record of the same key landed between its read and its write; if so it
/// writes again, its change applied to that record (the few milliseconds between are the only
/// window). Returns the record the written change was applied to, and the written one.
pub(crate) async fn update<T: Rewritten>(
    state: &AppState,
    id: &str,
    change: impl Fn(Option<T>) -> Result<T, AdminError>,
) -> Result<(Option<T>, T), AdminError> {
    let key = T::key(id);
    let mut version = state.registry.version(&key);
    let mut base = T::current(state, id);
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let updated = change(base.clone())?;
        let written = publish(state, updated.clone().into_record()).await?;
        match state.registry.written_between(&key, version, written) {
            None => return Ok((base, updated)),
            Some((offset, theirs)) => {
                tracing::info!(
                    kind = T::KIND,
                    id,
                    offset,
                    "another gateway changed the record meanwhile; writing again on top of it"
                );
                base = theirs.and_then(T::from_record);
                version = written;
            }
        }
    }
    Err(AdminError::new(
        StatusCode::CONFLICT,
        "registry_contention",
        format!(
            "{} {id} is being changed by others at the same time; retry",
            T::KIND
        ),
    ))
}

/// [`update`] of an installation that must exist.
pub(crate) async fn update_installation(
    state: &AppState,
    installation_id: &str,
    change: impl Fn(ucx_schemas::Installation) -> ucx_schemas::Installation,
) -> Result<ucx_schemas::Installation, AdminError> {
    let (_, updated) = update(state, installation_id, |existing| {
        existing
            .map(&change)
            .ok_or_else(|| AdminError::no_installation(installation_id))
    })
    .await?;
    Ok(updated)
}

/// Writes of one change before giving up on a key others keep changing.
const MAX_WRITE_ATTEMPTS: usize = 5;
