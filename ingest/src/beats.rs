//! `POST /v1/beats`: one JSON beat, or a JSON array of beats, in; one Avro record per accepted
//! beat on the beats topic out. The request carries an installation's key; the customer must
//! have telemetry switched on, and every beat must be of that installation. A single beat is answered 202 once the broker acknowledged it.
//! A batch is answered with one result per beat (in order): 202 when every beat was accepted,
//! 503 with `Retry-After` when any could not be stored for now (retrying the whole batch is safe:
//! beat ids make copies invisible downstream), 207 when some beats were refused for their
//! content, 422 when all were (nothing stored is never a success); an empty batch is a 400.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use futures::future::join_all;
use rdkafka::message::OwnedHeaders;
use serde::Serialize;
use serde_json::value::RawValue;
use ucx_common::kafka::header as kafka_header;
use ucx_schemas::{encode_beat, parse_beat, Violation, WireError};

use crate::auth::Sender;
use crate::error::{set_retry_after, IngestError};
use crate::rate_limit::retry_after_seconds;
use crate::AppState;

#[derive(Serialize)]
struct Accepted {
    beat_id: String,
    status: &'static str,
}

/// The result of one beat of a batch.
#[derive(Serialize)]
struct BeatResult<'a> {
    index: usize,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    beat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    violations: &'a [Violation],
}

#[derive(Serialize)]
struct BatchAnswer<'a> {
    accepted: usize,
    refused: usize,
    results: Vec<BeatResult<'a>>,
}

pub async fn post_beats(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(sender): Extension<Arc<Sender>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let timer = state.metrics.request_duration.start_timer();
    let (response, outcome) = match handle(&state, peer, &sender, &headers, body).await {
        Ok(answered) => answered,
        Err(error) => {
            count_refusal(&state, &error);
            let outcome = error.reason();
            (error.into_response(), outcome)
        }
    };
    state.metrics.requests.with_label_values(&[outcome]).inc();
    timer.observe_duration();
    response
}

/// Refuses a whole request before its body was read, counted like any refusal.
pub fn refuse(state: &AppState, error: IngestError) -> Response {
    count_refusal(state, &error);
    state
        .metrics
        .requests
        .with_label_values(&[error.reason()])
        .inc();
    error.into_response()
}

/// What every beat of one request shares.
struct Origin<'a> {
    sender: &'a Sender,
    /// The server's address (behind trusted proxies, the address they forwarded for), as
    /// every beat of the request records it.
    source_ip: String,
}

/// Answers an authenticated request and names its outcome. `Err` is a refusal of the whole
/// request before any beat was looked at (not yet counted); refusals of single beats are counted
/// where they happen.
async fn handle(
    state: &AppState,
    peer: SocketAddr,
    sender: &Sender,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Response, &'static str), IngestError> {
    let body = read_body(state, headers, body).await?;
    let origin = Origin {
        sender,
        source_ip: state
            .trusted_proxies
            .client_ip(peer.ip(), headers)
            .to_string(),
    };
    if is_batch(&body) {
        let beats: Vec<&RawValue> = serde_json::from_slice(&body)
            .map_err(|error| IngestError::Malformed(format!("invalid JSON batch: {error}")))?;
        // An empty batch costs like one beat, so a flood of them is limited too.
        check_rate(state, sender, beats.len().max(1))?;
        if beats.is_empty() {
            return Err(IngestError::Malformed(
                "an empty batch ([]): send at least one beat, or send nothing".into(),
            ));
        }
        if beats.len() > state.max_batch_beats {
            return Err(IngestError::BatchTooLong {
                limit: state.max_batch_beats,
                found: beats.len(),
            });
        }
        return Ok(post_batch(state, &origin, &beats).await);
    }
    check_rate(state, sender, 1)?;
    Ok(match accept_one(state, &origin, &body).await {
        Ok(beat_id) => (
            (
                StatusCode::ACCEPTED,
                Json(Accepted {
                    beat_id,
                    status: "accepted",
                }),
            )
                .into_response(),
            "accepted",
        ),
        Err(error) => {
            let outcome = error.reason();
            (error.into_response(), outcome)
        }
    })
}

fn check_rate(state: &AppState, sender: &Sender, beats: usize) -> Result<(), IngestError> {
    state
        .rate_limit
        .check(&sender.installation.installation_id, beats)
        .map_err(|wait| IngestError::RateLimited {
            retry_after_seconds: retry_after_seconds(wait),
        })
}

/// The whole body, decompressed, at most `max_body_bytes`, within `body_timeout_s`.
async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, IngestError> {
    check_content_type(headers)?;
    // The decompression layer removed the header of every encoding it decoded.
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("(not text)");
        if !encoding.trim().eq_ignore_ascii_case("identity") {
            return Err(IngestError::UnsupportedEncoding(encoding.to_string()));
        }
    }
    let reading = axum::body::to_bytes(body, state.max_body_bytes);
    let bytes = tokio::time::timeout(state.body_timeout, reading)
        .await
        .map_err(|_| IngestError::BodyTimeout {
            seconds: state.body_timeout.as_secs(),
        })?
        .map_err(|error| {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                IngestError::BodyTooLarge {
                    limit_bytes: state.max_body_bytes,
                }
            } else {
                IngestError::UnreadableBody(error.to_string())
            }
        })?;
    state.metrics.body_bytes.inc_by(bytes.len() as u64);
    Ok(bytes)
}

