//! The admin API's part of the alert lifecycle: silences and maintenance windows (per customer,
//! optionally one installation and one rule, for a bounded time) and acknowledgements of open
//! alerts. Like every admin change they are registry records; the processors follow the registry
//! and apply them to the alerts they raise.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use ucx_admin_api::{AcknowledgementInput, SilenceInput, SilenceKindInput, SilenceView};
use ucx_schemas::{Acknowledgement, RegistryRecord, Silence, SilenceKind};

use super::{check_id, publish, AdminError};
use crate::AppState;

/// A forgotten silence must not mute a customer for ever.
const LONGEST_SILENCE_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;

/// A silence as the API shows it, judged now.
fn view(silence: Silence) -> SilenceView {
    SilenceView::at(silence, ucx_common::now_ms())
}

fn instant(field: &str, text: &str) -> Result<i64, AdminError> {
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        AdminError::invalid(format!(
            "{field} {text:?} is not an RFC 3339 time such as 2026-11-24T22:00:00Z"
        ))
    })?;
    Ok((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A silence must say why and who: the next engineer reads them.
pub(super) fn check_why_and_who(comment: &str, created_by: &str) -> Result<(), AdminError> {
    if comment.trim().is_empty() || created_by.trim().is_empty() {
        return Err(AdminError::invalid(
            "comment and created_by must say why and who: the next engineer reads them",
        ));
    }
    Ok(())
}

/// When a silence starting at `starts_at` ends: `ends_at` (RFC 3339) or `duration_minutes`
/// later, after its start and at most [`LONGEST_SILENCE_DAYS`] on.
pub(super) fn silence_end(
    starts_at: i64,
    ends_at: Option<&str>,
    duration_minutes: Option<u32>,
) -> Result<i64, AdminError> {
    let ends_at = match (ends_at, duration_minutes) {
        (Some(text), None) => instant("ends_at", text)?,
        (None, Some(minutes)) => starts_at + i64::from(minutes) * 60_000,
        _ => {
            return Err(AdminError::invalid(
                "give either ends_at (RFC 3339) or duration_minutes",
            ))
        }
    };
    if ends_at <= starts_at {
        return Err(AdminError::invalid(
            "ends_at must be after the start (starts_at, or now)",
        ));
    }
    if ends_at - starts_at > LONGEST_SILENCE_DAYS * DAY_MS {
        return Err(AdminError::invalid(format!(
            "a silence lasts at most {LONGEST_SILENCE_DAYS} days; declare a new one when it ends"
        )));
    }
    Ok(ends_at)
}

/// The silence `input` declares, checked against the registry.
fn into_silence(
    input: SilenceInput,
    state: &AppState,
    silence_id: String,
) -> Result<Silence, AdminError> {
    if state.registry.customer(&input.customer_id).is_none() {
        return Err(AdminError::no_customer(&input.customer_id));
    }
    if let Some(installation_id) = &input.installation_id {
        match state.registry.installation(installation_id) {
            Some(installation) if installation.customer_id == input.customer_id => {}
            Some(installation) => {
                return Err(AdminError::invalid(format!(
                    "installation {installation_id} belongs to customer {}, not {}",
                    installation.customer_id, input.customer_id
                )))
            }
            None => return Err(AdminError::no_installation(installation_id)),
        }
    }
    if let Some(rule_id) = &input.rule_id {
        check_id("rule_id", rule_id)?;
    }
    check_why_and_who(&input.comment, &input.created_by)?;
    let now = ucx_common::now_ms();
    let starts_at = match &input.starts_at {
        Some(text) => instant("starts_at", text)?,
        None => now,
    };
    let ends_at = silence_end(starts_at, input.ends_at.as_deref(), input.duration_minutes)?;
    Ok(Silence {
        silence_id,
        kind: match input.kind.unwrap_or(SilenceKindInput::Silence) {
            SilenceKindInput::Silence => SilenceKind::Silence,
            SilenceKindInput::Maintenance => SilenceKind::Maintenance,
        },
        customer_id: input.customer_id,
        installation_id: input.installation_id,
        rule_id: input.rule_id,
        starts_at,
        ends_at,
        comment: input.comment,
        created_by: input.created_by,
        created_at: now,
    })
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<SilenceView>> {
    Json(state.registry.silences().into_iter().map(view).collect())
}

/// Declares (201) or replaces (200) a silence or maintenance window.
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(silence_id): Path<String>,
    input: Result<Json<SilenceInput>, JsonRejection>,
) -> Result<(StatusCode, Json<SilenceView>), AdminError> {
    let Json(input) = input?;
    check_id("silence_id", &silence_id)?;
    let _writer = state.admin_writes.lock().await;
    let existed = state
        .registry
        .silences()
        .iter()
        .any(|silence| silence.silence_id == silence_id);
    let silence = into_silence(input, &state, silence_id)?;
    publish(&state, RegistryRecord::Silence(silence.clone())).await?;
    tracing::info!(silence = %silence.reference(), customer_id = %silence.customer_id, "silence declared");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(view(silence))))
}

/// Ends a silence now; the record stays, for the history.
pub async fn end(
    State(state): State<Arc<AppState>>,
    Path(silence_id): Path<String>,
) -> Result<Json<SilenceView>, AdminError> {
    let _writer = state.admin_writes.lock().await;
    let silence = state
        .registry
        .silences()
        .into_iter()
        .find(|silence| silence.silence_id == silence_id)
        .ok_or_else(|| {
            AdminError::new(
                StatusCode::NOT_FOUND,
                "unknown_silence",
                format!("no silence {silence_id}"),
            )
        })?;
    let now = ucx_common::now_ms();
    let ended = Silence {
        ends_at: silence.ends_at.min(now).max(silence.starts_at),
        ..silence
    };
    publish(&state, RegistryRecord::Silence(ended.clone())).await?;
    tracing::info!(silence = %ended.reference(), "silence ended");
    Ok(Json(view(ended)))
}

/// Acknowledges an alert: no more reminders; it still resolves when the condition clears. The
/// processor holding the alert records an `ACKNOWLEDGED` state change in the alerts topic.
pub async fn acknowledge(
    State(state): State<Arc<AppState>>,
    Path(alert_id): Path<String>,
    input: Result<Json<AcknowledgementInput>, JsonRejection>,
) -> Result<Json<Acknowledgement>, AdminError> {
    let Json(input) = input?;
    uuid::Uuid::parse_str(&alert_id).map_err(|_| {
        AdminError::invalid(format!(
            "alert id {alert_id:?} is not an alert id (a UUID, as in the alerts table)"
        ))
    })?;
    if input.by.trim().is_empty() {
        return Err(AdminError::invalid("by must name who takes the alert on"));
    }
    let _writer = state.admin_writes.lock().await;
    let ack = Acknowledgement {
        alert_id,
        acknowledged_by: input.by,
        comment: input.comment,
        acknowledged_at: ucx_common::now_ms(),
    };
    publish(&state, RegistryRecord::Acknowledgement(ack.clone())).await?;
    tracing::info!(alert_id = %ack.alert_id, by = %ack.acknowledged_by, "alert acknowledged");
    Ok(Json(ack))
}
