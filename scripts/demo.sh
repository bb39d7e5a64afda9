#!/usr/bin/env bash
# `make demo`: the main job end to end on the embedded default world. Grows as the modules land.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo-out}"
mkdir -p "$out"
bin=.build/release/worldgpt
"$bin" --help
