//! Backtest: what a candidate rule library would have done to the fleet, before it mails anyone.
//! Stored beats are replayed through the processors' own [`Engine`] twice, once with the library
//! in force and once with the candidate, in the order the processors read them (per partition,
//! by offset: one installation's beats in the order they were received), and the two sets of
//! alert changes are compared episode by episode ([`episodes`]) into a [`report`].
//!
//! Exact for what beats decide (openings, escalations, resolutions, their ids and times); not
//! replayed: what the live processors decide from the wall clock or from support between beats
//! (heartbeat loss, reminders, acknowledgements), and the registry is taken as it is now.

pub mod cli;
pub mod episodes;
pub mod judge;
pub mod report;
pub mod shards;
pub mod source;

use std::collections::HashMap;
use std::sync::Arc;

use ucx_schemas::{Alert, Beat};

use crate::engine::Engine;
use crate::routing::Routed;
use crate::rules::library::RuleLibrary;
use crate::state::Applied;

/// One library's replay: its engine (states of every installation replayed) and the alert
/// changes it made within the reported window.
struct Side {
    library: RuleLibrary,
    engine: Engine,
    alerts: Vec<Alert>,
}

/// The replay of one window: beats up to `to_ms` are applied (those before `from_ms` warm the
/// state up: baselines, trends, streaks), alert changes from `from_ms` on are kept.
pub struct Replay {
    sides: [Side; 2],
    from_ms: i64,
    to_ms: i64,
    /// Beats applied, per installation.
    pub beats: HashMap<String, u64>,
}

impl Replay {
    pub fn new(in_force: RuleLibrary, candidate: RuleLibrary, from_ms: i64, to_ms: i64) -> Self {
        let side = |library| Side {
            library,
            engine: Engine::default(),
            alerts: Vec::new(),
        };
        Replay {
            sides: [side(in_force), side(candidate)],
            from_ms,
            to_ms,
            beats: HashMap::new(),
        }
    }

    /// Applies one beat read at `at` to both libraries' states. Beats received after the window
    /// are not applied.
    pub fn apply(&mut self, beat: &Beat, at: Applied, routed: &Routed) {
        if beat.envelope.received_at >= self.to_ms {
            return;
        }
        // counted without copying the id on every beat
        match self.beats.get_mut(&beat.envelope.installation_id) {
            Some(count) => *count += 1,
            None => {
                self.beats.insert(beat.envelope.installation_id.clone(), 1);
            }
        }
        let from_ms = self.from_ms;
        for side in &mut self.sides {
            if let Some(outcome) = side.engine.apply(beat, at, &side.library, routed) {
                side.alerts.extend(
                    outcome
                        .alerts
                        .into_iter()
                        .filter(|alert| alert.event_at >= from_ms),
                );
            }
        }
    }

    /// The alert changes of the library in force and of the candidate, in the order they were
    /// made.
    pub fn finish(self) -> Outcomes {
        let [in_force, candidate] = self.sides;
        Outcomes {
            in_force: in_force.alerts,
            candidate: candidate.alerts,
            in_force_library: in_force.library,
            candidate_library: candidate.library,
            beats: self.beats,
        }
    }
}

/// What a replay produced.
pub struct Outcomes {
    pub in_force: Vec<Alert>,
    pub candidate: Vec<Alert>,
    pub in_force_library: RuleLibrary,
    pub candidate_library: RuleLibrary,
    pub beats: HashMap<String, u64>,
}

/// A backtest of a simulated, labelled scenario without broker or gateway (the rule library's
/// quality gate, the backtest benchmark): the fleet's beats as the simulator makes them, routed
/// by the registry it would have, through both libraries.
pub async fn simulated(
    scenario: ucx_simulator::offline::Scenario,
    in_force: RuleLibrary,
    candidate: RuleLibrary,
) -> (
    Outcomes,
    ucx_simulator::labels::RunInfo,
    Vec<ucx_simulator::faults::Fault>,
) {
    let routes = simulated_routes(&scenario).await;
    let mut replay = Replay::new(in_force, candidate, scenario.start_ms, scenario.end_ms());
    let mut offset = 0;
    let (run, faults) = ucx_simulator::offline::play(scenario, |beat| {
        offset += 1;
        if let Some(routed) = routes.get(&beat.envelope.installation_id) {
            let at = Applied {
                partition: 0,
                offset,
            };
            replay.apply(&beat, at, routed);
        }
    });
    (replay.finish(), run, faults)
}

/// The router of a simulated fleet: the registry it would have, the default settings.
pub fn simulated_router(installations: usize) -> crate::routing::Router {
    let registry = Arc::new(ucx_common::registry::RegistryView::loaded_from(
        ucx_simulator::offline::registry(installations),
    ));
    crate::routing::Router::new(registry, &crate::ProcessorSettings::default())
}

/// How the simulated fleet's installations are routed: by the registry it would have.
async fn simulated_routes(
    scenario: &ucx_simulator::offline::Scenario,
) -> HashMap<String, Arc<Routed>> {
    let router = simulated_router(scenario.installations);
    let mut routes: HashMap<String, Arc<Routed>> = HashMap::new();
    for index in 0..scenario.installations {
        let id = format!("inst-{:04}", index + 1);
        if let Some(routed) = router.route(&id).await {
            routes.insert(id, routed);
        }
    }
    routes
}
