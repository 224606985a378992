//! Beats and alerts from Kafka into ClickHouse:
//! - `migrations`: the versioned table definitions, applied at start-up;
//! - `rows`: how a beat or an alert becomes table rows;
//! - `batch`: rows collected per table with the offsets they came from;
//! - `writer`: inserts a batch, retrying each table until it is in;
//! - `purge`: deletes an opted-out customer's rows on a purge request from the registry;
//! - `retention`: drops monthly partitions past each table's retention;
//! - `sink`: the consume → batch → insert → commit loop.

pub mod batch;
pub mod migrations;
pub mod purge;
pub mod retention;
pub mod rows;
pub mod sink;
pub mod writer;
