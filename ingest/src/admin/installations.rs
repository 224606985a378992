//! Installations: register one (its key handed out once), issue a new key, revoke, and the
//! call-manager capacity its licences cover.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ucx_admin_api::{paths, InstallationInput, InstallationView, IssuedKeyView, LicenceInput};
use ucx_schemas::{Installation, InstallationStatus, RegistryRecord};

use super::{check_id, publish, update_installation, AdminError};
use crate::{keys, AppState};

/// Counts that are given must be positive.
fn check_licence(licence: LicenceInput) -> Result<LicenceInput, AdminError> {
    for (name, value) in [
        ("licensed_users", licence.licensed_users),
        ("licensed_devices", licence.licensed_devices),
    ] {
        if value.is_some_and(|count| count <= 0) {
            return Err(AdminError::invalid(format!(
                "{name} must be a positive count (leave it out when unknown)"
            )));
        }
    }
    Ok(licence)
}

/// Registers an installation of a customer and hands out its key, once.
pub async fn add(
    State(state): State<Arc<AppState>>,
    Path(customer_id): Path<String>,
    input: Result<Json<InstallationInput>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedKeyView>), AdminError> {
    let Json(input) = input?;
    check_id("installation_id", &input.installation_id)?;
    let licence = check_licence(LicenceInput {
        licensed_users: input.licensed_users,
        licensed_devices: input.licensed_devices,
    })?;
    let _writer = state.admin_writes.lock().await;
    if state.registry.customer(&customer_id).is_none() {
        return Err(AdminError::no_customer(&customer_id));
    }
    if let Some(existing) = state.registry.installation(&input.installation_id) {
        return Err(AdminError::new(
            StatusCode::CONFLICT,
            "installation_exists",
            format!(
                "installation {} is already registered (customer {}); issue a new key with POST {}",
                existing.installation_id,
                existing.customer_id,
                paths::with_id(paths::INSTALLATION_KEY, &existing.installation_id)
            ),
        ));
    }
    let issued = issue_key(&state, input.installation_id, customer_id, licence).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Replaces an installation's key (the old one stops working) and re-activates it.
pub async fn rotate_key(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
) -> Result<Json<IssuedKeyView>, AdminError> {
    let _writer = state.admin_writes.lock().await;
    let issued = keys::issue();
    let installation = update_installation(&state, &installation_id, |existing| Installation {
        key_id: issued.key_id.clone(),
        key_sha256: issued.key_sha256.clone(),
        status: InstallationStatus::Active,
        updated_at: ucx_common::now_ms(),
        ..existing
    })
    .await?;
    tracing::info!(%installation_id, key_id = %installation.key_id, "installation key issued");
    Ok(Json(IssuedKeyView {
        installation: installation.into(),
        key: issued.key,
    }))
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
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
) -> Result<Json<InstallationView>, AdminError> {
    let _writer = state.admin_writes.lock().await;
    let revoked = update_installation(&state, &installation_id, |existing| Installation {
        status: InstallationStatus::Revoked,
        updated_at: ucx_common::now_ms(),
        ..existing
    })
    .await?;
    tracing::info!(%installation_id, "installation revoked");
    Ok(Json(revoked.into()))
}

/// Sets the call-manager capacity an installation's licences cover (what the licence rules
/// compare the CUCM users and devices with).
pub async fn set_licence(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
    input: Result<Json<LicenceInput>, JsonRejection>,
) -> Result<Json<InstallationView>, AdminError> {
    let Json(input) = input?;
    let licence = check_licence(input)?;
    let _writer = state.admin_writes.lock().await;
    let updated = update_installation(&state, &installation_id, |existing| Installation {
        licensed_users: licence.licensed_users,
        licensed_devices: licence.licensed_devices,
        updated_at: ucx_common::now_ms(),
        ..existing
    })
    .await?;
    tracing::info!(%installation_id, users = ?updated.licensed_users, devices = ?updated.licensed_devices, "licensed capacity set");
    Ok(Json(updated.into()))
}
