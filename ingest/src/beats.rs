//! `POST /v1/beats`: one JSON beat in, one Avro record on the beats topic out.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use rdkafka::message::OwnedHeaders;
use serde::Serialize;
use ucx_common::kafka::header as kafka_header;
use ucx_schemas::{encode_beat, parse_beat, WireError};

use crate::error::IngestError;
use crate::AppState;

#[derive(Serialize)]
struct Accepted {
    beat_id: String,
    status: &'static str,
}

pub async fn post_beat(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, IngestError> {
    let timer = state.metrics.request_duration.start_timer();
    state.metrics.beats_received.inc();
    let outcome = accept_beat(&state, peer, &headers, body).await;
    timer.observe_duration();
    match &outcome {
        Ok((category, _)) => state
            .metrics
            .beats_accepted
            .with_label_values(&[category])
            .inc(),
        Err(error) => {
            state
                .metrics
                .beats_rejected
                .with_label_values(&[error.reason()])
                .inc();
            tracing::debug!(reason = error.reason(), %peer, "beat refused");
        }
    }
    outcome.map(|(_, accepted)| (StatusCode::ACCEPTED, Json(accepted)))
}

async fn accept_beat(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(&'static str, Accepted), IngestError> {
    check_content_type(headers)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => IngestError::BodyTooLarge {
            limit_bytes: state.max_body_bytes,
        },
        _ => IngestError::UnreadableBody(rejection.body_text()),
    })?;
    let received_at = ucx_common::now_ms();
    let parsed = parse_beat(&body, received_at, state.pii_policy).map_err(|error| match error {
        WireError::Malformed { message, .. } => IngestError::Malformed(message),
        WireError::Invalid(violations) => IngestError::Invalid(violations),
        WireError::Personal(findings) => {
            count_pii(state, &findings);
            IngestError::PersonalData(findings.iter().map(|f| f.to_violation()).collect())
        }
    })?;
    count_pii(state, &parsed.pii_findings);
    if !parsed.unknown_fields.is_empty() {
        state
            .metrics
            .unknown_fields
            .inc_by(parsed.unknown_fields.len() as u64);
        tracing::debug!(fields = ?parsed.unknown_fields, "unknown fields ignored");
    }
    let mut beat = parsed.beat;
    // The server's own address is the one network identity the terms allow to be recorded.
    beat.envelope.source_ip = Some(peer.ip().to_string());
    let record = encode_beat(&beat).map_err(|error| IngestError::Internal(error.to_string()))?;
    let category = beat.category().id();
    let record_headers = OwnedHeaders::new().insert(kafka_header("ucx-category", category));
    state
        .producer
        .produce(
            &state.beats_topic,
            beat.envelope.installation_id.as_bytes(),
            &record,
            record_headers,
        )
        .await
    .map_err(|error| {
        tracing::warn!(%error, installation_id = %beat.envelope.installation_id, "beat not acknowledged by the broker");
        IngestError::BrokerUnavailable {
            retry_after_seconds: state.retry_after_seconds,
        }
    })?;
    Ok((
        category,
        Accepted {
            beat_id: beat.envelope.beat_id,
            status: "accepted",
        },
    ))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(()); // curl -d without -H: assume JSON, the only format there is
    };
    let content_type = content_type.to_str().unwrap_or("a non-text value");
    let is_json = content_type
        .split(';')
        .next()
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(IngestError::UnsupportedMediaType(content_type.to_string()))
    }
}

fn count_pii(state: &AppState, findings: &[ucx_schemas::PiiFinding]) {
    for finding in findings {
        state
            .metrics
            .pii_findings
            .with_label_values(&[finding.kind.as_str()])
            .inc();
    }
}
