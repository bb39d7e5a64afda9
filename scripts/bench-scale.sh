#!/usr/bin/env bash
# `make bench` (scale part, issue 18): sample building with per-sample files vs packed shards, and a 2-shard Ray
# rollout vs the same rollout in one process (the driver's overhead in seconds). Release build; prints figures only,
# gates nothing. Usage: scripts/bench-scale.sh [SAMPLES] (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/.build/release/worldgpt
samples=${1:-3000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
enc=(--text-encoder hashed --action-cache none)
now() { date +%s.%N; }
echo "scale bench: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
# The default SimWorld (768-d image, video, audio, text embeddings), enough episodes for the samples wanted.
episodes=$(( (samples * 10 / 6 / 7 / 2) + 20 ))
"$bin" simworld generate --out "$dir/world" --scenarios 2 --episodes "$episodes" --seed 3 --quiet > /dev/null
for mode in files packed both; do
    case $mode in
        files) extra=() ;;
        packed) extra=(--pack 1000 --no-sample-files) ;;
        both) extra=(--pack 1000) ;;
    esac
    rm -rf "$dir/s"
    t0=$(now)
    "$bin" samples build --data "$dir/world" --kb "$dir/world" --limit "$samples" --out "$dir/s" "${enc[@]}" "${extra[@]}" 2> "$dir/err" > /dev/null
    t1=$(now)
    awk -v n="$samples" -v a="$t0" -v b="$t1" -v m="$mode" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { printf "samples build, %-6s %d samples: %.2f s, %.0f samples/s (the whole command, loading included; load %s)\n", m, n, b - a, n / (b - a), load }'
    # The command's own timing line: loading the dataset and knowledge base, building, writing.
    grep '^samples build:' "$dir/err" | sed 's/^/  /'
done
# Ray: the same rollout in one process and as 2 shards through the driver on a local Ray.
cat > "$dir/train.yaml" <<YAML
data: $dir/world/train.yaml
validation: $dir/world/test.yaml
model: {width: 64, depth: 2, heads: 4, mlp_ratio: 2, seed: 1}
optimizer: {lr: 1.0e-3, warmup_steps: 2}
training: {batch_size: 16, stages: [{kind: single-unimodal, steps: 20}]}
YAML
"$bin" train --config "$dir/train.yaml" --out "$dir/run" "${enc[@]}" > /dev/null 2>&1
args=(--model "$dir/run/final" --kb "$dir/world" --data "$dir/world" --episodes 9999 "${enc[@]}")
t0=$(now)
"$bin" rollout "${args[@]}" --db "$dir/one.sqlite" > /dev/null 2>&1
t1=$(now)
steps=$("$bin" memory stats --db "$dir/one.sqlite" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["steps"])')
export RAY_AUTH_MODE=disabled
t2=$(now)
PYTHONPATH=python python3 -m worldgpt_ray rollout --shards 2 --out "$dir/ray" --worldgpt "$bin" -- "${args[@]}" > "$dir/ray.txt" 2> /dev/null
t3=$(now)
awk -v s="$steps" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "rollout %d steps: one process %.2f s; 2 Ray shards + merge %.2f s (local Ray started by the driver); driver overhead %+.2f s\n", s, b - a, d - c, (d - c) - (b - a) }'
grep -E "^shard|^total" "$dir/ray.txt" | sed 's/^/  /'
echo "scale bench: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
# The PostgreSQL episode store beside SQLite (offload steps/s, same run).
bash scripts/bench-pg.sh
