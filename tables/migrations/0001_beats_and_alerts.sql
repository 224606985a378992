-- Beats of the walking skeleton and the alert state changes. One row per item of a beat's list
-- (per disk, per process). ReplacingMergeTree on the beat id and item makes a redelivered beat
-- invisible to `SELECT … FINAL` queries. Every statement runs on ClickHouse 18.16 and current.

CREATE TABLE IF NOT EXISTS hardware_disks (
    installation_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    disk_name String,
    model String,
    size_bytes UInt64,
    free_bytes UInt64
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, disk_name);

CREATE TABLE IF NOT EXISTS running_processes (
    installation_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    pid UInt32,
    process_name String,
    memory_bytes UInt64,
    handle_count UInt32,
    thread_count UInt32,
    cpu_percent Float32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id, pid, process_name);

CREATE TABLE IF NOT EXISTS ucx_acd (
    installation_id String,
    node_id String,
    region LowCardinality(String),
    beat_id UUID,
    sent_at DateTime('UTC'),
    received_at DateTime('UTC'),
    fifo_queued_calls UInt32,
    camp_on_queued_calls UInt32,
    active_consultation_calls UInt32
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(sent_at)
ORDER BY (installation_id, node_id, sent_at, beat_id);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    installation_id String,
    node_id String,
    region LowCardinality(String),
    rule_id String,
    rule_version UInt16,
    subject String,
    severity String,
    state String,
    summary String,
    observed_value Float64,
    threshold Float64,
    beat_id String,
    event_at DateTime('UTC'),
    raised_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(raised_at)
PARTITION BY toYYYYMM(event_at)
ORDER BY (installation_id, alert_id, event_at, state, severity);
