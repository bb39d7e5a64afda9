#!/usr/bin/env bash
# `make bench`: our benchmarks side by side with their peers (peers install into their own venv, never in CI).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench-out
{ .build/release/worldgpt system; echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee bench-out/system.txt
.build/release/WorldGPTBench "$@" | tee bench-out/bench.txt
bash scripts/bench-serve.sh | tee bench-out/serve.txt
