-- The notifier's ledger: one row per customer notification and what became of it. A
-- notification (one alert state change of a Proactive Support customer) is looked up here before
-- it is mailed, so a record read again after a crash is not mailed twice; the newest status wins
-- (version; partitioned by the alert's event time so that every status of one notification shares a
-- partition). Also what the alerts dashboard counts as "notifications sent". Re-runnable.
--   SENT        mailed (recipients, subject)
--   FAILED      the mail server refused it for good (reason), or it could not be rendered
--   THROTTLED   over the customer's hourly limit: waits for the summary mail
--   SUMMARISED  listed in a summary mail once the customer's hour had room again
--   DIGEST      the customer gets a daily digest: waits for it
--   DIGESTED    listed in the daily digest

CREATE TABLE IF NOT EXISTS notifications (
    notification_id String,
    alert_id String,
    customer_id String,
    installation_id String,
    rule_id String,
    state LowCardinality(String),
    severity LowCardinality(String),
    summary String,
    dashboard_url String,
    status LowCardinality(String),
    recipients Array(String),
    subject String,
    reason String,
    event_at DateTime('UTC'),
    recorded_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(event_at)
ORDER BY (customer_id, notification_id);
