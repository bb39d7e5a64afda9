#!/usr/bin/env bash
# `make demo`: the whole job end to end on the default SimWorld, from nothing:
# generate the world, train the world model and the reflector (quick configuration), build the knowledge
# base, roll out with and without the cognitive architecture, print the ablation, point at the memory left.
# Every stage is skipped when its output already exists (delete the folder to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo-out}"
bin=.build/release/worldgpt
threads="${WORLDGPT_THREADS:-2}"  # OpenBLAS threads; use 1 on a machine shared with other work
mkdir -p "$out"
stage() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

stage "0/6 The machine and the kernel paths (figures differ in the last digits between CPUs)"
"$bin" system

stage "1/6 SimWorld: 16 scenarios with hidden dynamics (examples/simworld-default.yaml)"
if [ ! -f "$out/world/world.json" ]; then
    rm -rf "$out/world"
    "$bin" simworld generate --config examples/simworld-default.yaml --out "$out/world"
else
    echo "reusing $out/world"
fi

stage "2/6 Train the native world model with the default recipe (linear base + transformer residual; docs/worldmodel.md)"
if [ ! -f "$out/worldmodel/final/config.json" ]; then
    "$bin" train --data "$out/world" --validation "$out/world" --out "$out/worldmodel" --threads "$threads"
else
    echo "reusing $out/worldmodel/final"
fi

stage "3/6 Cognitive-augmented tuning: train the reflector against the frozen model"
if [ ! -f "$out/reflector/reflector.pt" ]; then
    "$bin" train-reflector --model "$out/worldmodel/final" --kb "$out/world" \
        --out "$out/reflector" --eval-limit 1000 --threads "$threads"
else
    echo "reusing $out/reflector"
fi

stage "4/6 Rollouts through the runtime (memory offloaded to $out/memory.sqlite)"
rm -f "$out/memory.sqlite" "$out/memory.sqlite-wal" "$out/memory.sqlite-shm"
"$bin" rollout --model "$out/reflector/model" --reflector "$out/reflector/reflector.pt" --kb "$out/world" \
    --db "$out/memory.sqlite" --data "$out/world" --episodes 16 --trace "$out/trace-all.jsonl" --threads "$threads"
"$bin" rollout --model "$out/reflector/model" --data "$out/world" --episodes 16 --no-memory --no-retrieval \
    --trace "$out/trace-base.jsonl" --threads "$threads"

stage "5/6 Ablation over the sequences split: identity, base, +retrieval, +reflector, +memory, +all; ridge rows (linear yardsticks)"
"$bin" eval --ablation --model "$out/reflector/model" --reflector "$out/reflector/reflector.pt" --kb "$out/world" \
    --data "$out/world" --report-dir "$out" --threads "$threads"

stage "6/6 Done in $(( $(date +%s) - start )) s. Look at what the runtime left behind:"
cat <<EOT
  $bin memory ls --db $out/memory.sqlite            # the offloaded episodes
  $bin memory show <EPISODE>:3 --db $out/memory.sqlite  # one step: recalled, retrieved, kept and why
  $bin memory stats --db $out/memory.sqlite
  $out/ablation.csv, $out/ablation.svg               # the table above, and cosine vs rollout step
  $out/trace-all.jsonl                                # one line per rollout step
EOT
