#!/usr/bin/env bash
# `make bench`: our benchmarks side by side with their peers (peers install into their own venv, never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out
{ .build/release/worldgpt system; echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee bench-out/system.txt
.build/release/WorldGPTBench "$@" | tee bench-out/bench.txt
bash scripts/bench-serve.sh | tee bench-out/serve.txt
# Sharding (issue 18): packed samples and the Ray driver's overhead; only in a full run (no subcommand given).
if [ $# -eq 0 ]; then bash scripts/bench-scale.sh | tee bench-out/scale.txt; fi
