//! The metrics every consumer stage reports under one set of names, told apart by the `stage`
//! label, so that dashboards and alert rules need one expression for all of them.

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::ops::register;

#[derive(Clone)]
pub struct StageMetrics {
    /// `ucx_consumer_lag{stage,topic,partition}`: records not yet consumed.
    pub consumer_lag: IntGaugeVec,
    /// `ucx_records_received_total{stage,topic}`
    pub records_received: IntCounterVec,
    /// `ucx_dead_letters_total{stage,topic,reason}`
    pub dead_letters: IntCounterVec,
    /// `ucx_checkpoints_total{stage}`: checkpoints after which offsets were committed.
    pub checkpoints: IntCounter,
    /// `ucx_offset_commit_failures_total{stage}`
    pub commit_failures: IntCounter,
    /// `ucx_rebalances_total{stage}`: new partition assignments.
    pub rebalances: IntCounter,
    /// `ucx_stage_busy_seconds{stage}`: how long the stage's current call (a record, a
    /// checkpoint, a tick) has been going; 0 between calls. Long means stuck.
    pub busy_seconds: prometheus::Gauge,
}

impl StageMetrics {
    pub fn new(registry: &Registry, stage: &str) -> Self {
        let opts = |name: &str, help: &str| Opts::new(name, help).const_label("stage", stage);
        StageMetrics {
            consumer_lag: register(
                registry,
                IntGaugeVec::new(
                    opts(
                        "ucx_consumer_lag",
                        "Records not yet consumed, by topic and partition (librdkafka statistics, every 5 s)",
                    ),
                    &["topic", "partition"],
                )
                .unwrap(),
            ),
            records_received: register(
                registry,
                IntCounterVec::new(opts("ucx_records_received_total", "Kafka records read, by topic"), &["topic"])
                    .unwrap(),
            ),
            dead_letters: register(
                registry,
                IntCounterVec::new(
                    opts(
                        "ucx_dead_letters_total",
                        "Records sent to the dead-letter topic, by source topic and reason",
                    ),
                    &["topic", "reason"],
                )
                .unwrap(),
            ),
            checkpoints: register(
                registry,
                IntCounter::with_opts(opts(
                    "ucx_checkpoints_total",
                    "Checkpoints that made the handled records durable, each followed by an offset commit",
                ))
                .unwrap(),
            ),
            commit_failures: register(
                registry,
                IntCounter::with_opts(opts(
                    "ucx_offset_commit_failures_total",
                    "Offset commits the broker refused (the records are read again, which is harmless)",
                ))
                .unwrap(),
            ),
            busy_seconds: register(
                registry,
                prometheus::Gauge::with_opts(opts(
                    "ucx_stage_busy_seconds",
                    "How long the stage's current call (a record, a checkpoint, a tick) has been going, 0 between calls: a stage that cannot make progress shows here",
                ))
                .unwrap(),
            ),
            rebalances: register(
                registry,
                IntCounter::with_opts(opts(
                    "ucx_rebalances_total",
                    "New partition assignments of this consumer",
                ))
                .unwrap(),
            ),
        }
    }
}
