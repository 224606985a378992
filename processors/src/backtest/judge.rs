//! One library judging generated beats as the live processors would, silence included: the
//! beats of a simulated fleet come in event-time order, so after every minute of event time the
//! installations silent past `heartbeat_timeout_ms` are raised as the processors' idle tick raises
//! them on a pipeline that keeps up. For the detection-quality scenarios (no broker, no gateway).

use std::collections::HashMap;
use std::sync::Arc;

use ucx_common::registry::RegistryView;
use ucx_schemas::registry::RegistryRecord;
use ucx_schemas::{Alert, Beat};

use crate::engine::Engine;
use crate::routing::{Routed, Router};
use crate::rules::library::RuleLibrary;
use crate::state::Applied;

/// How often silence is judged, in event time.
const TICK_MS: i64 = 60_000;

pub struct Judge {
    library: RuleLibrary,
    engine: Engine,
    routes: HashMap<String, Arc<Routed>>,
    /// 0: silence is not judged.
    heartbeat_timeout_ms: i64,
    next_tick_ms: i64,
    offset: i64,
    pub alerts: Vec<Alert>,
    pub beats: u64,
}

impl Judge {
    /// A judge of the installations `installations` of `registry` (customers, installations,
    /// silences and maintenance windows), routed with the processors' default settings.
    pub async fn new(
        library: RuleLibrary,
        registry: Vec<RegistryRecord>,
        installations: &[String],
        heartbeat_timeout_ms: i64,
    ) -> Self {
        let view = Arc::new(RegistryView::loaded_from(registry));
        let router = Router::new(view, &crate::ProcessorSettings::default());
        let mut routes = HashMap::new();
        for id in installations {
            if let Some(routed) = router.route(id).await {
                routes.insert(id.clone(), routed);
            }
        }
        Judge {
            library,
            engine: Engine::default(),
            routes,
            heartbeat_timeout_ms,
            next_tick_ms: i64::MIN,
            offset: 0,
            alerts: Vec::new(),
            beats: 0,
        }
    }

    /// Judges one beat (and, first, the silences up to its time).
    pub fn beat(&mut self, beat: &Beat) {
        let installation_id = &beat.envelope.installation_id;
        if !self.routes.contains_key(installation_id) {
            return;
        }
        let at_ms = beat.envelope.received_at;
        if self.heartbeat_timeout_ms > 0 {
            if self.next_tick_ms == i64::MIN {
                self.next_tick_ms = at_ms + TICK_MS;
            }
            while at_ms >= self.next_tick_ms {
                self.tick();
                self.next_tick_ms += TICK_MS;
            }
        }
        self.offset += 1;
        let at = Applied {
            partition: 0,
            offset: self.offset,
        };
        self.beats += 1;
        let routed = &self.routes[installation_id];
        if let Some(outcome) = self.engine.apply(beat, at, &self.library, routed) {
            self.alerts.extend(outcome.alerts);
        }
    }

    /// The state documents a checkpoint would write now (every installation judged since the
    /// last call), as the processors encode them.
    pub fn take_state_documents(&mut self) -> Vec<Vec<u8>> {
        let documents = self.engine.take_dirty();
        documents
            .into_iter()
            .map(|(_, _, document)| document)
            .collect()
    }

    /// What the processors' idle tick does about silence.
    fn tick(&mut self) {
        for installation_id in self.engine.lost(self.heartbeat_timeout_ms) {
            if let Some(routed) = self.routes.get(&installation_id) {
                let raised = self.engine.raise_lost(
                    &installation_id,
                    self.heartbeat_timeout_ms,
                    &routed.audience,
                );
                self.alerts.extend(raised);
            }
        }
    }
}
