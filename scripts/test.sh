#!/usr/bin/env bash
# The README's test command: installs what is missing, starts a broker and ClickHouse of its
# own on free loopback ports, checks formatting and lints, runs every test against them, and
# stops what it started.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

export UCX_SERVICES_DIR
UCX_SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ucx-test-services.XXXXXX")
cleanup() {
  scripts/services.sh stop || true
  rm -rf "$UCX_SERVICES_DIR"
}
trap cleanup EXIT
# the broker-restart test needs a broker that keeps its data: built once per machine (≈ 8 min)
scripts/services.sh install-durable-broker
scripts/services.sh start
# shellcheck source=/dev/null
source "$UCX_SERVICES_DIR/env"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
# The end-to-end tests mostly wait (for the broker, ClickHouse, a group join, a sink's batch):
# six at a time on two cores keep both busy and take less than half the time of two.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-6}
cargo test --workspace --no-fail-fast
