#!/usr/bin/env bash
# The benchmark (see BENCHMARKS.md): builds the release binaries, starts a broker and ClickHouse
# of its own (scripts/services.sh), runs target/release/ucx-bench, which starts the gateway,
# processors and sinks itself, and stops everything. Figures go to stdout and
# .local/bench/figures.json, then compared with bench/baseline.json (ucx-bench-compare: exit 1
# when a stage's CPU per beat is over the noise band). Arguments are passed to ucx-bench (see its
# --help), e.g.
#   scripts/bench.sh --e2e-seconds 120 --concurrency 64
#   scripts/bench.sh --profile .local/perf     # perf record of each stage under load
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
# the regression guard: CPU per beat of each stage against the committed baseline (exit 1 over it)
target/release/ucx-bench-compare "$bench_dir/figures.json" --baseline bench/baseline.json
