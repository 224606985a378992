//! Lag while a stage is stuck. librdkafka publishes each partition's lag in its statistics, but
//! they reach the stage only while it polls the consumer: a stage stuck in one call (a write
//! retried for minutes) would go on showing the lag of the moment it got stuck — 0, often —
//! while the backlog grows. So while a call has been going for longer than [`MEASURE_AFTER`],
//! the lag is measured here instead, from the side: each assigned partition's high watermark
//! minus the group's committed offset (its low watermark when nothing was committed yet), as
//! librdkafka counts it.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Offset;
use tokio_util::sync::CancellationToken;

use super::Busy;
use crate::kafka::LagContext;

/// A call going on this long stops the statistics; measure from then on.
const MEASURE_AFTER: Duration = Duration::from_secs(10);
/// As often as librdkafka's statistics (`statistics.interval.ms`).
const EVERY: Duration = Duration::from_secs(5);
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn watch(
    consumer: Arc<StreamConsumer<LagContext>>,
    busy: Busy,
    lag: prometheus::IntGaugeVec,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
            if busy
                .current()
                .is_none_or(|(going, _)| going <= MEASURE_AFTER)
            {
                continue;
            }
            let consumer = consumer.clone();
            let lag = lag.clone();
            // broker round trips: off the async workers
            let measured = tokio::task::spawn_blocking(move || measure(&consumer, &lag)).await;
            if let Ok(Err(error)) = measured {
                tracing::debug!(%error, "lag of the stuck stage not measured this time");
            }
        }
    });
}

fn measure(
    consumer: &StreamConsumer<LagContext>,
    lag: &prometheus::IntGaugeVec,
) -> Result<(), rdkafka::error::KafkaError> {
    let assignment = consumer.assignment()?;
    let committed = consumer.committed_offsets(assignment, BROKER_TIMEOUT)?;
    for element in committed.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, high) = consumer.fetch_watermarks(topic, partition, BROKER_TIMEOUT)?;
        let done = match element.offset() {
            Offset::Offset(offset) => offset,
            _ => low,
        };
        lag.with_label_values(&[topic, &partition.to_string()])
            .set((high - done).max(0));
    }
    Ok(())
}
