#!/usr/bin/env bash
# The README's run command: the whole pipeline on this machine. Installs and starts the broker
# and ClickHouse, builds and starts the gateway, processors, sinks, the notifier (mailing to a
# local SMTP server that keeps the mails in .local/run/mail/), and a simulated fleet
# posting beats through the gateway; prints where to look; stops everything on Ctrl-C (or after
# UCX_RUN_SECONDS, if set).
#   UCX_SIM_INSTALLATIONS   simulated installations (default 10)
#   UCX_SIM_INTERVAL_MS     time between two ticks of one installation (default 5000)
#   UCX_KAFKA_PORT, UCX_CLICKHOUSE_HTTP_PORT, UCX_CLICKHOUSE_TCP_PORT  (default 19092, 18123, 19000)
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

run_dir="$repo_root/.local/run"
export UCX_SERVICES_DIR="$run_dir/services"
export UCX_KAFKA_PORT=${UCX_KAFKA_PORT:-19092}
export UCX_CLICKHOUSE_HTTP_PORT=${UCX_CLICKHOUSE_HTTP_PORT:-18123}
export UCX_CLICKHOUSE_TCP_PORT=${UCX_CLICKHOUSE_TCP_PORT:-19000}
export UCX_CONFIG="$repo_root/config/ucx.toml"
export UCX_PROCESSORS__RULES_FILE="$repo_root/processors/rules.toml"
# The admin API's token: the gateway checks it, the simulator registers its fleet with it, and
# `target/debug/ucx-admin` reads it from UCX_ADMIN_TOKEN. A fresh one per run unless given.
export UCX_ADMIN_TOKEN=${UCX_ADMIN_TOKEN:-local-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export UCX_INGEST__ADMIN_TOKEN="$UCX_ADMIN_TOKEN"
mkdir -p "$run_dir/logs"

# Leftovers of a run that did not stop cleanly.
[ -f "$UCX_SERVICES_DIR/env" ] && scripts/services.sh stop

echo "run: building the pipeline (first time: a few minutes)"
cargo build --quiet --bins

pids=()
stop_all() {
  trap - EXIT INT TERM
  echo
  echo "run: stopping"
  # Last started first: the fleet stops posting before the gateway goes, the sinks write last.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  scripts/services.sh stop
}
trap stop_all EXIT
trap 'exit 0' INT TERM

scripts/services.sh start
# shellcheck source=/dev/null
source "$UCX_SERVICES_DIR/env"

start() {
  local name=$1; shift
  "$repo_root/target/debug/$name" "$@" >"$run_dir/logs/$name.log" 2>&1 &
  pids+=($!)
}
wait_healthy() {
  local name=$1 url=$2
  for _ in $(seq 1 300); do
    curl -sf "$url/health" >/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "run: $name exited; see $run_dir/logs/$name.log"; tail -5 "$run_dir/logs/$name.log"; exit 1; }
    sleep 0.2
  done
  echo "run: $name not healthy after 60 s; see $run_dir/logs/$name.log"; exit 1
}

# A real SMTP server on loopback that keeps what the notifier mails (one file per message).
export UCX_NOTIFIER__SMTP_PORT=${UCX_NOTIFIER__SMTP_PORT:-2525}
PYTHONPATH="$UCX_SMTP_PYTHONPATH" python3 "$UCX_SMTP_SINK" "$UCX_NOTIFIER__SMTP_PORT" "$run_dir/mail" \
  >"$run_dir/logs/smtp.log" 2>&1 &
pids+=($!)

start ucx-sinks; wait_healthy ucx-sinks http://127.0.0.1:8082
start ucx-notifier; wait_healthy ucx-notifier http://127.0.0.1:8083
start ucx-processors; wait_healthy ucx-processors http://127.0.0.1:8081
start ucx-ingest; wait_healthy ucx-ingest http://127.0.0.1:8080
start ucx-sim --installations "${UCX_SIM_INSTALLATIONS:-10}" --interval-ms "${UCX_SIM_INTERVAL_MS:-5000}"

clickhouse="clickhouse-client --port $UCX_CLICKHOUSE_TCP_PORT --database ucx"
cat <<TXT

The pipeline is running: a simulated fleet posts beats to the gateway; the sinks write them to
ClickHouse and the processors raise alerts (every fifth installation has a disk filling up);
the notifier mails Gold and Platinum customers' contacts.

  gateway            http://127.0.0.1:8080/v1/beats   (POST a beat: see schemas/examples/)
  registry (CLI)     UCX_ADMIN_TOKEN=$UCX_ADMIN_TOKEN target/debug/ucx-admin customers
  metrics            http://127.0.0.1:8080/metrics  :8081/metrics  :8082/metrics  :8083/metrics
  mails              $run_dir/mail/   (*.eml as received, *.txt their text)
  query (client)     $clickhouse -q "SELECT * FROM alerts FINAL ORDER BY event_at"
  query (HTTP)       curl 'http://127.0.0.1:$UCX_CLICKHOUSE_HTTP_PORT/?database=ucx' --data-binary 'SELECT * FROM alerts FINAL'
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
