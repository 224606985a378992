//! Every way a request can fail, each with its status and a JSON body that says what to fix.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use ucx_schemas::Violation;

#[derive(Debug)]
pub enum IngestError {
    UnsupportedMediaType(String),
    BodyTooLarge { limit_bytes: usize },
    BatchTooLong { limit: usize, found: usize },
    UnreadableBody(String),
    Malformed(String),
    Invalid(Vec<Violation>),
    PersonalData(Vec<Violation>),
    BrokerUnavailable { retry_after_seconds: u32 },
    Internal(String),
}

impl IngestError {
    /// The `reason` label of `ingest_beats_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::BatchTooLong { .. } => "batch_too_long",
            IngestError::UnreadableBody(_) => "unreadable_body",
            IngestError::Malformed(_) => "malformed",
            IngestError::Invalid(_) => "invalid",
            IngestError::PersonalData(_) => "personal_data",
            IngestError::BrokerUnavailable { .. } => "broker_unavailable",
            IngestError::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    violations: &'a [Violation],
}

impl IngestError {
    /// The status, message and violations this error answers with.
    pub fn parts(&self) -> (StatusCode, String, &[Violation]) {
        match self {
            IngestError::UnsupportedMediaType(found) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected Content-Type application/json, found {found}"),
                &[],
            ),
            IngestError::BodyTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit_bytes} bytes"),
                &[],
            ),
            IngestError::BatchTooLong { limit, found } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a batch holds at most {limit} beats, this one {found}"),
                &[],
            ),
            IngestError::UnreadableBody(reason) => (
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {reason}"),
                &[],
            ),
            IngestError::Malformed(message) => (StatusCode::BAD_REQUEST, message.clone(), &[]),
            IngestError::Invalid(violations) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the beat has {} invalid field(s)", violations.len()),
                violations.as_slice(),
            ),
            IngestError::PersonalData(violations) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "the beat carries personal data, which the terms forbid sending; remove it at the source"
                    .to_string(),
                violations.as_slice(),
            ),
            IngestError::BrokerUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the beat could not be stored right now; retry the same beat later".to_string(),
                &[],
            ),
            IngestError::Internal(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {message}"),
                &[],
            ),
        }
    }
}

/// `Retry-After` for a 503 answer.
pub fn retry_after(seconds: u32) -> [(header::HeaderName, String); 1] {
    [(header::RETRY_AFTER, seconds.to_string())]
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, message, violations) = self.parts();
        let body = Json(ErrorBody {
            error: message,
            violations,
        });
        match self {
            IngestError::BrokerUnavailable {
                retry_after_seconds,
            } => (status, retry_after(retry_after_seconds), body).into_response(),
            _ => (status, body).into_response(),
        }
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    let body = Json(ErrorBody {
        error: format!("no such endpoint {uri}; beats are posted to /v1/beats"),
        violations: &[],
    });
    (StatusCode::NOT_FOUND, body).into_response()
}
