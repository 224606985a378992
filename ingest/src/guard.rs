//! What a beat request passes before a byte of its body is read or decompressed: a place among
//! the requests in flight, a loaded registry, a valid key (failed attempts limited per client
//! address), a customer with telemetry on, and registered in the region this gateway serves.
//! Whoever has no key costs the gateway a header
//! lookup, never a body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::authenticate;
use crate::beats::refuse;
use crate::error::IngestError;
use crate::rate_limit::retry_after_seconds;
use crate::AppState;

pub async fn beats_guard(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(_in_flight) = state.in_flight.clone().try_acquire_owned() else {
        return refuse(
            &state,
            IngestError::Overloaded {
                retry_after_seconds: state.retry_after_seconds,
            },
        );
    };
    if !state.registry.is_loaded() {
        return refuse(
            &state,
            IngestError::RegistryLoading {
                retry_after_seconds: state.retry_after_seconds,
            },
        );
    }
    let sender = match authenticate(&state.registry, request.headers()) {
        Ok(sender) => sender,
        Err(error @ IngestError::Unauthorized(_)) => {
            let client = state
                .trusted_proxies
                .client_ip(peer.ip(), request.headers());
            let error = match state.failed_auth.check(&client, 1) {
                Ok(()) => error,
                Err(wait) => IngestError::TooManyFailedAuthentications {
                    retry_after_seconds: retry_after_seconds(wait),
                },
            };
            return refuse(&state, error);
        }
        Err(error) => return refuse(&state, error),
    };
    if !sender.customer.telemetry_enabled {
        // Nothing of an opted-out customer is read, let alone produced.
        return refuse(
            &state,
            IngestError::TelemetryDisabled {
                customer_id: sender.customer.customer_id.clone(),
            },
        );
    }
    if let Some(served) = state.region {
        let home = sender.customer.region;
        if home != served {
            // Residency: another region's telemetry is not read here, let alone stored.
            return refuse(
                &state,
                IngestError::WrongRegion {
                    installation_id: sender.installation.installation_id.clone(),
                    home,
                    served,
                    endpoint: state.region_endpoints.get(&home).cloned(),
                },
            );
        }
    }
    request.extensions_mut().insert(Arc::new(sender));
    next.run(request).await
}