fn is_batch(body: &[u8]) -> bool {
    body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[')
}

async fn post_batch(
    state: &AppState,
    origin: &Origin<'_>,
    beats: &[&RawValue],
) -> (Response, &'static str) {
    let outcomes = join_all(
        beats
            .iter()
            .map(|beat| accept_one(state, origin, beat.get().as_bytes())),
    )
    .await;
    let broker_unavailable = outcomes
        .iter()
        .any(|outcome| matches!(outcome, Err(IngestError::BrokerUnavailable { .. })));
    let results: Vec<BeatResult> = outcomes
        .iter()
        .enumerate()
        .map(|(index, outcome)| match outcome {
            Ok(beat_id) => BeatResult {
                index,
                status: StatusCode::ACCEPTED.as_u16(),
                beat_id: Some(beat_id.clone()),
                code: None,
                error: None,
                violations: &[],
            },
            Err(error) => {
                let (status, message, violations) = error.parts();
                BeatResult {
                    index,
                    status: status.as_u16(),
                    beat_id: None,
                    code: Some(error.reason()),
                    error: Some(message),
                    violations,
                }
            }
        })
        .collect();
    let accepted = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let answer = Json(BatchAnswer {
        accepted,
        refused: outcomes.len() - accepted,
        results,
    });
    if broker_unavailable {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, answer).into_response();
        set_retry_after(&mut response, u64::from(state.retry_after_seconds));
        (response, "broker_unavailable")
    } else if accepted == outcomes.len() {
        ((StatusCode::ACCEPTED, answer).into_response(), "accepted")
    } else if accepted == 0 {
        // nothing stored: never a success code
        (
            (StatusCode::UNPROCESSABLE_ENTITY, answer).into_response(),
            "refused",
        )
    } else {
        (
            (StatusCode::MULTI_STATUS, answer).into_response(),
            "partially_accepted",
        )
    }
}

/// Parses, checks and produces one beat; counts the outcome.
async fn accept_one(
    state: &AppState,
    origin: &Origin<'_>,
    body: &[u8],
) -> Result<String, IngestError> {
    state.metrics.beats_received.inc();
    let outcome = store_beat(state, origin, body).await;
    match &outcome {
        Ok((category, _)) => state
            .metrics
            .beats_accepted
            .with_label_values(&[category])
            .inc(),
        Err(error) => count_refusal(state, error),
    }
    outcome.map(|(_, beat_id)| beat_id)
}

fn count_refusal(state: &AppState, error: &IngestError) {
    state
        .metrics
        .beats_rejected
        .with_label_values(&[error.reason()])
        .inc();
    tracing::debug!(reason = error.reason(), "beat refused");
}

async fn store_beat(
    state: &AppState,
    origin: &Origin<'_>,
    body: &[u8],
) -> Result<(&'static str, String), IngestError> {
    let received_at = ucx_common::now_ms();
    let parsed = parse_beat(body, received_at, state.pii_policy).map_err(|error| match error {
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
    let content_hash = parsed.content_hash;
    let mut beat = parsed.beat;
    // Residency follows the registry: the customer's region, whatever the beat claims.
    beat.envelope.region = origin.sender.customer.region;
    let own_installation = &origin.sender.installation.installation_id;
    if &beat.envelope.installation_id != own_installation {
        return Err(IngestError::WrongInstallation {
            key_for: own_installation.clone(),
            beat_for: beat.envelope.installation_id,
        });
    }
    let remembered = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (own_installation, &beat.envelope.beat_id).hash(&mut hasher);
        hasher.finish()
    };
    if let Some(recent) = &state.recent_beats {
        if let Some(&accepted) = recent.lock().unwrap().get(&remembered) {
            if accepted != content_hash {
                return Err(IngestError::BeatIdConflict {
                    beat_id: beat.envelope.beat_id,
                });
            }
        }
    }
    // The server's own address is the one network identity the terms allow to be recorded.
    beat.envelope.source_ip = Some(origin.source_ip.clone());
    let record = encode_beat(&beat).map_err(|error| IngestError::Internal(error.to_string()))?;
    let category = beat.category().id();
    let record_headers = OwnedHeaders::new().insert(kafka_header("ucx-category", category));
    state
        .records
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
    if let Some(recent) = &state.recent_beats {
        recent.lock().unwrap().insert(remembered, content_hash);
    }
    Ok((category, beat.envelope.beat_id))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), IngestError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Err(IngestError::UnsupportedMediaType("no Content-Type".into()));
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
