//! Whether the database still matches the rows: every column a row names must exist in its
//! table. A table altered by hand (a column dropped or renamed) would otherwise show only as
//! dead letters once its inserts fail; the sinks probe this for `/ready`, which names the column.

use clickhouse::{Client, Row};
use serde::Deserialize;

use crate::beat_tables::BEAT_TABLES;
use crate::event_tables::{AlertRow, ChangeRow, ALERTS, INSTALLATION_CHANGES};

#[derive(Row, Deserialize)]
struct Column {
    table: String,
    name: String,
}

/// Every table the sinks write and the columns its rows name.
pub fn written_tables() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut tables: Vec<(&'static str, Vec<&'static str>)> = BEAT_TABLES
        .iter()
        .map(|table| (table.table, table.column_names()))
        .collect();
    tables.push((ALERTS, AlertRow::COLUMN_NAMES.to_vec()));
    tables.push((INSTALLATION_CHANGES, ChangeRow::COLUMN_NAMES.to_vec()));
    tables
}

/// What is missing from the database, e.g. `ucx_ivr lacks column active_calls`; empty when
/// every written table has every column its rows name.
pub async fn missing_columns(client: &Client) -> Result<Vec<String>, clickhouse::error::Error> {
    let present = client
        .query("SELECT table, name FROM system.columns WHERE database = currentDatabase()")
        .fetch_all::<Column>()
        .await?;
    Ok(compare(&written_tables(), &present))
}

fn compare(expected: &[(&'static str, Vec<&'static str>)], present: &[Column]) -> Vec<String> {
    let mut missing = Vec::new();
    for (table, columns) in expected {
        let of_table: Vec<&str> = present
            .iter()
            .filter(|column| column.table == *table)
            .map(|column| column.name.as_str())
            .collect();
        if of_table.is_empty() {
            missing.push(format!("table {table} is missing"));
            continue;
        }
        for column in columns {
            if !of_table.contains(column) {
                missing.push(format!("{table} lacks column {column}"));
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_column_and_a_missing_table_are_named() {
        let expected = vec![("t", vec!["a", "b"]), ("u", vec!["c"])];
        let present = vec![Column {
            table: "t".into(),
            name: "a".into(),
        }];
        assert_eq!(
            compare(&expected, &present),
            ["t lacks column b", "table u is missing"]
        );
    }
}
