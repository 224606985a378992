//! The processors as a stage of the runtime: a beat is judged against its installation's state
//! (alerts and changes published before its offset may be committed), a checkpoint writes the
//! changed states to the changelog, an idle tick judges silent installations, and a new
//! assignment restores the states of the assigned partitions.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{BorrowedMessage, OwnedHeaders};
use rdkafka::Message;
use tokio::sync::watch;
use tokio::time::Instant;
use ucx_common::kafka;
use ucx_common::retry::{retry_transient, Backoff};
use ucx_common::stage::{Context, DeadLetterReason, Flow, Stage, StageError, Tick};
use ucx_schemas::{decode_beat, encode_alert, encode_change, Alert, Change};

use crate::advisories::Catalogue;
use crate::config::ProcessorConfig;
use crate::engine::Engine;
use crate::metrics::ProcessorMetrics;
use crate::routing::Router;
use crate::rules::library::RuleLibrary;
use crate::state::{Applied, StateStore};

pub struct Processors {
    engine: Engine,
    store: StateStore,
    router: Router,
    rules: watch::Receiver<Arc<RuleLibrary>>,
    advisories: watch::Receiver<Arc<Catalogue>>,
    metrics: ProcessorMetrics,
    heartbeat_timeout_ms: i64,
    checkpoint_interval: Duration,
    last_checkpoint: Instant,
    /// The registry's offset when installations were last checked for being watched.
    registry_offset_seen: i64,
}

impl Processors {
    pub async fn start(context: Arc<Context>, config: ProcessorConfig) -> anyhow::Result<Self> {
        let settings = &config.processors;
        if ucx_common::is_loopback_url(&settings.dashboard_url) {
            tracing::warn!(dashboard_url = %settings.dashboard_url, "alerts link to a loopback address: Gold and Platinum customers' mails carry a link they cannot open; set processors.dashboard_url (UCX_PROCESSORS__DASHBOARD_URL) to the dashboards' public address");
        }
        let metrics = ProcessorMetrics::new(&context.metrics_registry);
        let store = StateStore::open(
            &context.kafka,
            &context.kafka.processor_state_topic,
            context.producer.clone(),
        )
        .await?;
        let rules = crate::rules::reload::start(
            settings.rules_file.clone(),
            settings.rules_reload_interval_ms,
            metrics.reload.clone(),
            context.shutdown.clone(),
        )?;
        let advisories = crate::rules::reload::start(
            settings.advisories_file.clone(),
            settings.rules_reload_interval_ms,
            metrics.advisories_reload.clone(),
            context.shutdown.clone(),
        )?;
        Ok(Processors {
            engine: Engine::default(),
            store,
            router: Router::new(context.registry.clone(), settings),
            rules,
            advisories,
            metrics,
            heartbeat_timeout_ms: settings.heartbeat_timeout_ms as i64,
            checkpoint_interval: settings.checkpoint_interval_ms,
            last_checkpoint: Instant::now(),
            registry_offset_seen: -1,
        })
    }

    /// Every installation held here judged against `catalogue` at once (a new or changed
    /// advisory lists its affected installations without waiting for their next inventory).
    async fn judge_every_installation(&mut self, catalogue: &Catalogue) -> Vec<Alert> {
        let token = format!("advisory-catalogue-v{}", catalogue.catalogue_version);
        let at_ms = self.engine.watermark();
        let mut alerts = Vec::new();
        for installation_id in self.engine.installation_ids() {
            if let Some(routed) = self.router.route(&installation_id).await {
                alerts.extend(self.engine.judge_advisories(
                    &installation_id,
                    catalogue,
                    &token,
                    at_ms,
                    &routed.audience,
                ));
            }
        }
        alerts
    }

    /// Publishes alert state changes; the beat's offset is not committed until they are
    /// acknowledged, so a crash here re-evaluates the beat instead of losing them. Keyed by
    /// customer (installation when unknown): one customer's alerts stay in order in one
    /// partition, where the notifier counts them against the customer's limits.
    async fn publish_alerts(&self, context: &Context, alerts: &[Alert]) -> Result<(), StageError> {
        for alert in alerts {
            let key = if alert.customer_id.is_empty() {
                &alert.installation_id
            } else {
                &alert.customer_id
            };
            let headers = OwnedHeaders::new().insert(kafka::header("ucx-rule", &alert.rule_id));
            let record = encode_alert(alert).map_err(anyhow::Error::from)?;
            let what = format!("publishing alert {}", alert.alert_id);
            context
                .publish(&context.kafka.alerts_topic, key, &record, headers, &what)
                .await?;
            self.metrics.record(alert);
        }
        Ok(())
    }

    async fn publish_changes(
        &self,
        context: &Context,
        changes: &[Change],
    ) -> Result<(), StageError> {
        for change in changes {
            let record = encode_change(change).map_err(anyhow::Error::from)?;
            let what = format!("publishing change {}", change.change_id);
            context
                .publish(
                    &context.kafka.changes_topic,
                    &change.installation_id,
                    &record,
                    OwnedHeaders::new(),
                    &what,
                )
                .await?;
            self.metrics.record_change(change);
        }
        Ok(())
    }
}

