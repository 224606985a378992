//! The notifier's Prometheus metrics: what it received, mailed, held back, failed and skipped.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use ucx_common::ops::register;

pub struct NotifierMetrics {
    pub retries: IntCounter,
    sent: IntCounterVec,
    failed: IntCounterVec,
    deferred: IntCounterVec,
    skipped: IntCounterVec,
    fleet_incidents: IntGaugeVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), &[label]).unwrap(),
    )
}

impl NotifierMetrics {
    pub fn new(registry: &Registry) -> Self {
        NotifierMetrics {
            retries: register(
                registry,
                IntCounter::new(
                    "notifier_mail_retries_total",
                    "Mails tried again because the mail server was away or answered 4xx",
                )
                .unwrap(),
            ),
            sent: counter_vec(
                registry,
                "notifier_mails_sent_total",
                "Mails the mail server accepted, by kind (alert, summary, digest, incident, renewal)",
                "kind",
            ),
            failed: counter_vec(
                registry,
                "notifier_mails_failed_total",
                "Notifications given up, by reason (refused: 5xx from the mail server; render)",
                "reason",
            ),
            deferred: counter_vec(
                registry,
                "notifier_notifications_deferred_total",
                "Notifications held back for a later list mail, by reason (throttled: over the customer's limit; digest)",
                "reason",
            ),
            skipped: counter_vec(
                registry,
                "notifier_alerts_skipped_total",
                "Alert records that mail nobody, by reason",
                "reason",
            ),
            fleet_incidents: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "ucx_fleet_incidents",
                        "Fleet incidents in force, by state (held: customer mail of the rule waits for support; silenced: fleet-wide silence)",
                    ),
                    &["state"],
                )
                .unwrap(),
            ),
        }
    }

    pub fn sent(&self, kind: &str) {
        self.sent.with_label_values(&[kind]).inc();
    }

    pub fn failed(&self, reason: &str) {
        self.failed.with_label_values(&[reason]).inc();
    }

    pub fn deferred(&self, reason: &str) {
        self.deferred.with_label_values(&[reason]).inc();
    }

    pub fn fleet_incidents(&self, state: &str, count: i64) {
        self.fleet_incidents
            .with_label_values(&[&state.to_ascii_lowercase()])
            .set(count);
    }

    pub fn skipped(&self, reason: &str) {
        self.skipped.with_label_values(&[reason]).inc();
    }
}
