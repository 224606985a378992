//! The admin API's part of the fleet guard: the fleet incidents the notifier raised (a rule
//! opening on a large share of the fleet at once, its customer mail held), released by support
//! when the alerts are real, or silenced fleet-wide (by rule, optionally one UCX Suite version)
//! when they are not. Like every admin change they are registry records, compare-and-set
//! against the notifier's own writes of the same incident.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use ucx_admin_api::{FleetIncidentView, FleetReleaseInput, FleetSilenceInput};
use ucx_schemas::{FleetIncident, FleetIncidentState, RegistryRecord};

use super::silences::{check_why_and_who, silence_end};
use super::{check_id, update, AdminError, Rewritten};
use crate::AppState;

fn view(incident: FleetIncident) -> FleetIncidentView {
    FleetIncidentView::at(incident, ucx_common::now_ms())
}

impl Rewritten for FleetIncident {
    const KIND: &'static str = "fleet incident";
    fn key(id: &str) -> String {
        FleetIncident::key_of(id)
    }
    fn current(state: &AppState, id: &str) -> Option<Self> {
        state.registry.fleet_incident(id)
    }
    fn from_record(record: RegistryRecord) -> Option<Self> {
        match record {
            RegistryRecord::FleetIncident(incident) => Some(incident),
            _ => None,
        }
    }
    fn into_record(self) -> RegistryRecord {
        RegistryRecord::FleetIncident(self)
    }
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<FleetIncidentView>> {
    Json(
        state
            .registry
            .fleet_incidents()
            .into_iter()
            .map(view)
            .collect(),
    )
}

/// Releases a held incident (or ends a fleet-wide silence now): the held customer mail goes out
/// at the notifier's next round.
pub async fn release(
    State(state): State<Arc<AppState>>,
    Path(incident_id): Path<String>,
    input: Result<Json<FleetReleaseInput>, JsonRejection>,
) -> Result<Json<FleetIncidentView>, AdminError> {
    let Json(input) = input?;
    if input.by.trim().is_empty() {
        return Err(AdminError::invalid(
            "by must name who releases the incident",
        ));
    }
    let _writer = state.admin_writes.lock().await;
    let now = ucx_common::now_ms();
    let (_, released) = update(&state, &incident_id, |existing: Option<FleetIncident>| {
        let incident = existing.ok_or_else(|| unknown(&incident_id))?;
        Ok(FleetIncident {
            state: FleetIncidentState::Released,
            decided_by: input.by.clone(),
            comment: input.comment.clone(),
            updated_at: now,
            ..incident
        })
    })
    .await?;
    tracing::info!(incident = %released.incident_id, by = %released.decided_by, "fleet incident released");
    Ok(Json(view(released)))
}

/// Silences a rule fleet-wide (201), or replaces the silence or held incident of that rule and
/// version (200).
pub async fn silence(
    State(state): State<Arc<AppState>>,
    input: Result<Json<FleetSilenceInput>, JsonRejection>,
) -> Result<(StatusCode, Json<FleetIncidentView>), AdminError> {
    let Json(input) = input?;
    check_id("rule_id", &input.rule_id)?;
    if let Some(version) = &input.ucx_version {
        check_id("ucx_version", version)?;
    }
    check_why_and_who(&input.comment, &input.created_by)?;
    let now = ucx_common::now_ms();
    let ends_at = silence_end(now, input.ends_at.as_deref(), input.duration_minutes)?;
    let incident_id = FleetIncident::id_of(&input.rule_id, input.ucx_version.as_deref());
    let _writer = state.admin_writes.lock().await;
    let (before, silenced) = update(&state, &incident_id, |existing: Option<FleetIncident>| {
        // a silence of a held incident keeps what the guard saw; a new one starts empty
        let (installations, fleet_size, opened_at) = match existing {
            Some(incident) if incident.in_force(now) => (
                incident.installations,
                incident.fleet_size,
                incident.opened_at,
            ),
            _ => (Vec::new(), 0, now),
        };
        Ok(FleetIncident {
            incident_id: incident_id.clone(),
            rule_id: input.rule_id.clone(),
            ucx_version: input.ucx_version.clone(),
            state: FleetIncidentState::Silenced,
            installations,
            fleet_size,
            opened_at,
            hold_until: ends_at,
            decided_by: input.created_by.clone(),
            comment: input.comment.clone(),
            updated_at: now,
        })
    })
    .await?;
    tracing::info!(incident = %silenced.incident_id, by = %silenced.decided_by, "fleet-wide silence declared");
    let status = if before.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(silenced))))
}

fn unknown(incident_id: &str) -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "unknown_fleet_incident",
        format!("no fleet incident {incident_id}; GET /v1/admin/fleet-incidents lists them"),
    )
}
