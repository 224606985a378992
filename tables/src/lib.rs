//! The ClickHouse schema: the contract between the stages that write (sinks, notifier) and the
//! dashboards that read.
//!
//! - `migrations`: the versioned table definitions (`migrations/*.sql`), applied at start-up;
//! - `beat_tables`: one declaration per beat table, from which its row type, the beat → rows
//!   conversion, the table of every category and its `CREATE TABLE` follow;
//! - `event_tables`: the rows of alerts and installation changes;
//! - `columns`: column types and the checked conversions of values into them;
//! - `drift`: whether the tables in the database still have every column their rows name;
//! - `personal`: which tables hold a customer's data, and by what (purges, erasure reports).

pub mod beat_tables;
pub mod columns;
pub mod drift;
pub mod event_tables;
pub mod migrations;
pub mod personal;

pub use beat_tables::{add_beat, table_of, BeatTable, BEAT_TABLES};
pub use columns::{RowError, RowSink};
pub use event_tables::{add_alert, add_change, AlertRow, ChangeRow};
