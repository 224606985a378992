//! The typed client of the admin API: one method per route, the gateway's answer as its type.

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use ucx_schemas::{Acknowledgement, Customer};

use crate::paths::{self, with_id};
use crate::types::*;

/// Why a call did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The gateway refused, saying why (`code` for programs, `error` for people).
    #[error("the gateway answered {status}: {} ({})", body.error, body.code)]
    Refused { status: StatusCode, body: ErrorBody },
    /// The gateway could not be reached, or its answer was not what the API promises.
    #[error("calling the gateway at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl AdminError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AdminError::Refused { status, .. } => Some(*status),
            AdminError::Transport { .. } => None,
        }
    }

    /// The refusal's `code` (e.g. `installation_exists`).
    pub fn code(&self) -> Option<&str> {
        match self {
            AdminError::Refused { body, .. } => Some(&body.code),
            AdminError::Transport { .. } => None,
        }
    }
}

/// An answer and whether it created something (201) or changed what existed (200).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    pub created: bool,
    pub value: T,
}

/// A request without a body.
const NO_BODY: Option<&()> = None;

#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    gateway: String,
    token: String,
}

impl AdminClient {
    /// A client of the gateway's admin listener at `gateway` (e.g. `http://127.0.0.1:8090`) with the admin
    /// token (`ingest.admin_token`).
    pub fn new(gateway: &str, token: &str) -> Self {
        Self::with_http(reqwest::Client::new(), gateway, token)
    }