impl Stage for Processors {
    async fn handle(
        &mut self,
        context: &Context,
        record: &BorrowedMessage<'_>,
    ) -> Result<Flow, StageError> {
        let at = Applied {
            partition: record.partition(),
            offset: record.offset(),
        };
        let beat = match decode_beat(record.payload().unwrap_or_default()) {
            Ok(beat) => beat,
            Err(error) => {
                let detail = error.to_string();
                context
                    .dead_letter(record, DeadLetterReason::Undecodable, &detail)
                    .await?;
                return Ok(Flow::Continue);
            }
        };
        let installation_id = &beat.envelope.installation_id;
        let Some(routed) = self.router.route(installation_id).await else {
            let reason = self.router.inactive_reason(installation_id);
            self.metrics.skipped(reason.unwrap_or("telemetry_disabled"));
            return Ok(Flow::Continue);
        };
        let library = self.rules.borrow().clone();
        let Some(outcome) = self.engine.apply(&beat, at, &library, &routed) else {
            self.metrics.skipped("already_applied");
            return Ok(Flow::Continue);
        };
        self.publish_changes(context, &outcome.changes).await?;
        let mut alerts = outcome.alerts;
        if crate::advisories::informed_by(beat.category()) {
            let catalogue = self.advisories.borrow().clone();
            alerts.extend(self.engine.judge_advisories(
                installation_id,
                &catalogue,
                &beat.envelope.beat_id,
                beat.envelope.sent_at,
                &routed.audience,
            ));
        }
        self.publish_alerts(context, &alerts).await?;
        Ok(Flow::Continue)
    }

    fn checkpoint_due(&self) -> Option<Instant> {
        Some(self.last_checkpoint + self.checkpoint_interval)
    }

    /// What the registry and the rule library changed since the last checkpoint, applied to
    /// the alerts held here (acknowledgements; installations revoked or opted out; rules
    /// removed from the library), then the changed states written (consumption waits: nothing
    /// is committed past unsaved state).
    async fn checkpoint(&mut self, context: &Context) -> Result<(), StageError> {
        let router = &self.router;
        let mut alerts = self
            .engine
            .acknowledge(|alert_id| router.acknowledgement(alert_id));
        let registry_offset = context.registry.progress().next_offset;
        let mut erased = Vec::new();
        if registry_offset != self.registry_offset_seen {
            self.registry_offset_seen = registry_offset;
            alerts.extend(
                self.engine
                    .close_inactive(|id| router.inactive_reason(id).is_none()),
            );
            erased = self.engine.forget(|id| router.erased(id));
        }
        if self.rules.has_changed().unwrap_or(false) {
            let library = self.rules.borrow_and_update().clone();
            alerts.extend(self.engine.retire(&library));
        }
        if self.advisories.has_changed().unwrap_or(false) {
            let catalogue = self.advisories.borrow_and_update().clone();
            alerts.extend(self.judge_every_installation(&catalogue).await);
        }
        self.publish_alerts(context, &alerts).await?;
        let documents = self.engine.take_dirty();
        let refused = retry_transient("writing state", Backoff::STANDARD, &context.give_up, || {
            self.store.write(&documents)
        })
        .await?;
        for (installation_id, error) in refused {
            tracing::error!(%installation_id, %error, "the broker refused the state record; it lives in memory only");
            self.engine.not_written();
        }
        if !erased.is_empty() {
            retry_transient("erasing state", Backoff::STANDARD, &context.give_up, || {
                self.store.erase(&erased)
            })
            .await?;
            tracing::info!(
                installations = erased.len(),
                "state of opted-out installations erased"
            );
            self.metrics.states_erased.inc_by(erased.len() as u64);
        }
        self.metrics.state_documents.inc_by(documents.len() as u64);
        self.metrics.observe(&self.engine);
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Reminders that are due; silence is judged only when nothing is left to consume (see
    /// `heartbeat.rs`); revoked and opted-out installations are not watched.
    async fn tick(&mut self, context: &Context, tick: Tick) -> Result<Flow, StageError> {
        let mut alerts = Vec::new();
        // reminders come from the clock (event time), idle or not
        for installation_id in self.engine.due_reminders() {
            if let Some(routed) = self.router.route(&installation_id).await {
                alerts.extend(self.engine.remind(&installation_id, &routed.audience));
            }
        }
        if tick.caught_up && self.heartbeat_timeout_ms > 0 {
            for installation_id in self.engine.lost(self.heartbeat_timeout_ms) {
                if let Some(routed) = self.router.route(&installation_id).await {
                    alerts.extend(self.engine.raise_lost(
                        &installation_id,
                        self.heartbeat_timeout_ms,
                        &routed.audience,
                    ));
                }
            }
        }
        self.publish_alerts(context, &alerts).await?;
        Ok(Flow::Continue)
    }

    /// The partitions may have been someone else's in between: what is in memory is dropped
    /// and the changelog is the truth.
    async fn assigned(
        &mut self,
        context: &Context,
        partitions: &[(String, i32)],
    ) -> Result<(), StageError> {
        let beats_partitions: Vec<i32> = partitions
            .iter()
            .filter(|(topic, _)| *topic == context.kafka.beats_topic)
            .map(|(_, partition)| *partition)
            .collect();
        let counts = self.engine.counts();
        self.engine = Engine::restored(self.store.restore(&beats_partitions).await?);
        self.engine.carry(counts);
        self.metrics.restored(beats_partitions.len());
        // the registry and the library may have changed while these states were elsewhere
        self.registry_offset_seen = -1;
        let library = self.rules.borrow().clone();
        let mut retired = self.engine.retire(&library);
        let catalogue = self.advisories.borrow_and_update().clone();
        retired.extend(self.judge_every_installation(&catalogue).await);
        self.publish_alerts(context, &retired).await?;
        tracing::info!(
            partitions = ?beats_partitions,
            installations = self.engine.installations(),
            open_alerts = self.engine.open_alerts(),
            "state restored"
        );
        Ok(())
    }
}
