#!/usr/bin/env bash
# The detection-quality report. Starts the whole pipeline with fresh state in .local/quality
# (scripts/lib/pipeline.sh), lets a simulated fleet replay UCX_QUALITY_HISTORY_H hours of its
# life UCX_QUALITY_SPEED times faster than real time with faults injected into half of the
# installations (ground truth: .local/quality/labels.jsonl), then compares the alerts in
# ClickHouse with the labels: precision, recall and time to detect per rule and per fault kind
# (.local/quality/report.txt and report.json). Uses the same ports as scripts/run.sh: not both
# at once.
#   UCX_QUALITY_INSTALLATIONS  (default 20)   UCX_QUALITY_SEED  (default 1)
#   UCX_QUALITY_HISTORY_H      (default 8)    UCX_QUALITY_SPEED (default 120: 4 minutes)
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib/pipeline.sh
source scripts/lib/pipeline.sh

quality_dir="$repo_root/.local/quality"
if [ -f "$quality_dir/services/env" ]; then
  UCX_SERVICES_DIR="$quality_dir/services" scripts/services.sh stop
fi
rm -rf "$quality_dir"
speed=${UCX_QUALITY_SPEED:-120}
# Heartbeat loss is judged on the gateway's clock: ten simulated minutes of silence.
export UCX_PROCESSORS__HEARTBEAT_TIMEOUT_MS=$(( 600000 / speed ))
# A replaying server sends `speed` times more beats a second than a live one.
export UCX_INGEST__RATE_LIMIT_BEATS_PER_SECOND=$(( 20 * speed ))

pipeline_start "$quality_dir"
echo "quality: the fleet replays ${UCX_QUALITY_HISTORY_H:-8} h at ${speed}× (log: $run_dir/logs/ucx-sim.log)"
"$repo_root/target/debug/ucx-sim" --installations "${UCX_QUALITY_INSTALLATIONS:-20}" --tick-s 60 \
  --history-h "${UCX_QUALITY_HISTORY_H:-8}" --speed "$speed" --fault-share 0.5 \
  --seed "${UCX_QUALITY_SEED:-1}" --stop-at-present \
  --labels "$run_dir/labels.jsonl" >"$run_dir/logs/ucx-sim.log" 2>&1
echo "quality: the fleet stopped; waiting for the pipeline to settle"
"$repo_root/target/debug/ucx-sim" quality --labels "$run_dir/labels.jsonl" \
  --clickhouse-url "$UCX_CLICKHOUSE__URL" --json "$run_dir/report.json" | tee "$run_dir/report.txt"
