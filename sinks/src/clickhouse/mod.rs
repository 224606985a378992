//! Beats, alerts and changes from Kafka into ClickHouse (the tables, their rows and migrations
//! are the `ucx-tables` crate):
//! - `batch`: rows collected per table with the records they came from;
//! - `writer`: inserts a batch, retrying each table until it is in;
//! - `purge`: deletes an opted-out customer's rows on a purge request from the registry;
//! - `retention`: drops monthly partitions past each table's retention;
//! - `sink`: what the sink does with a record, at a checkpoint and on a tick (the stage runtime
//!   owns the loop).

pub mod batch;
pub mod purge;
pub mod retention;
pub mod sink;
pub mod writer;
