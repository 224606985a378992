-- Fleet incidents: one rule opening on a large share of the fleet (or of the installations on one
-- UCX Suite version) within the fleet guard's window, raised for support while the customer mails
-- of that rule are held; and fleet-wide silences declared through the admin API. Written by the
-- notifier from the registry (where the incidents live); the newest version of an episode wins.
--   HELD      customer mail of the rule waits until hold_until, or until support decides
--   RELEASED  support confirmed it (or the hold ran out): the held mail went out
--   SILENCED  no customer mail of the rule until hold_until; alerts still recorded for support

CREATE TABLE IF NOT EXISTS fleet_incidents (
    incident_id String,
    rule_id String,
    ucx_version String,
    state LowCardinality(String),
    installations Array(String),
    installation_count UInt32,
    fleet_size UInt32,
    opened_at DateTime('UTC'),
    hold_until DateTime('UTC'),
    decided_by String,
    comment String,
    updated_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY (incident_id, opened_at);

-- The notifier's ledger knows two more statuses since (no schema change): a notification or a
-- delivery HELD (waiting for the fleet guard: a new alert's settle time, or an undecided fleet
-- incident of its rule; next_attempt_at says until when) and SILENCED (a fleet-wide silence of
-- its rule withheld it).
