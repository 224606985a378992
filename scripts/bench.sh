#!/usr/bin/env bash
# The benchmark (see BENCHMARKS.md): builds the release binaries, starts a broker and ClickHouse
# of its own (scripts/services.sh), runs target/release/ucx-bench, which starts the gateway,
# processors and sinks itself, and stops everything. Figures go to stdout and
# .local/bench/figures.json. Arguments are passed to ucx-bench (see its --help), e.g.
#   scripts/bench.sh --e2e-seconds 60 --concurrency 64
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bench_dir="$repo_root/.local/bench"
export UCX_SERVICES_DIR="$bench_dir/services"
[ -f "$UCX_SERVICES_DIR/env" ] && scripts/services.sh stop
rm -rf "$bench_dir"
mkdir -p "$bench_dir"

echo "bench: building the release binaries (first time: several minutes)"
scripts/services.sh install
cargo build --release --quiet --bins

trap 'scripts/services.sh stop' EXIT
scripts/services.sh start
# shellcheck source=/dev/null
source "$UCX_SERVICES_DIR/env"
echo "bench: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%dT%H:%MZ)"
target/release/ucx-bench --json "$bench_dir/figures.json" "$@"
