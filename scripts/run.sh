#!/usr/bin/env bash
# The README's run command: the whole pipeline on this machine (scripts/lib/pipeline.sh: broker,
# ClickHouse, gateway, processors, sinks, notifier and a local SMTP server keeping the mails in
# .local/run/mail/) and a simulated fleet posting beats through the gateway. The fleet first
# replays UCX_SIM_HISTORY_H hours of its life UCX_SIM_SPEED times faster than real time, with
# faults injected in half of the installations (labels in .local/run/labels.jsonl), then
# goes on live. Prints where to look; stops everything on Ctrl-C (or after UCX_RUN_SECONDS).
#   UCX_SIM_INSTALLATIONS   simulated installations (default 10)
#   UCX_SIM_TICK_S          simulated seconds between two ticks of one installation (default 30)
#   UCX_SIM_HISTORY_H, UCX_SIM_SPEED   history to replay first (default 6 h at 120×: 3 minutes)
#   UCX_KAFKA_PORT, UCX_CLICKHOUSE_HTTP_PORT, UCX_CLICKHOUSE_TCP_PORT  (default 19092, 18123, 19000)
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib/pipeline.sh
source scripts/lib/pipeline.sh

# A replaying server sends `speed` times more beats a second than a live one.
export UCX_INGEST__RATE_LIMIT_BEATS_PER_SECOND=$(( 20 * ${UCX_SIM_SPEED:-120} ))
pipeline_start "$repo_root/.local/run"
pipeline_stage ucx-sim --installations "${UCX_SIM_INSTALLATIONS:-10}" --tick-s "${UCX_SIM_TICK_S:-30}" \
  --history-h "${UCX_SIM_HISTORY_H:-6}" --speed "${UCX_SIM_SPEED:-120}" --fault-share 0.5 \
  --labels "$run_dir/labels.jsonl"

clickhouse="clickhouse-client --port $UCX_CLICKHOUSE_TCP_PORT --database ucx"
cat <<TXT

The pipeline is running: a simulated fleet posts beats to the gateway (first replaying the last
hours of its life fast, then live); the sinks write them to ClickHouse, the processors raise
alerts from the faults injected into some servers, the notifier mails Gold and Platinum
customers' contacts.

  gateway            http://127.0.0.1:8080/v1/beats   (POST a beat: schemas/examples/, healthy; schemas/examples/faults/ open alerts)
  registry (CLI)     UCX_ADMIN_TOKEN=$UCX_ADMIN_TOKEN target/debug/ucx-admin customers
  admin, metrics     http://127.0.0.1:8090/metrics (the gateway's admin listener)  :8081/metrics  :8082/metrics  :8083/metrics
  mails              $run_dir/mail/   (*.eml as received, *.txt their text)
  query (client)     $clickhouse -q "SELECT * FROM alerts FINAL ORDER BY event_at"
  query (HTTP)       curl 'http://127.0.0.1:$UCX_CLICKHOUSE_HTTP_PORT/?database=ucx' --data-binary 'SELECT * FROM alerts FINAL'
  injected faults    $run_dir/labels.jsonl
  detection quality  target/debug/ucx-sim quality --labels $run_dir/labels.jsonl --clickhouse-url $UCX_CLICKHOUSE__URL
  backtest a rule    cp processors/rules.toml candidate.toml (edit it); source $run_dir/services/env;
                     target/debug/ucx-backtest --rules candidate.toml --labels $run_dir/labels.jsonl --store
  logs               $run_dir/logs/

Press Ctrl-C to stop everything.
TXT

summary() {
  $clickhouse -q "SELECT
      (SELECT uniqExact(installation_id) FROM running_processes) AS installations,
      (SELECT count() FROM hardware_disks) AS disk_rows,
      (SELECT count() FROM running_processes) AS process_rows,
      (SELECT count() FROM ucx_acd) AS acd_rows,
      (SELECT count() FROM installed_applications) AS app_rows,
      (SELECT count() FROM windows_updates) AS hotfix_rows,
      (SELECT count() FROM alerts WHERE state = 'OPEN') AS alert_openings,
      (SELECT count() FROM installation_changes) AS changes,
      (SELECT count() FROM notifications FINAL WHERE status = 'SENT') AS mails_sent
    FORMAT PrettyCompactNoEscapes" 2>/dev/null || true
}

deadline=$(( ${UCX_RUN_SECONDS:-0} > 0 ? SECONDS + UCX_RUN_SECONDS : 0 ))
while [ "$deadline" -eq 0 ] || [ "$SECONDS" -lt "$deadline" ]; do
  sleep 15
  summary
done
