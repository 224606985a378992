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

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let no_violations: &[Violation] = &[];
        let (status, message, violations) = match &self {
            IngestError::UnsupportedMediaType(found) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected Content-Type application/json, found {found}"),
                no_violations,
            ),
            IngestError::BodyTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit_bytes} bytes"),
                no_violations,
            ),
            IngestError::UnreadableBody(reason) => (
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {reason}"),
                no_violations,
            ),
            IngestError::Malformed(message) => {
                (StatusCode::BAD_REQUEST, message.clone(), no_violations)
            }
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
                no_violations,
            ),
            IngestError::Internal(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {message}"),
                no_violations,
            ),
        };
        let body = Json(ErrorBody {
            error: message,
            violations,
        });
        match self {
            IngestError::BrokerUnavailable {
                retry_after_seconds,
            } => (
                status,
                [(header::RETRY_AFTER, retry_after_seconds.to_string())],
                body,
            )
                .into_response(),
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
