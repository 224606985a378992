-- Purges carried out: one row per purge request (a customer that switched telemetry off), written
-- once every table's deletion has finished. It is the completion report, and it keeps a restarted
-- sink from running a purge again.

CREATE TABLE IF NOT EXISTS purges (
    customer_id String,
    requested_at UInt64,
    installation_ids Array(String),
    tables Array(String),
    completed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(completed_at)
ORDER BY (customer_id, requested_at);
