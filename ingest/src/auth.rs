//! Who is posting: the installation whose key is in `Authorization: Bearer …`, and its customer.

use axum::http::{header, HeaderMap};
use ucx_common::registry::{is_active, RegistryView};
use ucx_schemas::{Customer, Installation};

use crate::error::IngestError;
use crate::keys;

/// An authenticated installation and the customer it belongs to.
pub struct Sender {
    pub installation: Installation,
    pub customer: Customer,
}

/// The token of `Authorization: Bearer <token>`, if the header has that form.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

pub fn authenticate(registry: &RegistryView, headers: &HeaderMap) -> Result<Sender, IngestError> {
    let token = bearer(headers).ok_or_else(|| {
        IngestError::Unauthorized(
            "missing credentials: send the installation key as Authorization: Bearer <key>".into(),
        )
    })?;
    let unknown = || IngestError::Unauthorized("unknown installation key".into());
    let presented = keys::parse(token).ok_or_else(unknown)?;
    let installation = registry
        .installation_by_key_id(presented.key_id)
        .ok_or_else(unknown)?;
    if !presented.matches(&installation.key_sha256) {
        return Err(unknown());
    }
    if !is_active(&installation) {
        return Err(IngestError::Unauthorized(format!(
            "the key of installation {} was revoked",
            installation.installation_id
        )));
    }
    let customer = registry
        .customer(&installation.customer_id)
        .ok_or_else(|| IngestError::UnknownCustomer {
            installation_id: installation.installation_id.clone(),
        })?;
    Ok(Sender {
        installation,
        customer,
    })
}
