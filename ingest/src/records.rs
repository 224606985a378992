//! Where the gateway's records go. In a running gateway that is the broker (the pipeline's
//! shared producer: a record counts as stored once the broker acknowledged it); behind this
//! small trait the HTTP contract can be tested without one.

use futures::future::BoxFuture;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use ucx_common::kafka::{Acknowledged, Producer};

pub trait RecordSink: Send + Sync + 'static {
    /// Stores one record; `Ok` only once it is acknowledged.
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
        payload: &'a [u8],
        headers: OwnedHeaders,
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>>;

    /// Stores a tombstone for `key` (a compacted topic forgets it); `Ok` once acknowledged.
    fn tombstone<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>>;
}

impl RecordSink for Producer {
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
        payload: &'a [u8],
        headers: OwnedHeaders,
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>> {
        Box::pin(Producer::produce(self, topic, key, payload, headers))
    }

    fn tombstone<'a>(
        &'a self,
        topic: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, Result<Acknowledged, KafkaError>> {
        Box::pin(Producer::tombstone(self, topic, None, key))
    }
}
