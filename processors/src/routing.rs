//! Routing by contract tier, from the customer registry: Basic → Enhanced Support (support
//! engineers only); Gold and Platinum → Proactive Support (the customer is notified too) while
//! their care is in force, plus a grace period; opted-out customers are not processed at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::{macros::format_description, Date, Duration, OffsetDateTime};
use ucx_common::registry::RegistryView;
use ucx_schemas::registry::{ContractTier, Customer};
use ucx_schemas::Acknowledgement;

use crate::alert_book::Audience;
use crate::config::{PerTier, ProcessorSettings};

/// How long a beat of an installation the registry view does not know yet waits for it.
const REGISTRY_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// Routes kept at most (one per installation a processor holds; beyond, they start again).
const ROUTES_KEPT: usize = 100_000;

pub struct Router {
    registry: Arc<RegistryView>,
    care_grace: Duration,
    dashboard_url: String,
    reminder_interval_s: PerTier,
    reopen_window_ms: i64,
    /// Every beat is routed: worked out once per installation, not from copies of its
    /// registry records per beat.
    routes: Mutex<Routes>,
}

/// Routes worked out from the registry view at `generation` on `day` (care ends by the day).
#[derive(Default)]
struct Routes {
    generation: u64,
    day: Option<Date>,
    by_installation: HashMap<String, Arc<Routed>>,
}

impl Routes {
    /// The routes still true at `generation` on `day`; forgets them all when they are not.
    fn current(&mut self, generation: u64, day: Date) -> &mut HashMap<String, Arc<Routed>> {
        if self.generation != generation
            || self.day != Some(day)
            || self.by_installation.len() >= ROUTES_KEPT
        {
            self.by_installation.clear();
            self.generation = generation;
            self.day = Some(day);
        }
        &mut self.by_installation
    }
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
            routes: Mutex::default(),
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
    pub async fn route(&self, installation_id: &str) -> Option<Arc<Routed>> {
        if self.erased(installation_id) {
            // erased from the registry: do not wait for it to appear
            return None;
        }
        // read before the view: a record applied meanwhile makes this route be worked out again
        let generation = self.registry.generation();
        let today = OffsetDateTime::now_utc().date();
        let known = self
            .routes
            .lock()
            .unwrap()
            .current(generation, today)
            .get(installation_id)
            .cloned();
        if known.is_some() {
            return known;
        }
        let routed = Arc::new(self.work_out(installation_id, today).await?);
        self.routes
            .lock()
            .unwrap()
            .current(generation, today)
            .insert(installation_id.to_string(), routed.clone());
        Some(routed)
    }

    async fn work_out(&self, installation_id: &str, today: Date) -> Option<Routed> {
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

    #[tokio::test]
    async fn a_route_is_kept_until_the_registry_changes() {
        use ucx_schemas::registry::{Installation, InstallationStatus, RegistryRecord};
        let installation = Installation {
            installation_id: "i".into(),
            customer_id: "c".into(),
            key_id: "k".into(),
            key_sha256: String::new(),
            status: InstallationStatus::Active,
            updated_at: 0,
            licensed_users: None,
            licensed_devices: None,
        };
        let mut basic = customer(None);
        basic.contract_tier = ContractTier::Basic;
        let registry = Arc::new(RegistryView::loaded_from([
            RegistryRecord::Customer(basic),
            RegistryRecord::Installation(installation),
        ]));
        let router = Router::new(registry.clone(), &ProcessorSettings::default());

        let first = router.route("i").await.expect("routed");
        assert!(!first.audience.notify_customer);
        assert!(Arc::ptr_eq(&first, &router.route("i").await.unwrap()));

        let gold = customer(None);
        registry.apply(
            &RegistryRecord::Customer(gold.clone()).key(),
            Some(RegistryRecord::Customer(gold)),
        );
        let upgraded = router.route("i").await.expect("routed");
        assert_eq!(upgraded.tier, Some(ContractTier::Gold));
        assert!(
            upgraded.audience.notify_customer,
            "the new tier, not the kept route"
        );

        let mut opted_out = customer(None);
        opted_out.telemetry_enabled = false;
        registry.apply("customer:c", Some(RegistryRecord::Customer(opted_out)));
        assert!(
            router.route("i").await.is_none(),
            "opted out: not routed at all"
        );
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
