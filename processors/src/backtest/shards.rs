//! A backtest on every core: records are dealt to shards by their key (the installation id, as
//! the gateway produces them), so each installation's beats stay in one shard in the order they
//! were read; each shard decodes, routes and replays its installations on a task of its own, and
//! their outcomes are merged at the end. States of installations are independent, so the result
//! is the one a single replay gives.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Outcomes, Replay};
use crate::routing::{Routed, Router};
use crate::rules::library::RuleLibrary;
use crate::state::Applied;

/// Records handed to a shard at once: fewer channel round trips.
const BATCH: usize = 512;

/// One record of the beats topic.
pub struct Record {
    pub payload: Vec<u8>,
    pub at: Applied,
}

/// What a shard hands back.
struct Done {
    replay: Replay,
    undecodable: u64,
}

pub struct Shards {
    senders: Vec<mpsc::Sender<Vec<Record>>>,
    batches: Vec<Vec<Record>>,
    tasks: Vec<JoinHandle<Done>>,
}

impl Shards {
    /// `count` shards replaying `in_force` and `candidate` over `from_ms`..`to_ms`; only the
    /// installations of `only` (all when empty).
    pub fn start(
        count: usize,
        libraries: (&RuleLibrary, &RuleLibrary),
        window: (i64, i64),
        router: Arc<Router>,
        only: Arc<HashSet<String>>,
    ) -> Self {
        let count = count.max(1);
        let mut senders = Vec::with_capacity(count);
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (sender, receiver) = mpsc::channel(4);
            let replay = Replay::new(libraries.0.clone(), libraries.1.clone(), window.0, window.1);
            tasks.push(tokio::spawn(shard(
                receiver,
                replay,
                router.clone(),
                only.clone(),
            )));
            senders.push(sender);
        }
        Shards {
            senders,
            batches: (0..count).map(|_| Vec::with_capacity(BATCH)).collect(),
            tasks,
        }
    }

    /// Deals a record to the shard of its key.
    pub async fn push(&mut self, key: &[u8], record: Record) {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let index = (hasher.finish() % self.senders.len() as u64) as usize;
        self.batches[index].push(record);
        if self.batches[index].len() >= BATCH {
            let batch = std::mem::replace(&mut self.batches[index], Vec::with_capacity(BATCH));
            // a shard only stops when its sender is dropped: it is there to receive
            let _ = self.senders[index].send(batch).await;
        }
    }

    /// Waits for every shard; their outcomes merged, and how many records were no beat.
    pub async fn finish(mut self) -> anyhow::Result<(Outcomes, u64)> {
        for (index, batch) in std::mem::take(&mut self.batches).into_iter().enumerate() {
            if !batch.is_empty() {
                let _ = self.senders[index].send(batch).await;
            }
        }
        drop(self.senders);
        let mut merged: Option<Outcomes> = None;
        let mut undecodable = 0;
        for task in self.tasks {
            let done = task.await?;
            undecodable += done.undecodable;
            let outcomes = done.replay.finish();
            merged = Some(match merged {
                None => outcomes,
                Some(mut all) => {
                    all.in_force.extend(outcomes.in_force);
                    all.candidate.extend(outcomes.candidate);
                    all.beats.extend(outcomes.beats);
                    all
                }
            });
        }
        Ok((merged.expect("at least one shard"), undecodable))
    }
}

async fn shard(
    mut receiver: mpsc::Receiver<Vec<Record>>,
    mut replay: Replay,
    router: Arc<Router>,
    only: Arc<HashSet<String>>,
) -> Done {
    let mut routes: std::collections::HashMap<String, Option<Arc<Routed>>> = Default::default();
    let mut undecodable = 0;
    while let Some(batch) = receiver.recv().await {
        for record in batch {
            let Ok(beat) = ucx_schemas::decode_beat(&record.payload) else {
                undecodable += 1;
                continue;
            };
            let id = &beat.envelope.installation_id;
            if !only.is_empty() && !only.contains(id) {
                continue;
            }
            if !routes.contains_key(id) {
                // revoked and opted-out installations are not judged, as live
                routes.insert(id.clone(), router.route(id).await);
            }
            if let Some(Some(routed)) = routes.get(id) {
                replay.apply(&beat, record.at, routed);
            }
        }
    }
    Done {
        replay,
        undecodable,
    }
}
