//! The stage runtime: everything a consumer stage (processors, sinks, notifier) does besides its
//! own logic, written once. It creates the topics, serves `/metrics`, `/health` and `/ready`
//! (broker, ClickHouse and registry probes), follows the customer registry and waits until it
//! is loaded, then runs the loop
//!
//! ```text
//! consume → stage.handle → (checkpoint due?) stage.checkpoint → commit the handled offsets
//!        ↘ idle or due: stage.tick                  ↘ new assignment: stage.assigned
//! ```
//!
//! A stage implements [`Stage`]: what to do with one record, how to make what it handled
//! durable (a checkpoint: rows inserted, state written), periodic work, and what to do when its
//! partitions change. Offsets are committed only after a checkpoint succeeded, so every record
//! is handled at least once; stages make the repetition invisible (table keys, state that
//! records what it includes, the mail ledger).
//!
//! On shutdown no new record is read; the record in hand and a last checkpoint may take up to
//! [`GRACE`] (retries end then), and the process exits 0. What was not checkpointed is read
//! again at the next start.

mod context;
mod metrics;
mod offsets;
mod progress;
mod stuck_lag;

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use context::{Context, DeadLetterReason};
pub use metrics::StageMetrics;
use offsets::Offsets;
pub use progress::Progress;

use crate::config::{ClickHouseSettings, KafkaSettings};
use crate::kafka::{self, LagContext};
use crate::readiness::Readiness;
use crate::retry::{retry, Backoff, Failure, Gaveup, Stopped};

/// How long the work in hand may go on after a stop was asked for.
pub const GRACE: Duration = Duration::from_secs(10);
/// A call (a record, a checkpoint, a tick) going on this long means the stage cannot make
/// progress (a write failing, a dependency gone): `/ready` turns red, naming it.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

/// What a stage is, for the runtime.
pub struct StageSpec {
    /// `processors`, `sinks`, `notifier`: the `stage` label and the dead letters' origin.
    pub name: &'static str,
    /// Consumer group; instances in one group share the topics' partitions.
    pub group_id: String,
    pub topics: Vec<String>,
    /// Probed for readiness when the stage writes to or reads from ClickHouse.
    pub clickhouse: Option<ClickHouseSettings>,
    /// How often [`Stage::tick`] runs.
    pub tick_interval: Duration,
    /// Whether [`Tick::caught_up`] is wanted: it asks the broker for watermarks (a blocking
    /// round trip per partition not caught up yet), so only stages that need it pay for it.
    pub watch_progress: bool,
    /// How long the broker may hold a fetch while nothing new waits (librdkafka's
    /// `fetch.wait.max.ms`): a bound on how late a quiet stage sees a record from a broker that
    /// answers held fetches late (the local tansu broker held them to the end: beat → alert took
    /// 150 ms on a quiet pipeline with librdkafka's 500 ms), and the rate of empty fetches then.
    pub fetch_wait: Duration,
}

/// What the runtime should do after a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Checkpoint now (a batch is full, a purge waits for the rows before it).
    Checkpoint,
}

/// Why a stage call did not finish.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The stage was told to stop while the call waited: its work is not done, nothing after
    /// the last checkpoint is committed.
    #[error("stopped before the work in hand was done")]
    Stopped,
    /// The stage cannot go on (its process should exit and be restarted).
    #[error(transparent)]
    Fatal(#[from] anyhow::Error),
}

impl From<Stopped> for StageError {
    fn from(_: Stopped) -> Self {
        StageError::Stopped
    }
}

/// When [`Stage::tick`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// No record was waiting: the stage is idle.
    pub idle: bool,
    /// Idle, and every assigned partition was read to its end since the assignment.
    pub caught_up: bool,
}

/// A consumer stage's own logic; the runtime owns the loop around it.
pub trait Stage: Send {
    /// Handles one record. A record that cannot be handled goes to the dead-letter topic
    /// through [`Context::dead_letter`]; `Err` only when the stage stops or cannot go on.
    fn handle(
        &mut self,
        context: &Context,
        record: &BorrowedMessage<'_>,
    ) -> impl Future<Output = Result<Flow, StageError>> + Send;

