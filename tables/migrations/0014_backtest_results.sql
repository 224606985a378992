-- What `ucx-backtest` found: one row per rule and contract tier of each run, the library in force
-- against a candidate over a window of stored beats (openings, resolutions and customer mails of
-- each, and how their findings differ). The alerts dashboard's "Backtests" panel reads it.

CREATE TABLE IF NOT EXISTS backtest_results (
    run_id String,
    run_at DateTime('UTC'),
    window_from DateTime('UTC'),
    window_to DateTime('UTC'),
    rules_file String,
    in_force_version UInt32,
    candidate_version UInt32,
    rule_id String,
    contract_tier String,
    opened_in_force UInt32,
    opened_candidate UInt32,
    resolved_in_force UInt32,
    resolved_candidate UInt32,
    mails_in_force UInt32,
    mails_candidate UInt32,
    new UInt32,
    gone UInt32,
    earlier UInt32,
    later UInt32,
    resolved_otherwise UInt32
) ENGINE = MergeTree
PARTITION BY toYYYYMM(run_at)
ORDER BY (run_at, run_id, rule_id, contract_tier);
