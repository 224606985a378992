//! The e-mails, as minijinja templates (a text and an HTML part each): one alert state change
//! (opened, reminder, resolved) with its evidence and what to do, and a list of several grouped
//! by server (the storm-control summary, the daily digest, and the related findings of one
//! incident). Subjects exist in English and German.

use minijinja::{context, Environment};
use serde::Serialize;
use ucx_schemas::{Alert, AlertState};

pub const LANGUAGES: &[&str] = &["en", "de"];

const ALERT_TEXT: &str = r#"{{ headline }}

Server:      {{ alert.installation_id }} (node {{ alert.node_id }})
Finding:     {{ alert.summary }}
Rule:        {{ alert.rule_id }} v{{ alert.rule_version }}, severity {{ alert.severity }}
Measured:    {{ alert.observed_value }} (threshold {{ alert.threshold }})
Seen at:     {{ seen_at }}

{% if alert.state == "RESOLVED" %}The condition has cleared; nothing more to do.{% else %}What to do:  {{ alert.explanation }}{% endif %}

Dashboard:   {{ alert.dashboard_url }}

UCX Proactive Support · alert {{ alert.alert_id }}
"#;

const ALERT_HTML: &str = r#"<!doctype html>
<html><body style="font-family: sans-serif">
<h2>{{ headline }}</h2>
<table>
<tr><th align="left">Server</th><td>{{ alert.installation_id }} (node {{ alert.node_id }})</td></tr>
<tr><th align="left">Finding</th><td>{{ alert.summary }}</td></tr>
<tr><th align="left">Rule</th><td>{{ alert.rule_id }} v{{ alert.rule_version }}, severity {{ alert.severity }}</td></tr>
<tr><th align="left">Measured</th><td>{{ alert.observed_value }} (threshold {{ alert.threshold }})</td></tr>
<tr><th align="left">Seen at</th><td>{{ seen_at }}</td></tr>
</table>
{% if alert.state == "RESOLVED" %}<p>The condition has cleared; nothing more to do.</p>{% else %}<p><b>What to do:</b> {{ alert.explanation }}</p>{% endif %}
<p><a href="{{ alert.dashboard_url }}">Open the server's dashboard</a></p>
<p style="color: gray">UCX Proactive Support · alert {{ alert.alert_id }}</p>
</body></html>
"#;

const LIST_TEXT: &str = r#"{{ headline }}
{% for server in alerts|groupby("installation_id") %}
{{ server.grouper }}
{% for alert in server.list %}- {{ alert.severity }} {{ alert.state }} {{ alert.installation_id }}: {{ alert.summary }} ({{ alert.rule_id }}, {{ alert.dashboard_url }})
{% endfor %}{% endfor %}
UCX Proactive Support
"#;

const LIST_HTML: &str = r#"<!doctype html>
<html><body style="font-family: sans-serif">
<h2>{{ headline }}</h2>
{% for server in alerts|groupby("installation_id") %}<h3>{{ server.grouper }}</h3>
<ul>{% for alert in server.list %}
<li><b>{{ alert.severity }} {{ alert.state }}</b> {{ alert.installation_id }}: {{ alert.summary }} (<a href="{{ alert.dashboard_url }}">{{ alert.rule_id }}</a>)</li>{% endfor %}
</ul>{% endfor %}
<p style="color: gray">UCX Proactive Support</p>
</body></html>
"#;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why several alerts come in one mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// More alerts than the hourly limit allowed.
    Summary,
    /// The customer chose one mail a day.
    Digest,
    /// Related findings on one server (one incident) that settled together.
    Incident,
}

pub struct Templates {
    environment: Environment<'static>,
    language: String,
}

/// What the templates see of an alert: its fields, severity and state as text.
#[derive(Serialize)]
struct AlertView<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
}

impl Templates {
    pub fn new(language: &str) -> Self {
        let mut environment = Environment::new();
        for (name, source) in [
            ("alert.txt", ALERT_TEXT),
            ("alert.html", ALERT_HTML),
            ("list.txt", LIST_TEXT),
            ("list.html", LIST_HTML),
        ] {
            environment
                .add_template(name, source)
                .expect("the built-in templates parse");
        }
        Templates {
            environment,
            language: language.to_string(),
        }
    }

    /// The mail about one alert state change.
    pub fn alert(&self, alert: &Alert) -> Result<Rendered, minijinja::Error> {
        let subject = self.alert_subject(alert);
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        let seen_at = time::OffsetDateTime::from_unix_timestamp(alert.event_at.div_euclid(1000))
            .ok()
            .and_then(|at| at.format(&format).ok())
            .unwrap_or_default();
        let context = context! {
            alert => AlertView { alert },
            headline => subject.clone(),
            seen_at => seen_at,
        };
        Ok(Rendered {
            text: self
                .environment
                .get_template("alert.txt")?
                .render(&context)?,
            html: self
                .environment
                .get_template("alert.html")?
                .render(&context)?,
            subject,
        })
    }

    /// One mail listing several alert state changes (anything with the alert's `severity`,
    /// `state`, `installation_id`, `summary`, `rule_id` and `dashboard_url`).
    pub fn list<T: Serialize>(
        &self,
        kind: ListKind,
        alerts: &[T],
    ) -> Result<Rendered, minijinja::Error> {
        let count = alerts.len();
        let subject = match (self.language.as_str(), kind) {
            ("de", ListKind::Summary) => {
                format!("[UCX] {count} weitere Meldungen der letzten Stunde")
            }
            ("de", ListKind::Digest) => format!("[UCX] Tagesübersicht: {count} Meldungen"),
            (_, ListKind::Summary) => format!("[UCX] {count} more alerts in the last hour"),
            (_, ListKind::Digest) => format!("[UCX] Daily digest: {count} alerts"),
            ("de", ListKind::Incident) => {
                format!("[UCX] {count} zusammenhängende Befunde auf einem Server")
            }
            (_, ListKind::Incident) => format!("[UCX] {count} related findings on one server"),
        };
        let context = context! { alerts => alerts, headline => subject.clone() };
        Ok(Rendered {
            text: self
                .environment
                .get_template("list.txt")?
                .render(&context)?,
            html: self
                .environment
                .get_template("list.html")?
                .render(&context)?,
            subject,
        })
    }

