//! Which tables hold a customer's data, and by what: the tables a purge deletes from and an
//! erasure report counts in. Found from the columns the tables have (not from a list), so a
//! table added by a migration is covered from its first row.

use clickhouse::Client;
use serde::Deserialize;

/// Tables with a `customer_id` that are not the customer's data: the purge report itself.
pub const NOT_PERSONAL: &[&str] = &["purges"];

/// Whose rows a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `installation_id`: beats, alerts, changes, notifications.
    Installation,
    /// `customer_id` only: the notifier's deliveries, which hold contacts' addresses.
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTable {
    pub name: String,
    pub owner: Owner,
    /// The one time column, the one late records are dropped by: `received_at` for beats,
    /// `event_at` for alerts, changes and notifications, `created_at` for deliveries.
    pub time_column: Option<&'static str>,
}

impl PersonalTable {
    /// The condition selecting the rows of `customer_id` and its `installation_ids` (already
    /// quoted literals, comma-separated); `None` for an installation table when there are none.
    pub fn whose(&self, customer_id: &str, installation_ids: &str) -> Option<String> {
        match self.owner {
            Owner::Installation if installation_ids.is_empty() => None,
            Owner::Installation => Some(format!("installation_id IN ({installation_ids})")),
            Owner::Customer => Some(format!("customer_id = {}", quoted(customer_id))),
        }
    }
}

#[derive(clickhouse::Row, Deserialize)]
struct TableColumn {
    table: String,
    name: String,
}

/// Every table of the client's database holding rows of an installation or, without an
/// `installation_id`, of a customer.
pub async fn personal_tables(
    client: &Client,
) -> Result<Vec<PersonalTable>, clickhouse::error::Error> {
    let columns = client
        .query(
            "SELECT table, name FROM system.columns WHERE database = currentDatabase() \
             AND name IN ('installation_id', 'customer_id', 'received_at', 'event_at', \
             'created_at') ORDER BY table",
        )
        .fetch_all::<TableColumn>()
        .await?;
    let has = |table: &str, name: &str| {
        columns
            .iter()
            .any(|column| column.table == table && column.name == name)
    };
    let mut names: Vec<&str> = columns.iter().map(|column| column.table.as_str()).collect();
    names.dedup();
    let mut tables = Vec::new();
    for name in names {
        let owner = if has(name, "installation_id") {
            Owner::Installation
        } else if has(name, "customer_id") && !NOT_PERSONAL.contains(&name) {
            Owner::Customer
        } else {
            continue;
        };
        let time_column = ["received_at", "event_at", "created_at"]
            .into_iter()
            .find(|column| has(name, column));
        tables.push(PersonalTable {
            name: name.to_string(),
            owner,
            time_column,
        });
    }
    Ok(tables)
}

/// `value` as a ClickHouse string literal: backslashes and quotes escaped, so no id can end the
/// literal early.
pub fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cannot_escape_the_literal() {
        assert_eq!(quoted("inst-1"), "'inst-1'");
        assert_eq!(quoted("a'b"), "'a\\'b'");
        assert_eq!(quoted("a\\'b"), "'a\\\\\\'b'");
    }

    #[test]
    fn an_installation_table_without_installations_selects_nothing() {
        let table = PersonalTable {
            name: "hardware_disks".into(),
            owner: Owner::Installation,
            time_column: Some("received_at"),
        };
        assert_eq!(table.whose("c", ""), None);
        assert_eq!(
            table.whose("c", "'a', 'b'").as_deref(),
            Some("installation_id IN ('a', 'b')")
        );
        let deliveries = PersonalTable {
            owner: Owner::Customer,
            ..table
        };
        assert_eq!(
            deliveries.whose("c'x", "").as_deref(),
            Some("customer_id = 'c\\'x'")
        );
    }
}
