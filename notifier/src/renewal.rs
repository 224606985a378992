//! Renewal warnings: a Proactive Support customer whose care ends within one of the lead times
//! (`renewal_lead_days`, 60/30/7 by default) gets one mail per lead time and end date, to every
//! contact, so the care does not lapse unnoticed; the ledger records it for support (rule
//! `care_renewal`, state `RENEWAL`) and makes sure it goes out once.

use time::{macros::format_description, Date};
use ucx_schemas::Customer;

/// The rule id renewal notifications carry in the ledger.
pub const RULE_ID: &str = "care_renewal";

/// A renewal warning due now.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub end_date: String,
    pub days_left: i64,
    /// The lead time it answers (the smallest one not passed yet).
    pub lead_days: u32,
}

/// The warning `customer` is due at `today`, if any: care ends within the smallest lead time
/// that covers the days left, and has not ended.
pub fn due(customer: &Customer, today: Date, leads: &[u32]) -> Option<Due> {
    if !customer.contract_tier.is_proactive() || customer.alert_contacts.is_empty() {
        return None;
    }
    let end_text = customer.care_end_date.as_deref()?;
    let end = Date::parse(end_text, format_description!("[year]-[month]-[day]")).ok()?;
    let days_left = (end - today).whole_days();
    if days_left < 0 {
        return None;
    }
    let lead_days = leads
        .iter()
        .copied()
        .filter(|&lead| days_left <= i64::from(lead))
        .min()?;
    Some(Due {
        end_date: end_text.to_string(),
        days_left,
        lead_days,
    })
}

/// One notification per customer, end date and lead time: the same warning is never mailed twice.
pub fn notification_id(customer_id: &str, due: &Due) -> String {
    let name = format!("renewal/{customer_id}/{}/{}", due.end_date, due.lead_days);
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;
    use ucx_schemas::{AlertContact, ContractTier, Region, Severity};

    fn customer(tier: ContractTier, end: Option<&str>) -> Customer {
        Customer {
            customer_id: "c".into(),
            name: "C".into(),
            region: Region::EU,
            contract_tier: tier,
            care_end_date: end.map(str::to_string),
            telemetry_enabled: true,
            alert_contacts: vec![AlertContact {
                email: "it@c.example".into(),
                min_severity: Severity::Critical,
            }],
            updated_at: 0,
        }
    }

    #[test]
    fn the_smallest_lead_time_not_passed_is_due() {
        let leads = [60, 30, 7];
        let today = date!(2026 - 11 - 30);
        let gold = |end| due(&customer(ContractTier::Gold, Some(end)), today, &leads);
        assert_eq!(gold("2027-03-01"), None, "91 days: not yet");
        assert_eq!(gold("2027-01-29").map(|d| d.lead_days), Some(60));
        assert_eq!(
            gold("2026-12-20").map(|d| (d.lead_days, d.days_left)),
            Some((30, 20))
        );
        assert_eq!(gold("2026-12-07").map(|d| d.lead_days), Some(7));
        assert_eq!(gold("2026-11-30").map(|d| d.days_left), Some(0));
        assert_eq!(
            gold("2026-11-29"),
            None,
            "ended: the grace period's business"
        );
        assert_eq!(
            due(
                &customer(ContractTier::Basic, Some("2026-12-20")),
                today,
                &leads
            ),
            None,
            "Basic customers are not mailed"
        );
        assert_eq!(
            due(&customer(ContractTier::Gold, None), today, &leads),
            None
        );
    }
}