    /// When the next checkpoint is due; `None`: nothing waits for one.
    fn checkpoint_due(&self) -> Option<Instant>;

    /// Makes every record handled so far durable; once it returns `Ok`, their offsets are
    /// committed.
    fn checkpoint(
        &mut self,
        context: &Context,
    ) -> impl Future<Output = Result<(), StageError>> + Send;

    /// Periodic work, every [`StageSpec::tick_interval`].
    fn tick(
        &mut self,
        _context: &Context,
        _tick: Tick,
    ) -> impl Future<Output = Result<Flow, StageError>> + Send {
        async { Ok(Flow::Continue) }
    }

    /// The partitions changed: every record not committed will be read again, from the
    /// committed offsets of `partitions` (`(topic, partition)` now assigned).
    fn assigned(
        &mut self,
        _context: &Context,
        _partitions: &[(String, i32)],
    ) -> impl Future<Output = Result<(), StageError>> + Send {
        async { Ok(()) }
    }
}

/// Runs a stage until `shutdown` is cancelled: start-up (topics, ops endpoint, registry), then
/// `build` makes the stage from the ready [`Context`], then the consume loop.
pub async fn run<S, Build, Building>(
    spec: StageSpec,
    kafka_settings: &KafkaSettings,
    ops_listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
    build: Build,
) -> anyhow::Result<()>
where
    S: Stage,
    Build: FnOnce(Arc<Context>) -> Building,
    Building: Future<Output = anyhow::Result<S>>,
{
    let metrics_registry = prometheus::Registry::new();
    let metrics = StageMetrics::new(&metrics_registry, spec.name);
    let readiness = Readiness::default();
    readiness.probe_broker(kafka_settings, shutdown.clone());
    if let Some(clickhouse) = &spec.clickhouse {
        readiness.probe_clickhouse(clickhouse, shutdown.clone());
    }
    let ops_listener_port = ops_listener.local_addr()?.port();
    let ops = crate::ops::spawn(
        spec.name,
        ops_listener,
        metrics_registry.clone(),
        readiness.clone(),
        shutdown.clone(),
    );
    // Host name and listen port: unique among running processes, the same after a restart.
    let host = hostname::get().map_or_else(
        |_| "unknown-host".to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let instance_id = format!("{host}:{}", ops_listener_port);
    // A broker that is still starting (or slow to create topics) is waited for, with `/ready`
    // naming the wait, rather than ending the process.
    readiness.expect(TOPICS_CHECK);
    match retry(
        "creating the pipeline topics",
        Backoff::STANDARD,
        &shutdown,
        || async {
            kafka::ensure_pipeline_topics(kafka_settings)
                .await
                .map_err(|error| {
                    readiness.set(TOPICS_CHECK, Err(format!("creating them: {error}")));
                    match kafka::is_permanent_admin_error(&error) {
                        true => Failure::Permanent(error),
                        false => Failure::Transient(error),
                    }
                })
        },
    )
    .await
    {
        Ok(()) => readiness.set(TOPICS_CHECK, Ok(())),
        Err(Gaveup::Stopped) => {
            ops.await??;
            return Ok(());
        }
        Err(Gaveup::Permanent(error)) => {
            return Err(anyhow::Error::from(error).context("creating the pipeline topics"))
        }
    }
    // The group join (seconds on some brokers) runs beside the registry load; no record is
    // handed to the stage before the registry is loaded and the stage built.
    let consumer = Arc::new(kafka::consumer_with_lag(
        kafka_settings,
        &spec.group_id,
        &instance_id,
        metrics.consumer_lag.clone(),
        spec.fetch_wait,
    )?);
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    kafka::subscribe(&consumer, &topics)?;
    let registry = crate::registry::follow(kafka_settings, shutdown.clone()).await?;
    readiness.expect(REGISTRY_CHECK);
    let give_up = CancellationToken::new();
    tokio::spawn(give_up_after_grace(shutdown.clone(), give_up.clone()));
    let context = Arc::new(Context {
        stage: spec.name,
        kafka: kafka_settings.clone(),
        producer: Arc::new(kafka::Producer::new(kafka_settings)?),
        registry: registry.clone(),
        metrics_registry,
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        shutdown: shutdown.clone(),
        give_up,
    });
    if !wait_for_registry(&context).await {
        ops.await??;
        return Ok(());
    }
    // From now on the check follows the view: an unreadable record or a failing reader turns
    // the stage not ready, with the reason.
    readiness.probe(REGISTRY_CHECK, shutdown.clone(), move || {
        let registry = registry.clone();
        async move { registry.health() }
    });
    let busy = Busy::default();
    watch_busy(&context, busy.clone());
    stuck_lag::watch(
        consumer.clone(),
        busy.clone(),
        metrics.consumer_lag.clone(),
        shutdown.clone(),
    );
    let stage = build(context.clone()).await?;
    let outcome = Runner {
        stage,
        context: &context,
        tick_interval: spec.tick_interval,
        handled: Offsets::default(),
        progress: Progress::default(),
        watch_progress: spec.watch_progress,
        busy,
        received: Vec::new(),
        rebalances_seen: 0,
    }
    .run(&consumer)
    .await;
    tracing::info!(stage = spec.name, "stopped");
    ops.await??;
    outcome
}

const REGISTRY_CHECK: &str = "registry";
const TOPICS_CHECK: &str = "topics";

/// Records of a purged period, the customer's tier and contacts are decided on the registry:
/// nothing is consumed before it was read to its end. False when stopped meanwhile.
async fn wait_for_registry(context: &Context) -> bool {
    loop {
        if context.registry.wait_loaded(Duration::from_secs(5)).await {
            context.readiness.set(REGISTRY_CHECK, Ok(()));
            return true;
        }
        if context.shutdown.is_cancelled() {
            return false;
        }
        context
            .readiness
            .set(REGISTRY_CHECK, Err("not loaded yet".into()));
        tracing::warn!(
            stage = context.stage,
            "waiting for the customer registry before consuming"
        );
    }
}

async fn give_up_after_grace(shutdown: CancellationToken, give_up: CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(GRACE).await;
    give_up.cancel();
}

struct Runner<'c, S> {
    stage: S,
    context: &'c Context,
    tick_interval: Duration,
    /// Per (topic, partition): the offset after the newest handled record, committed at the
    /// next checkpoint.
    handled: Offsets,
    progress: Progress,
    watch_progress: bool,
    rebalances_seen: u64,
    busy: Busy,
    received: Vec<(String, prometheus::IntCounter)>,
}

