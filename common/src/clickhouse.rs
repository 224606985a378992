//! The one way the pipeline builds its ClickHouse client.

use crate::config::ClickHouseSettings;

/// A client for the configured database. Validation is off: it needs
/// `RowBinaryWithNamesAndTypes`, which ClickHouse before 24.x (Debian's 18.16) lacks; rows are
/// sent as plain `RowBinary` in column order, which every version accepts.
pub fn client(settings: &ClickHouseSettings) -> clickhouse::Client {
    server_client(settings).with_database(&settings.database)
}

/// A client without a default database, for creating it.
pub fn server_client(settings: &ClickHouseSettings) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&settings.url)
        .with_user(&settings.user)
        .with_password(settings.password.expose())
        .with_validation(false)
}

/// Creates the configured database if it does not exist.
pub async fn ensure_database(
    settings: &ClickHouseSettings,
) -> Result<(), clickhouse::error::Error> {
    server_client(settings)
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            settings.database
        ))
        .execute()
        .await
}
