//! The processors' Prometheus metrics.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use ucx_common::ops::register;
use ucx_schemas::{Alert, AlertState};

use crate::rules::reload::ReloadMetrics;

pub struct ProcessorMetrics {
    pub beats_received: IntCounter,
    pub dead_letters: IntCounter,
    pub consumer_lag: IntGaugeVec,
    pub beats_skipped: IntCounterVec,
    pub reload: ReloadMetrics,
    alerts_raised: IntCounterVec,
    alerts_resolved: IntCounterVec,
}

impl ProcessorMetrics {
    pub fn new(registry: &Registry) -> Self {
        ProcessorMetrics {
            beats_received: register(
                registry,
                IntCounter::new(
                    "processor_beats_received_total",
                    "Beats read from the beats topic",
                )
                .unwrap(),
            ),
            dead_letters: register(
                registry,
                IntCounter::new(
                    "processor_dead_letters_total",
                    "Records that could not be decoded, sent to the dead-letter topic",
                )
                .unwrap(),
            ),
            consumer_lag: register(
                registry,
                IntGaugeVec::new(
                    Opts::new(
                        "processor_consumer_lag",
                        "Beats not yet consumed, by topic and partition (librdkafka statistics, every 5 s)",
                    ),
                    &["topic", "partition"],
                )
                .unwrap(),
            ),
            beats_skipped: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_beats_skipped_total",
                        "Beats not evaluated, by reason (telemetry_disabled: the customer opted out)",
                    ),
                    &["reason"],
                )
                .unwrap(),
            ),
            reload: ReloadMetrics {
                reloads: register(
                    registry,
                    IntCounterVec::new(
                        Opts::new(
                            "processor_rules_reloads_total",
                            "Rule file changes seen, by outcome (applied, or refused as invalid)",
                        ),
                        &["outcome"],
                    )
                    .unwrap(),
                ),
                library_version: register(
                    registry,
                    IntGauge::new(
                        "processor_rules_library_version",
                        "library_version of the rule library in force",
                    )
                    .unwrap(),
                ),
            },
            alerts_raised: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_alerts_raised_total",
                        "Alerts opened or escalated",
                    ),
                    &["rule", "severity"],
                )
                .unwrap(),
            ),
            alerts_resolved: register(
                registry,
                IntCounterVec::new(
                    Opts::new("processor_alerts_resolved_total", "Alerts resolved"),
                    &["rule"],
                )
                .unwrap(),
            ),
        }
    }

    pub fn record(&self, alert: &Alert) {
        match alert.state {
            AlertState::Open => self
                .alerts_raised
                .with_label_values(&[alert.rule_id.as_str(), alert.severity.as_str()])
                .inc(),
            AlertState::Resolved => self
                .alerts_resolved
                .with_label_values(&[alert.rule_id.as_str()])
                .inc(),
        }
    }
}
