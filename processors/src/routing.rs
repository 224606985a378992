//! Routing by contract tier, from the customer registry: Basic → Enhanced Support (support
//! engineers only); Gold and Platinum → Proactive Support (the customer is notified too) while
//! their care is in force, plus a grace period; opted-out customers are not processed at all.

use std::sync::Arc;

use time::{macros::format_description, Date, Duration, OffsetDateTime};
use ucx_common::registry::RegistryView;
use ucx_schemas::registry::{ContractTier, Customer};
use ucx_schemas::Acknowledgement;

use crate::alert_book::Audience;
use crate::config::{PerTier, ProcessorSettings};

/// How long a beat of an installation the registry view does not know yet waits for it.
const REGISTRY_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Router {
    registry: Arc<RegistryView>,
    care_grace: Duration,
    dashboard_url: String,
    reminder_interval_s: PerTier,
    reopen_window_ms: i64,
}

/// How one installation's alerts are judged and who hears of them.
pub struct Routed {
    /// Picks the tier's thresholds; `None` (no known customer) is judged as Basic.
    pub tier: Option<ContractTier>,
    pub audience: Audience,
    /// Call-manager users and devices the installation's licences cover, when known.
    pub licence: (Option<i32>, Option<i32>),
}

impl Router {
    pub fn new(registry: Arc<RegistryView>, settings: &ProcessorSettings) -> Self {
        Router {
            registry,
            care_grace: Duration::days(settings.care_grace_days.into()),
            dashboard_url: settings.dashboard_url.clone(),
            reminder_interval_s: settings.reminder_interval_s,
            reopen_window_ms: settings.reopen_window_s.saturating_mul(1000) as i64,
        }
    }

    /// Who took an alert on, if anyone did.
    pub fn acknowledgement(&self, alert_id: &str) -> Option<Acknowledgement> {
        self.registry.acknowledgement(alert_id)
    }

    /// Why an installation may not be watched (`telemetry_disabled`: its customer switched
    /// telemetry off; `installation_inactive`: it was revoked); `None` when it may.
    pub fn inactive_reason(&self, installation_id: &str) -> Option<&'static str> {
        let installation = self.registry.installation(installation_id);
        let customer = installation
            .as_ref()
            .and_then(|installation| self.registry.customer(&installation.customer_id));
        inactive(installation.as_ref(), customer.as_ref())
    }

    /// Whether the installation's data is to be erased: its customer switched telemetry off
    /// (which requests the purge of its data), or it was erased from the registry after its
    /// purge. A revoked key alone erases nothing.
    pub fn erased(&self, installation_id: &str) -> bool {
        match self.registry.telemetry_enabled(installation_id) {
            Some(enabled) => !enabled,
            None => self.registry.purged_until(installation_id).is_some(),
        }
    }

    /// `None` when the installation may not be watched (see [`Router::inactive_reason`]):
    /// nothing is evaluated, no heartbeat judged.
    pub async fn route(&self, installation_id: &str) -> Option<Routed> {
        if self.erased(installation_id) {
            // erased from the registry: do not wait for it to appear
            return None;
        }
        let installation = self
            .registry
            .wait_for_installation(installation_id, REGISTRY_CATCH_UP)
            .await;
        let customer = installation
            .as_ref()
            .and_then(|installation| self.registry.customer(&installation.customer_id));
        if inactive(installation.as_ref(), customer.as_ref()).is_some() {
            return None;
        }
        let licence = installation
            .map(|installation| (installation.licensed_users, installation.licensed_devices))
            .unwrap_or_default();
        let today = OffsetDateTime::now_utc().date();
        let dashboard_url = self
            .dashboard_url
            .replace("{installation_id}", installation_id);
        let tier = customer.as_ref().map(|customer| customer.contract_tier);
        let reminder_interval_ms = (self.reminder_interval_s.of(tier) * 1_000) as i64;
        Some(match customer {
            Some(customer) => Routed {
                tier,
                audience: Audience {
                    notify_customer: customer.contract_tier.is_proactive()
                        && care_in_force(&customer, today, self.care_grace),
                    silences: self.registry.silences_of(&customer.customer_id),
                    customer_id: customer.customer_id,
                    contract_tier: customer.contract_tier.as_str().to_string(),
                    dashboard_url,
                    reminder_interval_ms,
                    reopen_window_ms: self.reopen_window_ms,
                },
                licence,
            },
            None => Routed {
                tier,
                licence,
                audience: Audience {
                    dashboard_url,
                    reminder_interval_ms,
                    reopen_window_ms: self.reopen_window_ms,
                    ..Audience::default()
                },
            },
        })
    }
}

fn inactive(
    installation: Option<&ucx_schemas::Installation>,
    customer: Option<&Customer>,
) -> Option<&'static str> {
    if customer.is_some_and(|customer| !customer.telemetry_enabled) {
        return Some("telemetry_disabled");
    }
    installation
        .is_some_and(|installation| !ucx_common::registry::is_active(installation))
        .then_some("installation_inactive")
}

/// Care with no end date, or ending no longer than `grace` before `today`. A date that does
/// not parse counts as in force: a typo must not silence a paying customer.
fn care_in_force(customer: &Customer, today: Date, grace: Duration) -> bool {
    let Some(end) = &customer.care_end_date else {
        return true;
    };
    match Date::parse(end, format_description!("[year]-[month]-[day]")) {
        Ok(end) => today <= end + grace,
        Err(error) => {
            tracing::warn!(customer = %customer.customer_id, end, %error, "care end date unreadable; treating care as in force");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;
    use ucx_schemas::Region;

    fn customer(end: Option<&str>) -> Customer {
        Customer {
            customer_id: "c".into(),
            name: "C".into(),
            region: Region::EU,
            contract_tier: ContractTier::Gold,
            care_end_date: end.map(str::to_string),
            telemetry_enabled: true,
            alert_contacts: Vec::new(),
            updated_at: 0,
        }
    }

    #[test]
    fn care_ends_after_the_grace_period() {
        let grace = Duration::days(30);
        let today = date!(2026 - 11 - 23);
        assert!(care_in_force(&customer(None), today, grace));
        assert!(care_in_force(&customer(Some("2026-12-31")), today, grace));
        assert!(care_in_force(&customer(Some("2026-10-24")), today, grace));
        assert!(!care_in_force(&customer(Some("2026-10-23")), today, grace));
        assert!(care_in_force(&customer(Some("someday")), today, grace));
    }
}
