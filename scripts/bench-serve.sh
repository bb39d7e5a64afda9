#!/usr/bin/env bash
# The server's benchmarks (`make bench`, after the release build): predict under 16 concurrent clients beside the
# same runtime steps in one process, and the first page of a 1,000,000-step store. Loopback only, bounded counts.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.build/release}
python=.venv-serve/bin/python
out=bench-out/serve
rm -rf "$out" && mkdir -p "$out"
enc=(--text-encoder hashed --action-cache none)
echo "serve bench: load average $(cut -d' ' -f1-3 /proc/loadavg)"

# A tiny world, model and store (as Tests/ServerTests make them).
printf "scenarios: 2\nepisodes: 20\nsteps: 7\nseed: 5\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n" > "$out/world.yaml"
"$bin/worldgpt" simworld generate --config "$out/world.yaml" --out "$out/world" --quiet > /dev/null
cat > "$out/train.yaml" <<YAML
data: world/train.yaml
validation: world/test.yaml
model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
optimizer: {lr: 3.0e-3, warmup_steps: 2}
training:
  batch_size: 16
  stages: [{kind: single-unimodal, steps: 20}, {kind: single-cross, steps: 10}, {kind: multi-unimodal, steps: 10}]
YAML
(cd "$out" && "../../$bin/worldgpt" train --config train.yaml --out run "${enc[@]}" > /dev/null)
"$bin/worldgpt" rollout --model "$out/run/final" --kb "$out/world" --data "$out/world" --episodes 2 --db "$out/memory.sqlite" "${enc[@]}" > /dev/null 2>&1

start_server() {  # start_server LOG ARGS...: starts worldgpt-serve on a free loopback port; sets pid and url
    local log=$1; shift
    "$bin/worldgpt-serve" --port 0 "$@" > "$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -qs "listening on" "$log" && break; sleep 0.1; done
    url="http://$(grep -o '127.0.0.1:[0-9]*' "$log")"
}

# 1. predict: 16 concurrent clients, 512 requests after a warm-up, against the same predictions (retrieval + reflector filter) made by
#    one `worldgpt rollout` process (steps/s of its runtime, model load included).
start_server "$out/serve.log" --db "$out/memory.sqlite" --model "$out/run/final" --kb "$out/world" "${enc[@]}"
body="{\"data\": \"$PWD/$out/world\", \"sample\": \"3\"}"
cold=$(curl -s -o /dev/null -w '%{time_total}' -X POST -d "$body" "$url/v1/predict")  # starts the predict worker
echo "predict, first request (starts the worker, loads the model): $(python3 -c "print(round($cold * 1000, 1))") ms"
served=$("$python" scripts/serve_load.py --url "$url" --path /v1/predict --method POST --body "$body" \
    --concurrency 16 --requests 512 --max-seconds 300)
kill "$pid"; wait "$pid" 2>/dev/null || true
# The library's rate: a rollout of 16 lock-step episodes × 40 steps (a longer world of the same shape) in one process,
# less a 1-step rollout's time (process start and model load); best of 3.
printf "scenarios: 2\nepisodes: 80\nsteps: 40\nseed: 7\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n" > "$out/long.yaml"
"$bin/worldgpt" simworld generate --config "$out/long.yaml" --out "$out/long" --quiet > /dev/null
best=999
for _ in 1 2 3; do
    rm -f "$out"/scratch*.sqlite*
    t0=$(date +%s.%N)
    "$bin/worldgpt" rollout --model "$out/run/final" --kb "$out/long" --data "$out/long" --episodes 1 --steps 1 --db "$out/scratch1.sqlite" "${enc[@]}" > /dev/null 2>&1
    t1=$(date +%s.%N)
    "$bin/worldgpt" rollout --model "$out/run/final" --kb "$out/long" --data "$out/long" --episodes 16 --db "$out/scratch640.sqlite" "${enc[@]}" > /dev/null 2>&1
    t2=$(date +%s.%N)
    best=$(python3 -c "print(min($best, ($t2 - $t1) - ($t1 - $t0)))")
done
library=$(python3 -c "print(round(639 / max($best, 1e-3), 2))")
echo "predict, 16 clients: $served"
echo "predict, library in one process (rollout of 16 × 40 steps, start-up subtracted, best of 3): $library steps/s"
python3 -c "import json; s=json.loads('$served'); print('ratio served / library: %.3f (goal ≥ 0.8)' % (s['per_second'] / $library))"

# 2. The first page of a store of 1,000,000 steps (100 episodes × 10,000 steps, 8-d, written by the hidden
#    `memory offload-loop`), through a server started for it: 20 requests each, sequential.
for e in $(seq -w 0 99); do
    "$bin/worldgpt" memory offload-loop --db "$out/million.sqlite" --dim 8 --batch 2000 --episode "e-$e" --max-steps 10000 > /dev/null
done
start_server "$out/million.log" --db "$out/million.sqlite"
for path in "/v1/episodes?limit=50" "/v1/episodes/e-50/steps?limit=100" "/v1/episodes?limit=50&prefix=e-9"; do
    first=$(curl -s -o /dev/null -w '%{time_total}' "$url$path")
    echo "1M steps: GET $path first request $(python3 -c "print(round($first * 1000, 2))") ms; then: $("$python" scripts/serve_load.py --url "$url" --path "$path" --concurrency 1 --requests 20 --max-seconds 60)"
done
kill "$pid"; wait "$pid" 2>/dev/null || true
echo "serve bench: load average $(cut -d' ' -f1-3 /proc/loadavg)"
