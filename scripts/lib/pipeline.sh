# Sourced by scripts/run.sh and scripts/quality.sh: the whole pipeline on this machine with its
# state under $run_dir. Installs and starts the broker and ClickHouse, builds and starts the
# gateway, processors, sinks and the notifier (mailing to a local SMTP server that keeps the
# mails in $run_dir/mail/), and stops everything it started when the calling script exits.
#   UCX_KAFKA_PORT, UCX_CLICKHOUSE_HTTP_PORT, UCX_CLICKHOUSE_TCP_PORT  (default 19092, 18123, 19000)

# pipeline_start RUN_DIR: everything up to a gateway ready for beats.
pipeline_start() {
  run_dir=$1
  export UCX_SERVICES_DIR="$run_dir/services"
  export UCX_KAFKA_PORT=${UCX_KAFKA_PORT:-19092}
  export UCX_CLICKHOUSE_HTTP_PORT=${UCX_CLICKHOUSE_HTTP_PORT:-18123}
  export UCX_CLICKHOUSE_TCP_PORT=${UCX_CLICKHOUSE_TCP_PORT:-19000}
  export UCX_CONFIG="$repo_root/config/ucx.toml"
  export UCX_PROCESSORS__RULES_FILE="$repo_root/processors/rules.toml"
  export UCX_PROCESSORS__ADVISORIES_FILE="$repo_root/processors/advisories.toml"
  # The admin API's token: the gateway checks it, the simulator registers its fleet with it, and
  # `target/debug/ucx-admin` reads it from UCX_ADMIN_TOKEN. A fresh one per run unless given.
  export UCX_ADMIN_TOKEN=${UCX_ADMIN_TOKEN:-local-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export UCX_INGEST__ADMIN_TOKEN="$UCX_ADMIN_TOKEN"
  mkdir -p "$run_dir/logs"

  # Leftovers of a run that did not stop cleanly.
  [ -f "$UCX_SERVICES_DIR/env" ] && scripts/services.sh stop

  scripts/services.sh install
  echo "pipeline: building (first time: a few minutes)"
  cargo build --quiet --bins

  pids=()
  trap pipeline_stop EXIT
  trap 'exit 0' INT TERM

  scripts/services.sh start
  # shellcheck source=/dev/null
  source "$UCX_SERVICES_DIR/env"

  # A real SMTP server on loopback that keeps what the notifier mails (one file per message).
  export UCX_NOTIFIER__SMTP_PORT=${UCX_NOTIFIER__SMTP_PORT:-2525}
  PYTHONPATH="$UCX_SMTP_PYTHONPATH" python3 "$UCX_SMTP_SINK" "$UCX_NOTIFIER__SMTP_PORT" "$run_dir/mail" \
    >"$run_dir/logs/smtp.log" 2>&1 &
  pids+=($!)

  pipeline_stage ucx-sinks; pipeline_wait_healthy ucx-sinks http://127.0.0.1:8082
  pipeline_stage ucx-notifier; pipeline_wait_healthy ucx-notifier http://127.0.0.1:8083
  pipeline_stage ucx-processors; pipeline_wait_healthy ucx-processors http://127.0.0.1:8081
  pipeline_stage ucx-ingest; pipeline_wait_healthy ucx-ingest http://127.0.0.1:8080
}

# Stops what was started, last started first: the fleet stops posting before the gateway goes,
# the sinks write last.
pipeline_stop() {
  trap - EXIT INT TERM
  echo
  echo "pipeline: stopping"
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  scripts/services.sh stop
}

# pipeline_stage NAME ARGS…: starts a binary of the workspace in the background, logging to
# $run_dir/logs/NAME.log.
pipeline_stage() {
  local name=$1; shift
  "$repo_root/target/debug/$name" "$@" >"$run_dir/logs/$name.log" 2>&1 &
  pids+=($!)
}

pipeline_wait_healthy() {
  local name=$1 url=$2
  for _ in $(seq 1 300); do
    curl -sf "$url/health" >/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "pipeline: $name exited; see $run_dir/logs/$name.log"; tail -5 "$run_dir/logs/$name.log"; exit 1; }
    sleep 0.2
  done
  echo "pipeline: $name not healthy after 60 s; see $run_dir/logs/$name.log"; exit 1
}