    /// The warning that a customer's care ends soon.
    pub fn renewal(&self, customer_name: &str, end_date: &str, days_left: i64) -> Rendered {
        let (subject, text) = match self.language.as_str() {
            "de" => (
                format!("[UCX] Ihr Support-Vertrag endet am {end_date}"),
                format!(
                    "Guten Tag,\n\nder UCX Proactive Support für {customer_name} endet am {end_date} \
                     (in {days_left} Tagen). Danach werden Ihre Server nicht mehr proaktiv überwacht \
                     und Sie erhalten keine Warnungen mehr. Bitte verlängern Sie den Vertrag \
                     rechtzeitig bei Ihrem Ansprechpartner oder Reseller.\n\nUCX Proactive Support\n"
                ),
            ),
            _ => (
                format!("[UCX] Your support contract ends on {end_date}"),
                format!(
                    "Hello,\n\nUCX Proactive Support for {customer_name} ends on {end_date} \
                     (in {days_left} days). After that your servers are no longer watched \
                     proactively and you get no more warnings. Please renew the contract in time \
                     with your account manager or reseller.\n\nUCX Proactive Support\n"
                ),
            ),
        };
        let html = format!(
            "<!doctype html>\n<html><body style=\"font-family: sans-serif\">\n<p>{}</p>\n</body></html>\n",
            minijinja::HtmlEscape(&text).to_string().replace("\n\n", "</p><p>")
        );
        Rendered {
            subject,
            text,
            html,
        }
    }

    fn alert_subject(&self, alert: &Alert) -> String {
        let severity = alert.severity.as_str();
        let server = &alert.installation_id;
        let summary = &alert.summary;
        match (self.language.as_str(), alert.state) {
            ("de", AlertState::Resolved) => format!("[UCX] Behoben auf {server}: {summary}"),
            ("de", AlertState::Reminder) => {
                format!("[UCX {severity}] Weiterhin offen auf {server}: {summary}")
            }
            ("de", _) => format!("[UCX {severity}] {server}: {summary}"),
            (_, AlertState::Resolved) => format!("[UCX] Resolved on {server}: {summary}"),
            (_, AlertState::Reminder) => {
                format!("[UCX {severity}] Still open on {server}: {summary}")
            }
            (_, _) => format!("[UCX {severity}] {server}: {summary}"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ucx_schemas::{Region, Severity};

    pub fn alert(state: AlertState) -> Alert {
        Alert {
            alert_id: "a-1".into(),
            installation_id: "inst-acme-01".into(),
            node_id: "node-1".into(),
            region: Region::EU,
            rule_id: "disk_free_low".into(),
            rule_version: 2,
            subject: "disk C:".into(),
            severity: Severity::Warning,
            state,
            summary: "disk C: has 9.5% free (threshold 15%)".into(),
            observed_value: 9.5,
            threshold: 15.0,
            beat_id: "b".into(),
            event_at: 1_795_428_000_000,
            raised_at: 1_795_428_000_100,
            customer_id: "cust-acme".into(),
            contract_tier: "GOLD".into(),
            notify_customer: true,
            explanation: "Free space or extend the volume.".into(),
            dashboard_url: "http://grafana/d/ucx-server?var-installation=inst-acme-01".into(),
            suppressed_by: String::new(),
            acknowledged_by: String::new(),
            resolution: String::new(),
            incident_id: String::new(),
            library_version: 0,
        }
    }

    #[test]
    fn an_alert_mail_carries_its_evidence_what_to_do_and_the_link() {
        let mail = Templates::new("en")
            .alert(&alert(AlertState::Open))
            .unwrap();
        assert_eq!(
            mail.subject,
            "[UCX WARNING] inst-acme-01: disk C: has 9.5% free (threshold 15%)"
        );
        for part in [&mail.text, &mail.html] {
            assert!(part.contains("9.5 (threshold 15.0)"), "{part}");
            assert!(part.contains("Free space or extend the volume."), "{part}");
            assert!(part.contains("var-installation=inst-acme-01"), "{part}");
            assert!(part.contains("2026-11-23 10:00:00 UTC"), "{part}");
        }
        let resolved = Templates::new("de")
            .alert(&alert(AlertState::Resolved))
            .unwrap();
        assert!(resolved
            .subject
            .starts_with("[UCX] Behoben auf inst-acme-01"));
        assert!(resolved.text.contains("cleared"));
    }

    #[test]
    fn html_escapes_what_servers_report() {
        let mut hostile = alert(AlertState::Open);
        hostile.summary = "<script>x</script>".into();
        let mail = Templates::new("en").alert(&hostile).unwrap();
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
    }

    #[test]
    fn a_summary_lists_every_alert() {
        let alerts = vec![alert(AlertState::Open), alert(AlertState::Resolved)];
        let mail = Templates::new("en")
            .list(ListKind::Summary, &alerts)
            .unwrap();
        assert_eq!(mail.subject, "[UCX] 2 more alerts in the last hour");
        assert_eq!(mail.text.matches("- WARNING").count(), 2, "{}", mail.text);
    }
}
