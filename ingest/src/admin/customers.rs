//! Customers: list, show, create or update, and the telemetry switch (off requests a purge).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ucx_admin_api::{
    CustomerInput, CustomerView, ErasureInput, ErasureView, InstallationView, TelemetryInput,
};
use ucx_schemas::{Customer, PurgeRequest, RegistryRecord};

use super::{check_id, publish, publish_tombstone, update, AdminError};
use crate::AppState;

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<Customer>> {
    Json(state.registry.customers())
}

pub async fn get(
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

fn check(input: &CustomerInput) -> Result<(), AdminError> {
    if input.name.trim().is_empty() {
        return Err(AdminError::invalid("name must not be empty"));
    }
    if let Some(date) = &input.care_end_date {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(date, &format).map_err(|_| {
            AdminError::invalid(format!("care_end_date {date:?} is not a YYYY-MM-DD date"))
        })?;
    }
    for contact in &input.alert_contacts {
        contact.email.parse::<lettre::Address>().map_err(|error| {
            AdminError::invalid(format!(
                "alert contact {:?} is not an e-mail address: {error}",
                contact.email
            ))
        })?;
    }
    Ok(())
}

/// Creates (201) or updates (200) a customer.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<CustomerInput>, JsonRejection>,
) -> Result<(StatusCode, Json<CustomerView>), AdminError> {
    let Json(input) = input?;
    check_id("customer_id", &customer_id)?;
    check(&input)?;
    let _writer = state.admin_writes.lock().await;
    let (previous, customer) = update(&state, &customer_id, |previous: Option<Customer>| {
        Ok(Customer {
            customer_id: customer_id.clone(),
            name: input.name.clone(),
            region: input.region,
            contract_tier: input.contract_tier,
            care_end_date: input.care_end_date.clone(),
            telemetry_enabled: input
                .telemetry_enabled
                .or(previous.map(|customer| customer.telemetry_enabled))
                .unwrap_or(true),
            alert_contacts: input.alert_contacts.clone(),
            updated_at: ucx_common::now_ms(),
        })
    })
    .await?;
    let status = if previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    // off now: a purge unless telemetry was off already and its purge is on record
    let was_enabled = previous.is_some_and(|customer| customer.telemetry_enabled);
    let purge_on_record = state
        .registry
        .purges()
        .iter()
        .any(|purge| purge.customer_id == customer.customer_id);
    let reason = "telemetry switched off in the customer record (PUT)";
    purge_if_switched_off(&state, &customer, was_enabled || !purge_on_record, reason).await?;
    Ok((status, Json(customer_view(&state, customer))))
}

/// Switches a customer's telemetry on or off; off also requests a purge of its stored data.
pub async fn set_telemetry(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<TelemetryInput>, JsonRejection>,
) -> Result<Json<CustomerView>, AdminError> {
    let Json(input) = input?;
    let _writer = state.admin_writes.lock().await;
    let (_, customer) = update(&state, &customer_id, |previous: Option<Customer>| {
        let previous = previous.ok_or_else(|| AdminError::no_customer(&customer_id))?;
        Ok(Customer {
            telemetry_enabled: input.enabled,
            updated_at: ucx_common::now_ms(),
            ..previous
        })
    })
    .await?;
    // Every switch-off requests the purge, not only the first: a retried request whose first
    // try stored the switch but not the purge (an error, a crash between the two) gets it now.
    // A purge deletes what was received up to its request, so asking twice is harmless.
    let reason = format!(
        "telemetry switched off by {}{}",
        input.by.as_deref().unwrap_or("an unnamed admin API caller"),
        input
            .reason
            .as_deref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    );
    purge_if_switched_off(&state, &customer, true, &reason).await?;
    Ok(Json(customer_view(&state, customer)))
}

/// Erases a customer: telemetry off and the purge of its stored data requested (as a
/// switch-off does, saying who asked and why), then its registry records deleted: its
/// installations (their keys stop working), its silences, and the customer itself with its
/// contacts. The purge request stays: it is what the sinks and the processors erase by.
pub async fn erase(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<ErasureInput>, JsonRejection>,
) -> Result<Json<ErasureView>, AdminError> {
    let Json(input) = input?;
    if input.by.trim().is_empty() || input.reason.trim().is_empty() {
        return Err(AdminError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "say who asks for the erasure (by) and why (reason): both are kept with the purge request",
        ));
    }
    let _writer = state.admin_writes.lock().await;
    let (_, customer) = update(&state, &customer_id, |previous: Option<Customer>| {
        let previous = previous.ok_or_else(|| AdminError::no_customer(&customer_id))?;
        Ok(Customer {
            telemetry_enabled: false,
            updated_at: ucx_common::now_ms(),
            ..previous
        })
    })
    .await?;
    let reason = format!(
        "erasure asked by {}: {}",
        input.by.trim(),
        input.reason.trim()
    );
    purge_if_switched_off(&state, &customer, true, &reason).await?;
    let installation_ids: Vec<String> = state
        .registry
        .installations_of(&customer_id)
        .into_iter()
        .map(|installation| installation.installation_id)
        .collect();
    let mut keys: Vec<String> = installation_ids
        .iter()
        .map(|id| format!("installation:{id}"))
        .collect();
    keys.extend(
        state
            .registry
            .silences_of(&customer_id)
            .into_iter()
            .map(|silence| RegistryRecord::Silence(silence).key()),
    );
    keys.push(format!("customer:{customer_id}"));
    for key in &keys {
        publish_tombstone(&state, key).await?;
    }
    tracing::info!(%customer_id, installations = installation_ids.len(), "customer erased");
    Ok(Json(ErasureView {
        customer_id,
        installation_ids,
        registry_records_deleted: keys.len(),
    }))
}

/// When telemetry is off after a change that `switched` it off, a purge request follows.
async fn purge_if_switched_off(
    state: &AppState,
    customer: &Customer,
    switched: bool,
    reason: &str,
) -> Result<(), AdminError> {
    if switched && !customer.telemetry_enabled {
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
            reason: reason.to_string(),
        };
        tracing::info!(customer_id = %customer.customer_id, "telemetry switched off; purge requested");
        publish(state, RegistryRecord::Purge(purge)).await?;
    }
    Ok(())
}