    /// [`AdminClient::new`] on an HTTP client of the caller's (timeouts, TLS settings).
    pub fn with_http(http: reqwest::Client, gateway: &str, token: &str) -> Self {
        AdminClient {
            http,
            gateway: gateway.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    pub async fn customers(&self) -> Result<Vec<Customer>, AdminError> {
        self.value(Method::GET, paths::CUSTOMERS.into(), NO_BODY)
            .await
    }

    pub async fn customer(&self, customer_id: &str) -> Result<CustomerView, AdminError> {
        let path = with_id(paths::CUSTOMER, customer_id);
        self.value(Method::GET, path, NO_BODY).await
    }

    /// Creates or updates a customer.
    pub async fn put_customer(
        &self,
        customer_id: &str,
        input: &CustomerInput,
    ) -> Result<Stored<CustomerView>, AdminError> {
        self.call(
            Method::PUT,
            with_id(paths::CUSTOMER, customer_id),
            Some(input),
        )
        .await
    }

    /// Switches a customer's telemetry on or off (off also requests a purge).
    pub async fn set_telemetry(
        &self,
        customer_id: &str,
        enabled: bool,
    ) -> Result<CustomerView, AdminError> {
        let input = TelemetryInput {
            enabled,
            ..TelemetryInput::default()
        };
        self.switch_telemetry(customer_id, &input).await
    }

    /// Switches telemetry, saying who asks and why (kept with the purge a switch-off makes).
    pub async fn switch_telemetry(
        &self,
        customer_id: &str,
        input: &TelemetryInput,
    ) -> Result<CustomerView, AdminError> {
        self.value(
            Method::PUT,
            with_id(paths::CUSTOMER_TELEMETRY, customer_id),
            Some(input),
        )
        .await
    }

    /// Erases a customer: telemetry off and a purge of its stored data, then its registry
    /// records (contacts, installations and their keys, silences) deleted.
    pub async fn erase_customer(
        &self,
        customer_id: &str,
        input: &ErasureInput,
    ) -> Result<ErasureView, AdminError> {
        self.value(
            Method::POST,
            with_id(paths::CUSTOMER_ERASE, customer_id),
            Some(input),
        )
        .await
    }

    /// Registers an installation of a customer; its key is in the answer, this once.
    pub async fn add_installation(
        &self,
        customer_id: &str,
        input: &InstallationInput,
    ) -> Result<IssuedKeyView, AdminError> {
        self.value(
            Method::POST,
            with_id(paths::CUSTOMER_INSTALLATIONS, customer_id),
            Some(input),
        )
        .await
    }

    /// Issues a new key for an installation; the old one stops working.
    pub async fn rotate_key(&self, installation_id: &str) -> Result<IssuedKeyView, AdminError> {
        let path = with_id(paths::INSTALLATION_KEY, installation_id);
        self.value(Method::POST, path, NO_BODY).await
    }

    /// Registers the installation under `customer_id`, or issues it a new key if it exists:
    /// a working key either way.
    pub async fn key_for(
        &self,
        customer_id: &str,
        installation_id: &str,
    ) -> Result<IssuedKeyView, AdminError> {
        let input = InstallationInput {
            installation_id: installation_id.to_string(),
            licensed_users: None,
            licensed_devices: None,
        };
        match self.add_installation(customer_id, &input).await {
            Err(error) if error.status() == Some(StatusCode::CONFLICT) => {
                self.rotate_key(installation_id).await
            }
            other => other,
        }
    }

    pub async fn revoke(&self, installation_id: &str) -> Result<InstallationView, AdminError> {
        let path = with_id(paths::INSTALLATION_REVOKE, installation_id);
        self.value(Method::POST, path, NO_BODY).await
    }

    pub async fn set_licence(
        &self,
        installation_id: &str,
        input: &LicenceInput,
    ) -> Result<InstallationView, AdminError> {
        self.value(
            Method::PUT,
            with_id(paths::INSTALLATION_LICENCE, installation_id),
            Some(input),
        )
        .await
    }

    /// Every silence and maintenance window, ended ones too.
    pub async fn silences(&self) -> Result<Vec<SilenceView>, AdminError> {
        self.value(Method::GET, paths::SILENCES.into(), NO_BODY)
            .await
    }

    /// Declares or replaces a silence or maintenance window.
    pub async fn put_silence(
        &self,
        silence_id: &str,
        input: &SilenceInput,
    ) -> Result<Stored<SilenceView>, AdminError> {
        self.call(
            Method::PUT,
            with_id(paths::SILENCE, silence_id),
            Some(input),
        )
        .await
    }

    /// Ends a silence now.
    pub async fn end_silence(&self, silence_id: &str) -> Result<SilenceView, AdminError> {
        let path = with_id(paths::SILENCE, silence_id);
        self.value(Method::DELETE, path, NO_BODY).await
    }

    /// Acknowledges an open alert: no more reminders.
    pub async fn acknowledge(
        &self,
        alert_id: &str,
        input: &AcknowledgementInput,
    ) -> Result<Acknowledgement, AdminError> {
        self.value(
            Method::POST,
            with_id(paths::ALERT_ACKNOWLEDGE, alert_id),
            Some(input),
        )
        .await
    }

    /// Every fleet incident and fleet-wide silence, newest first.
    pub async fn fleet_incidents(&self) -> Result<Vec<FleetIncidentView>, AdminError> {
        self.value(Method::GET, paths::FLEET_INCIDENTS.into(), NO_BODY)
            .await
    }

    /// Releases a held fleet incident (or ends a fleet-wide silence): the held mail goes out.
    pub async fn release_fleet_incident(
        &self,
        incident_id: &str,
        input: &FleetReleaseInput,
    ) -> Result<FleetIncidentView, AdminError> {
        self.value(
            Method::POST,
            with_id(paths::FLEET_INCIDENT_RELEASE, incident_id),
            Some(input),
        )
        .await
    }

    /// Silences a rule (on one version, or every version) fleet-wide for a while.
    pub async fn fleet_silence(
        &self,
        input: &FleetSilenceInput,
    ) -> Result<Stored<FleetIncidentView>, AdminError> {
        self.call(Method::POST, paths::FLEET_SILENCES.into(), Some(input))
            .await
    }

    async fn value<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&impl Serialize>,
    ) -> Result<T, AdminError> {
        self.call(method, path, body)
            .await
            .map(|stored| stored.value)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&impl Serialize>,
    ) -> Result<Stored<T>, AdminError> {
        let url = format!("{}{path}", self.gateway);
        let transport = |source| AdminError::Transport {
            url: url.clone(),
            source,
        };
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.map_err(transport)?;
            let body = serde_json::from_str(&text).unwrap_or(ErrorBody {
                code: "unexpected_answer".into(),
                error: text,
            });
            return Err(AdminError::Refused { status, body });
        }
        let value = response.json().await.map_err(transport)?;
        Ok(Stored {
            created: status == StatusCode::CREATED,
            value,
        })
    }
}