/// Which call of the stage is going on, and since when. Written before and after every record,
/// so without a lock: the readiness probe and the lag watch only read it.
#[derive(Clone)]
struct Busy(Arc<BusyState>);

struct BusyState {
    /// What `since` counts from.
    origin: Instant,
    /// Nanoseconds from `origin` to the start of the current call, plus one; 0 when idle.
    since: AtomicU64,
    /// The current call, a [`Call`] as its discriminant.
    call: AtomicU8,
}

#[derive(Clone, Copy)]
enum Call {
    Record,
    Tick,
    Assignment,
    Checkpoint,
}

impl Call {
    const ALL: [Call; 4] = [Call::Record, Call::Tick, Call::Assignment, Call::Checkpoint];

    fn as_str(self) -> &'static str {
        match self {
            Call::Record => "record",
            Call::Tick => "tick",
            Call::Assignment => "assignment",
            Call::Checkpoint => "checkpoint",
        }
    }
}

impl Default for Busy {
    fn default() -> Self {
        Busy(Arc::new(BusyState {
            origin: Instant::now(),
            since: AtomicU64::new(0),
            call: AtomicU8::new(0),
        }))
    }
}

impl Busy {
    fn start(&self, call: Call) {
        let since = self.0.origin.elapsed().as_nanos() as u64 + 1;
        self.0.call.store(call as u8, Ordering::Relaxed);
        self.0.since.store(since, Ordering::Release);
    }

    fn end(&self) {
        self.0.since.store(0, Ordering::Release);
    }

