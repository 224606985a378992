-- The notifier's deliveries: one mail per recipient (one SMTP transaction each, so one mailbox
-- cannot hold up or fail the others), and what became of it; the newest version wins.
--   SENT       the recipient's mail server accepted it
--   FAILED     refused for good (5xx), or given up after retrying for notifier.retry_give_up_s
--   RETRYING   answered 4xx or did not answer: tried again at next_attempt_at, the same message
--              (its subject and text are kept here), while every other mail goes on
-- notification_id is the notification's id, or the id of a summary or digest mail.

CREATE TABLE IF NOT EXISTS notification_deliveries (
    delivery_id String,
    notification_id String,
    customer_id String,
    recipient String,
    kind LowCardinality(String),
    status LowCardinality(String),
    attempts UInt32,
    next_attempt_at DateTime('UTC'),
    reason String,
    subject String,
    text String,
    html String,
    created_at DateTime('UTC'),
    recorded_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY (customer_id, notification_id, recipient);
