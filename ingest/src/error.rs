//! Every way a request can fail, each with its status and a JSON body that says what to fix:
//! `{"code": "...", "error": "...", "violations": [...]}`. `code` is stable for programs (the
//! UCX Suite server stops sending on `telemetry_disabled`), `error` is for people.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use ucx_schemas::{Region, Violation};

#[derive(Debug)]
pub enum IngestError {
    UnsupportedMediaType(String),
    UnsupportedEncoding(String),
    BodyTooLarge {
        limit_bytes: usize,
    },
    BatchTooLong {
        limit: usize,
        found: usize,
    },
    UnreadableBody(String),
    BodyTimeout {
        seconds: u64,
    },
    Malformed(String),
    Invalid(Vec<Violation>),
    PersonalData(Vec<Violation>),
    Unauthorized(String),
    WrongInstallation {
        key_for: String,
        beat_for: String,
    },
    BeatIdConflict {
        beat_id: String,
    },
    UnknownCustomer {
        installation_id: String,
    },
    TelemetryDisabled {
        customer_id: String,
    },
    WrongRegion {
        installation_id: String,
        home: Region,
        served: Region,
        endpoint: Option<String>,
    },
    RateLimited {
        retry_after_seconds: u64,
    },
    TooManyFailedAuthentications {
        retry_after_seconds: u64,
    },
    TooManyConnections {
        retry_after_seconds: u32,
    },
    Overloaded {
        retry_after_seconds: u32,
    },
    RegistryLoading {
        retry_after_seconds: u32,
    },
    BrokerUnavailable {
        retry_after_seconds: u32,
    },
    Internal(String),
}

impl IngestError {
    /// The stable `code` of the answer, also the `reason` label of the metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::UnsupportedEncoding(_) => "unsupported_encoding",
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::BatchTooLong { .. } => "batch_too_long",
            IngestError::UnreadableBody(_) => "unreadable_body",
            IngestError::BodyTimeout { .. } => "body_timeout",
            IngestError::Malformed(_) => "malformed",
            IngestError::Invalid(_) => "invalid",
            IngestError::PersonalData(_) => "personal_data",
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::WrongInstallation { .. } => "wrong_installation",
            IngestError::BeatIdConflict { .. } => "beat_id_conflict",
            IngestError::UnknownCustomer { .. } => "unknown_customer",
            IngestError::TelemetryDisabled { .. } => "telemetry_disabled",
            IngestError::WrongRegion { .. } => "wrong_region",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::TooManyFailedAuthentications { .. } => "too_many_failed_authentications",
            IngestError::TooManyConnections { .. } => "too_many_connections",
            IngestError::Overloaded { .. } => "overloaded",
            IngestError::RegistryLoading { .. } => "registry_loading",
            IngestError::BrokerUnavailable { .. } => "broker_unavailable",
            IngestError::Internal(_) => "internal",
        }
    }

    /// The status, message and violations this error answers with.
    pub fn parts(&self) -> (StatusCode, String, &[Violation]) {
        let (status, message) = match self {
            IngestError::UnsupportedMediaType(found) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected Content-Type application/json, found {found}"),
            ),
            IngestError::UnsupportedEncoding(found) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {found} is not supported; use gzip, zstd or none"),
            ),
            IngestError::BodyTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit_bytes} bytes (after decompression)"),
            ),
            IngestError::BatchTooLong { limit, found } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a batch holds at most {limit} beats, this one {found}"),
            ),
            IngestError::UnreadableBody(reason) => (
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {reason}"),
            ),
            IngestError::BodyTimeout { seconds } => (
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not fully arrive within {seconds} s of its head; send the whole body at once, with a Content-Length that matches it"),
            ),
            IngestError::Malformed(message) => (StatusCode::BAD_REQUEST, message.clone()),
            IngestError::Invalid(violations) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the beat has {} invalid field(s)", violations.len()),
            ),
            IngestError::PersonalData(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "the beat carries personal data, which the terms forbid sending; remove it at the source"
                    .to_string(),
            ),
            IngestError::Unauthorized(message) => (StatusCode::UNAUTHORIZED, message.clone()),
            IngestError::WrongInstallation { key_for, beat_for } => (
                StatusCode::FORBIDDEN,
                format!("the key belongs to installation {key_for} and cannot send beats of installation {beat_for}"),
            ),
            IngestError::BeatIdConflict { beat_id } => (
                StatusCode::CONFLICT,
                format!("beat {beat_id} was accepted before with other content (category, node or data); a new beat needs a new beat_id, and a retry must resend the same beat"),
            ),
            IngestError::UnknownCustomer { installation_id } => (
                StatusCode::FORBIDDEN,
                format!("installation {installation_id} belongs to no registered customer"),
            ),
            IngestError::TelemetryDisabled { customer_id } => (
                StatusCode::FORBIDDEN,
                format!("telemetry is switched off for customer {customer_id}: stop sending beats until it is switched on again in the portal"),
            ),
            IngestError::WrongRegion {
                installation_id,
                home,
                served,
                endpoint,
            } => (
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "installation {installation_id} belongs to a customer of region {}; this gateway keeps region {}'s data only: send its beats to {}",
                    home.as_str(),
                    served.as_str(),
                    endpoint.as_deref().map_or_else(
                        || format!("the {} gateway (its address is in the installation's Cloud Licensing settings)", home.as_str()),
                        str::to_string
                    )
                ),
            ),
            IngestError::RateLimited { retry_after_seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("this installation sends more beats than allowed; retry after {retry_after_seconds} s"),
            ),
            IngestError::TooManyFailedAuthentications { retry_after_seconds } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests with a missing or wrong key came from this address; check the installation key and retry after {retry_after_seconds} s"),
            ),
            IngestError::TooManyConnections { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open connections (in all, or from this address); close idle connections and retry on a new one after Retry-After".to_string(),
            ),
            IngestError::Overloaded { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway is handling as many requests as it can; retry after Retry-After".to_string(),
            ),
            IngestError::RegistryLoading { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the gateway is still loading the customer registry; retry shortly".to_string(),
            ),
            IngestError::BrokerUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the beat could not be stored right now; retry the same beat later".to_string(),
            ),
            IngestError::Internal(message) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error: {message}"),
            ),
        };
        let violations = match self {
            IngestError::Invalid(violations) | IngestError::PersonalData(violations) => {
                violations.as_slice()
            }
            _ => &[],
        };
        (status, message, violations)
    }

    /// `Retry-After` seconds, for the answers that have one.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            IngestError::RateLimited {
                retry_after_seconds,
            }
            | IngestError::TooManyFailedAuthentications {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            IngestError::RegistryLoading {
                retry_after_seconds,
            }
            | IngestError::TooManyConnections {
                retry_after_seconds,
            }
            | IngestError::Overloaded {
                retry_after_seconds,
            }
            | IngestError::BrokerUnavailable {
                retry_after_seconds,
            } => Some(u64::from(*retry_after_seconds)),
            _ => None,
        }
    }
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub error: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub violations: &'a [Violation],
}