    fn current(&self) -> Option<(Duration, &'static str)> {
        let since = self.0.since.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        // Read after `since`: at worst the next call's name, a moment early.
        let call = Call::ALL[usize::from(self.0.call.load(Ordering::Relaxed))];
        let now = self.0.origin.elapsed().as_nanos() as u64 + 1;
        Some((
            Duration::from_nanos(now.saturating_sub(since)),
            call.as_str(),
        ))
    }
}

const PROGRESS_CHECK: &str = "progress";

/// Publishes how long the current call has been going, and turns `/ready` red while one goes on
/// longer than [`STUCK_AFTER`].
fn watch_busy(context: &Context, busy: Busy) {
    let gauge = context.metrics.busy_seconds.clone();
    context
        .readiness
        .probe(PROGRESS_CHECK, context.shutdown.clone(), move || {
            let current = busy.current();
            let gauge = gauge.clone();
            async move {
                gauge.set(current.map_or(0.0, |(going, _)| going.as_secs_f64()));
                match current {
                    Some((going, what)) if going > STUCK_AFTER => Err(format!(
                        "stuck: one {what} has been going for {} s (see the log)",
                        going.as_secs()
                    )),
                    _ => Ok(()),
                }
            }
        });
}

enum Event<'m> {
    Record(Result<BorrowedMessage<'m>, rdkafka::error::KafkaError>),
    CheckpointDue,
    Tick,
}

