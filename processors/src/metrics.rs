//! The processors' Prometheus metrics.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use ucx_common::ops::register;
use ucx_schemas::{Alert, AlertState, Change};

use crate::engine::Engine;
use crate::rules::reload::ReloadMetrics;

pub struct ProcessorMetrics {
    pub beats_skipped: IntCounterVec,
    pub reload: ReloadMetrics,
    pub advisories_reload: ReloadMetrics,
    restores: IntCounter,
    assigned_partitions: IntGauge,
    pub state_documents: IntCounter,
    /// `processor_states_erased_total`
    pub states_erased: IntCounter,
    installations: IntGauge,
    open_alerts: IntGauge,
    watermark: IntGauge,
    alerts_raised: IntCounterVec,
    alerts_resolved: IntCounterVec,
    alert_reminders: IntCounterVec,
    alerts_acknowledged: IntCounterVec,
    alerts_suppressed: IntCounterVec,
    changes: IntCounterVec,
    /// What the engine gave up on to keep its state bounded (`series_not_remembered`,
    /// `history_dropped`, `state_not_written`).
    state_bounds: IntCounterVec,
    counted: std::sync::Mutex<crate::engine::Counts>,
}

impl ProcessorMetrics {
    pub fn new(registry: &Registry) -> Self {
        ProcessorMetrics {
            beats_skipped: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_beats_skipped_total",
                        "Beats not evaluated, by reason (telemetry_disabled: the customer opted out; already_applied: replayed after a crash, already in the state)",
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
            advisories_reload: ReloadMetrics {
                reloads: register(
                    registry,
                    IntCounterVec::new(
                        Opts::new(
                            "processor_advisories_reloads_total",
                            "Advisory catalogue changes seen, by outcome (applied, or refused as invalid)",
                        ),
                        &["outcome"],
                    )
                    .unwrap(),
                ),
                library_version: register(
                    registry,
                    IntGauge::new(
                        "processor_advisories_catalogue_version",
                        "catalogue_version of the advisory catalogue in force",
                    )
                    .unwrap(),
                ),
            },
            states_erased: register(
                registry,
                IntCounter::new(
                    "processor_states_erased_total",
                    "Installation states erased from the changelog (tombstones) because their customer switched telemetry off",
                )
                .unwrap(),
            ),
            restores: register(
                registry,
                IntCounter::new(
                    "processor_state_restores_total",
                    "Times the state of the assigned partitions was restored from the changelog (start, rebalance)",
                )
                .unwrap(),
            ),
            assigned_partitions: register(
                registry,
                IntGauge::new(
                    "processor_assigned_partitions",
                    "Beats partitions assigned to this processor",
                )
                .unwrap(),
            ),
            state_documents: register(
                registry,
                IntCounter::new(
                    "processor_state_documents_written_total",
                    "Installation states written to the changelog",
                )
                .unwrap(),
            ),
            installations: register(
                registry,
                IntGauge::new(
                    "processor_installations",
                    "Installations whose state this processor holds",
                )
                .unwrap(),
            ),
            open_alerts: register(
                registry,
                IntGauge::new("processor_open_alerts", "Alerts open now (heartbeat alerts aside)").unwrap(),
            ),
            watermark: register(
                registry,
                IntGauge::new(
                    "processor_watermark_seconds",
                    "Event time: the newest received_at of the beats processed, Unix seconds",
                )
                .unwrap(),
            ),
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
            alert_reminders: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_alert_reminders_total",
                        "Open alerts announced again after the tier's reminder interval",
                    ),
                    &["rule"],
                )
                .unwrap(),
            ),
            alerts_acknowledged: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_alerts_acknowledged_total",
                        "Open alerts acknowledged through the admin API",
                    ),
                    &["rule"],
                )
                .unwrap(),
            ),
            alerts_suppressed: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_alerts_suppressed_total",
                        "Alert state changes whose customer notification a silence or maintenance window withheld",
                    ),
                    &["kind"],
                )
                .unwrap(),
            ),
            state_bounds: Self::state_bounds(registry),
            counted: Default::default(),
            changes: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "processor_changes_detected_total",
                        "Changes noticed between two inventory beats of an installation",
                    ),
                    &["kind"],
                )
                .unwrap(),
            ),
        }
    }

    fn state_bounds(registry: &Registry) -> IntCounterVec {
        register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "processor_state_bounded_total",
                    "What the processors gave up on to keep per-installation state under the broker's record limit, by what (series_not_remembered: subjects judged but not remembered because their signal's series were full; history_dropped: an installation's history forgotten; state_not_written: a state kept in memory only)",
                ),
                &["what"],
            )
            .unwrap(),
        )
    }

    pub fn restored(&self, partitions: usize) {
        self.restores.inc();
        self.assigned_partitions.set(partitions as i64);
    }

    pub fn skipped(&self, reason: &str) {
        self.beats_skipped.with_label_values(&[reason]).inc();
    }

    /// Gauges of what the engine holds, and what it gave up on since the last look.
    pub fn observe(&self, engine: &Engine) {
        let counts = engine.counts();
        let mut counted = self.counted.lock().expect("metrics lock");
        for (what, now, before) in [
            (
                "series_not_remembered",
                counts.series_not_remembered,
                counted.series_not_remembered,
            ),
            (
                "history_dropped",
                counts.histories_dropped,
                counted.histories_dropped,
            ),
            (
                "state_not_written",
                counts.states_not_written,
                counted.states_not_written,
            ),
        ] {
            self.state_bounds
                .with_label_values(&[what])
                .inc_by(now.saturating_sub(before));
        }
        *counted = counts;
        self.installations.set(engine.installations() as i64);
        self.open_alerts.set(engine.open_alerts() as i64);
        self.watermark.set(engine.watermark() / 1000);
    }

    pub fn record_change(&self, change: &Change) {
        self.changes
            .with_label_values(&[change.kind.as_str()])
            .inc();
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
            AlertState::Reminder => self
                .alert_reminders
                .with_label_values(&[alert.rule_id.as_str()])
                .inc(),
            AlertState::Acknowledged => self
                .alerts_acknowledged
                .with_label_values(&[alert.rule_id.as_str()])
                .inc(),
        }
        if let Some((kind, _)) = alert.suppressed_by.split_once(':') {
            self.alerts_suppressed.with_label_values(&[kind]).inc();
        }
    }
}
