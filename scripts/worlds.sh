#!/usr/bin/env bash
# `make worlds`: the cross-world report (issue #15). For every world family × report seed: generate the world,
# train the world model and tune the reflector with the one recipe (no --config), run the ablation (identity, base,
# +retrieval, +reflector, +memory, +all and the ridge rows: the model's own linear base, fitted on train), the "told the action" ridge yardstick and the
# world's oracles; then one table (CSV, Markdown, SVG) in $OUT. Only this report reads world.json.
# Usage: scripts/worlds.sh [OUT] — FAMILIES="spring plant ecosystem" SEEDS="1 2" THREADS=2 WORLDGPT_BIN=PATH override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-worlds-out}"
bin="${WORLDGPT_BIN:-.build/release/worldgpt}"
families="${FAMILIES:-spring plant ecosystem}"
seeds="${SEEDS:-1 2}"
threads="${THREADS:-2}"
mkdir -p "$out"
start=$(date +%s)
"$bin" system | tee "$out/system.txt"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/system.txt"
config_of() { case "$1" in spring) echo examples/simworld-default.yaml ;; *) echo "examples/simworld-$1.yaml" ;; esac; }
for family in $families; do
    for seed in $seeds; do
        dir="$out/$family-$seed"
        mkdir -p "$dir"
        t0=$(date +%s)
        echo "== $family seed $seed"
        [ -f "$dir/world/world.json" ] || "$bin" simworld generate --config "$(config_of "$family")" --seed "$seed" --out "$dir/world" --quiet > "$dir/generate.log"
        # The one recipe: no --config anywhere (TrainingRecipe; the tuning defaults).
        [ -f "$dir/model/final/config.json" ] || "$bin" train --data "$dir/world" \
            --validation "$dir/world" --out "$dir/model" --threads "$threads" > "$dir/train.log" 2>&1
        [ -f "$dir/reflector/reflector.pt" ] || "$bin" train-reflector --model "$dir/model/final" --kb "$dir/world" \
            --out "$dir/reflector" --eval-limit 1000 --threads "$threads" > "$dir/reflector.log" 2>&1
        [ -f "$dir/ablation/ablation.csv" ] || "$bin" eval --ablation --model "$dir/reflector/model" --reflector "$dir/reflector/reflector.pt" \
            --data "$dir/world" --kb "$dir/world" --report-dir "$dir/ablation" --threads "$threads" > "$dir/ablation.log" 2>&1
        [ -s "$dir/yardstick.txt" ] || "$bin" simworld yardstick --config "$(config_of "$family")" --seed "$seed" > "$dir/yardstick.txt" 2>&1
        echo "   $(( $(date +%s) - t0 )) s"
    done
done
python3 scripts/worlds_report.py "$out" $families -- $seeds
echo "worlds: $(( $(date +%s) - start )) s in all; report in $out/worlds.md, worlds.csv, worlds.svg"