impl<S: Stage> Runner<'_, S> {
    async fn run(mut self, consumer: &StreamConsumer<LagContext>) -> anyhow::Result<()> {
        let mut next_tick = Instant::now() + self.tick_interval;
        let outcome = loop {
            let due = self.stage.checkpoint_due();
            let event = tokio::select! {
                biased;
                _ = self.context.shutdown.cancelled() => break Ok(()),
                received = consumer.recv() => Event::Record(received),
                _ = sleep_until(due), if due.is_some() => Event::CheckpointDue,
                _ = tokio::time::sleep_until(next_tick) => Event::Tick,
            };
            if let Err(error) = self.follow_rebalance(consumer).await {
                break Err(error);
            }
            let step = match event {
                Event::Record(Ok(record)) => self.handle(&record).await,
                Event::Record(Err(error)) => {
                    kafka::pause_after_consume_error(&error).await;
                    Ok(Flow::Continue)
                }
                Event::CheckpointDue => Ok(Flow::Checkpoint),
                Event::Tick => {
                    next_tick = Instant::now() + self.tick_interval;
                    let caught_up = self.watch_progress && self.progress.caught_up(consumer);
                    let tick = Tick {
                        idle: true,
                        caught_up,
                    };
                    self.busy.start(Call::Tick);
                    let ticked = self.stage.tick(self.context, tick).await;
                    self.busy.end();
                    ticked
                }
            };
            // One clock read for both checks below (a record at a time, it counts).
            let now = Instant::now();
            // Under a steady stream the tick's timer never wins the race: tick between records.
            let step = match step {
                Ok(flow) if now >= next_tick => {
                    next_tick = now + self.tick_interval;
                    let tick = Tick {
                        idle: false,
                        caught_up: false,
                    };
                    self.busy.start(Call::Tick);
                    let ticked = self.stage.tick(self.context, tick).await;
                    self.busy.end();
                    ticked.map(|after| max_flow(flow, after))
                }
                other => other,
            };
            let checkpoint_now = match step {
                Ok(Flow::Checkpoint) => true,
                Ok(Flow::Continue) => self.stage.checkpoint_due().is_some_and(|due| now >= due),
                Err(error) => break Err(error),
            };
            if checkpoint_now {
                if let Err(error) = self.checkpoint(consumer).await {
                    break Err(error);
                }
            }
        };
        match outcome {
            // A planned stop: a last checkpoint, so that the next start replays nothing.
            Ok(()) => match self.checkpoint(consumer).await {
                Ok(()) => Ok(()),
                Err(StageError::Stopped) => {
                    tracing::warn!(stage = self.context.stage, "last checkpoint not done within the grace period; the next start reads the records since the previous one again");
                    Ok(())
                }
                Err(StageError::Fatal(error)) => Err(error),
            },
            // Stopped half-way through a record or checkpoint: nothing of it is committed.
            Err(StageError::Stopped) => {
                tracing::warn!(
                    stage = self.context.stage,
                    "stopped with work in hand; it is read again at the next start"
                );
                Ok(())
            }
            Err(StageError::Fatal(error)) => Err(error),
        }
    }

    async fn handle(&mut self, record: &BorrowedMessage<'_>) -> Result<Flow, StageError> {
        let (topic, partition, offset) = (record.topic(), record.partition(), record.offset());
        self.received_counter(topic).inc();
        self.busy.start(Call::Record);
        let flow = self.stage.handle(self.context, record).await;
        self.busy.end();
        let flow = flow?;
        self.handled.set(topic, partition, offset + 1);
        if self.watch_progress {
            self.progress.consumed(topic, partition, offset);
        }
        Ok(flow)
    }

    /// `ucx_records_received_total` of `topic`, looked up once per topic, not per record.
    fn received_counter(&mut self, topic: &str) -> &prometheus::IntCounter {
        let index = match self.received.iter().position(|(name, _)| name == topic) {
            Some(index) => index,
            None => {
                let counter = self
                    .context
                    .metrics
                    .records_received
                    .with_label_values(&[topic]);
                self.received.push((topic.to_string(), counter));
                self.received.len() - 1
            }
        };
        &self.received[index].1
    }

    /// A new assignment: the partitions may have been someone else's in between, so nothing
    /// handled but not committed counts any more (librdkafka restarts every assigned partition
    /// from its committed offset).
    async fn follow_rebalance(
        &mut self,
        consumer: &StreamConsumer<LagContext>,
    ) -> Result<(), StageError> {
        let rebalances = consumer.context().rebalances();
        if rebalances == self.rebalances_seen {
            return Ok(());
        }
        self.rebalances_seen = rebalances;
        self.context.metrics.rebalances.inc();
        self.handled.clear();
        self.progress = Progress::assigned(consumer);
        let partitions: Vec<(String, i32)> = match consumer.assignment() {
            Ok(assignment) => assignment
                .elements()
                .iter()
                .map(|element| (element.topic().to_string(), element.partition()))
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "reading the assignment");
                Vec::new()
            }
        };
        self.busy.start(Call::Assignment);
        let assigned = self.stage.assigned(self.context, &partitions).await;
        self.busy.end();
        assigned
    }

    /// The stage's checkpoint, then the commit of what it covered. A failed commit (e.g. the
    /// partition moved to another instance) only means those records are handled again.
    async fn checkpoint(
        &mut self,
        consumer: &StreamConsumer<LagContext>,
    ) -> Result<(), StageError> {
        self.busy.start(Call::Checkpoint);
        let checkpointed = self.stage.checkpoint(self.context).await;
        self.busy.end();
        checkpointed?;
        if self.handled.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (topic, partition, next) in self.handled.iter() {
            offsets
                .add_partition_offset(topic, partition, Offset::Offset(next))
                .map_err(anyhow::Error::from)?;
        }
        self.handled.clear();
        let mode = if self.context.shutdown.is_cancelled() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        if let Err(error) = consumer.commit(&offsets, mode) {
            self.context.metrics.commit_failures.inc();
            tracing::warn!(stage = self.context.stage, %error, "offset commit failed; records since the last commit are read again");
        }
        self.context.metrics.checkpoints.inc();
        Ok(())
    }
}

fn max_flow(a: Flow, b: Flow) -> Flow {
    if a == Flow::Checkpoint || b == Flow::Checkpoint {
        Flow::Checkpoint
    } else {
        Flow::Continue
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_names_the_call_going_on_and_how_long_until_it_ends() {
        let busy = Busy::default();
        assert_eq!(busy.current(), None);
        busy.start(Call::Checkpoint);
        std::thread::sleep(Duration::from_millis(20));
        let (going, what) = busy.current().expect("a call is going on");
        assert_eq!(what, "checkpoint");
        assert!(going >= Duration::from_millis(20), "{going:?}");
        busy.end();
        assert_eq!(busy.current(), None);
        busy.start(Call::Record);
        assert_eq!(busy.current().map(|(_, what)| what), Some("record"));
    }
}
