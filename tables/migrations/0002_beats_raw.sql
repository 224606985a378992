-- Beats of categories that have no table of their own yet: one row per beat, the category's
-- `data` object as JSON (query it with visitParamExtract* on 18.16, JSONExtract* on current).
-- Same dedup as the other beat tables: a redelivered beat disappears in `SELECT … FINAL`.

CREATE TABLE IF NOT EXISTS beats_raw (
    installation_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    category String,
    data String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, category, node_id, sent_at, beat_id);