/// Adds `Retry-After` to a 429 or 503 answer.
pub fn set_retry_after(response: &mut Response, seconds: u64) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, message, violations) = self.parts();
        let body = Json(ErrorBody {
            code: self.reason(),
            error: message,
            violations,
        });
        let mut response = (status, body).into_response();
        if let Some(seconds) = self.retry_after_seconds() {
            set_retry_after(&mut response, seconds);
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let error = if ["/v1/admin", "/metrics", "/ready"]
        .iter()
        .any(|operator| path == *operator || path.starts_with(&format!("{operator}/")))
    {
        format!(
            "{path} is served on the gateway's admin listener (ingest.admin_listen, default 127.0.0.1:8090), not on the public one that takes beats"
        )
    } else {
        format!("no such endpoint {uri}; beats are posted to /v1/beats")
    };
    let body = Json(ErrorBody {
        code: "not_found",
        error,
        violations: &[],
    });
    (StatusCode::NOT_FOUND, body).into_response()
}

/// An unknown path on the admin listener.
pub async fn not_found_admin(uri: axum::http::Uri) -> Response {
    let body = Json(ErrorBody {
        code: "not_found",
        error: format!(
            "no such endpoint {uri} on the admin listener; it serves /v1/admin/..., /metrics, /ready, /health and /openapi.json (beats go to the public listener's /v1/beats)"
        ),
        violations: &[],
    });
    (StatusCode::NOT_FOUND, body).into_response()
}

/// A known path asked with a method it does not take.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let body = Json(ErrorBody {
        code: "method_not_allowed",
        error: format!(
            "{method} is not served on {}; see /openapi.json for the methods of each path (beats: POST /v1/beats)",
            uri.path()
        ),
        violations: &[],
    });
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}
