-- Alert schema v3: reminders and acknowledgements are state changes of their own (state
-- REMINDER / ACKNOWLEDGED), a silence or maintenance window that withheld the customer
-- notification is named in suppressed_by, who acknowledged in acknowledged_by.
-- And the changes the processors notice between two inventory beats (ucx.changes): one row per
-- change, duplicates of a redelivered record collapse on change_id. Re-runnable like 0004.

ALTER TABLE alerts ADD COLUMN suppressed_by String AFTER dashboard_url;
ALTER TABLE alerts ADD COLUMN acknowledged_by String AFTER suppressed_by;

CREATE TABLE IF NOT EXISTS installation_changes (
    change_id String,
    installation_id String,
    customer_id String,
    node_id String,
    region LowCardinality(String),
    kind LowCardinality(String),
    subject String,
    before String,
    after String,
    beat_id String,
    event_at DateTime('UTC'),
    detected_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(event_at)
ORDER BY (installation_id, event_at, change_id);
