#!/usr/bin/env bash
# The server's benchmarks (`make bench` or `make bench-serve`, after the release build): predict under 16 concurrent
# wrk clients beside the same predictions made by the library in one process, and the first pages of a
# 1,000,000-step store. Loopback only, bounded in time and count; CPU seconds per process and the load average are
# printed with each figure (docs/perf-log.md).
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

# 1. predict: 16 concurrent clients (wrk, one thread, a Lua script cycling through the test split's samples; bounded
#    by PREDICT_SECONDS, default 20 s, and at most 200,000 answers), against the same predictions made by the library in one process: the same
#    `worldgpt predict --stdin-batches` code path fed the same samples as lines of 16 (the batches 16 clients make),
#    start-up (model and data load) subtracted, best of 3. CPU seconds of each process are read from /proc, so the
#    load generator's share and the machine's load are visible.
command -v wrk > /dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk > /dev/null; } || true
command -v wrk > /dev/null || { echo "serve bench: no wrk (apt-get install wrk)"; exit 1; }
seconds=${PREDICT_SECONDS:-20}
samples=$(python3 -c "import json; print(','.join(str(i) for i in range(len(json.load(open('$out/world/state/action_test.json'))))))")
cpu() {  # cpu PID...: user+system CPU seconds of the processes
    python3 -c "import os,sys; t=os.sysconf('SC_CLK_TCK'); print(round(sum(sum(int(x) for x in open(f'/proc/{p}/stat').read().rsplit(')',1)[1].split()[11:13]) for p in sys.argv[1:]) / t, 2))" "$@"
}
start_server "$out/serve.log" --db "$out/memory.sqlite" --model "$out/run/final" --kb "$out/world" "${enc[@]}"
body="{\"data\": \"$PWD/$out/world\", \"sample\": \"3\"}"
cold=$(curl -s -o /dev/null -w '%{time_total}' -X POST -d "$body" "$url/v1/predict")  # starts the predict worker
echo "predict, first request (starts the worker, loads the model): $(python3 -c "print(round($cold * 1000, 1))") ms"
worker=$(pgrep -P "$pid" | head -1)
before=$(cpu "$pid" "$worker")
load0=$(cut -d' ' -f1 /proc/loadavg)
wrk_out=$(DATA="$PWD/$out/world" SAMPLES="$samples" REQUESTS=200000 /usr/bin/time -f "wrk_cpu %U %S" \
    wrk -t1 -c16 -d"$seconds"s --timeout 30s -s scripts/serve_predict.lua "$url" 2>&1)
after=$(cpu "$pid" "$worker")
served=$(echo "$wrk_out" | grep '^{')
requests=$(python3 -c "import json; r=json.loads('$served'); assert r['errors'] == 0 and r['non_2xx'] == 0, r; assert r['requests'] < 200000, 'hit the cap: the rate is not measured'; print(r['requests'])")
wrk_cpu=$(echo "$wrk_out" | awk '/^wrk_cpu/ {print $2 + $3}')
echo "predict, 16 clients (wrk): $served; load average at start $load0"
echo "  CPU seconds: server $(cpu "$pid") + worker $(cpu "$worker") in all; during the run $(python3 -c "print(round($after - $before, 2))") (server + worker), wrk $wrk_cpu"
if [ -n "${PYTHON_LOAD:-}" ]; then  # the Python load generator, for comparison (its own CPU is on the same 2 cores)
    echo "predict, 16 clients (Python httpx): $("$python" scripts/serve_load.py --url "$url" --path /v1/predict --method POST --body "$body" --concurrency 16 --requests 512 --max-seconds 300)"
fi
kill "$pid"; wait "$pid" 2>/dev/null || true
python3 - "$out" "$samples" "$requests" <<'PY'
import json, sys
out, samples, requests = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
data = f"{__import__('os').getcwd()}/{out}/world"
for name, lines in (("one", 1), ("all", requests // 16)):
    with open(f"{out}/batches-{name}.jsonl", "w") as f:
        n = 0
        for _ in range(lines):
            batch = []
            for _ in range(16):
                batch.append({"data": data, "sample": samples[n % len(samples)]})
                n += 1
            f.write(json.dumps(batch) + "\n")
PY
best=999; best_cpu=999
for _ in 1 2 3; do
    t0=$(date +%s.%N)
    /usr/bin/time -o "$out/time-one" -f "%U %S" "$bin/worldgpt" predict --model "$out/run/final" --kb "$out/world" "${enc[@]}" --stdin-batches < "$out/batches-one.jsonl" > /dev/null
    t1=$(date +%s.%N)
    /usr/bin/time -o "$out/time-all" -f "%U %S" "$bin/worldgpt" predict --model "$out/run/final" --kb "$out/world" "${enc[@]}" --stdin-batches < "$out/batches-all.jsonl" > "$out/library-answers.txt"
    t2=$(date +%s.%N)
    best=$(python3 -c "print(min($best, ($t2 - $t1) - ($t1 - $t0)))")
    best_cpu=$(python3 -c "a=open('$out/time-all').read().split(); o=open('$out/time-one').read().split(); print(min($best_cpu, float(a[0])+float(a[1])-float(o[0])-float(o[1])))")
done
predicted=$(($(wc -l < "$out/library-answers.txt") - 16))
test "$(grep -c '^T ' "$out/library-answers.txt")" = "$((requests / 16 * 16))" || { echo "serve bench: the library run answered errors"; exit 1; }
library=$(python3 -c "print(round($predicted / max($best, 1e-3), 2))")
echo "predict, library in one process (predict --stdin-batches, $predicted predictions in batches of 16, start-up subtracted, best of 3): $library predictions/s; CPU $(python3 -c "print(round($best_cpu, 2))") s ($(python3 -c "print(round(1000 * $best_cpu / $predicted, 3))") ms a prediction); load average $(cut -d' ' -f1 /proc/loadavg)"
python3 -c "import json; s=json.loads('$served'); print('ratio served / library: %.3f (goal ≥ 0.8); p99 %.1f ms' % (s['per_second'] / $library, s['p99_ms']))"

# 2. The first page of a store of 1,000,000 steps (100 episodes × 10,000 steps, 8-d, written by the hidden
#    `memory offload-loop`), through a server started for it: the first request, then one client for 5 s (wrk).
for e in $(seq -w 0 99); do
    "$bin/worldgpt" memory offload-loop --db "$out/million.sqlite" --dim 8 --batch 2000 --episode "e-$e" --max-steps 10000 > /dev/null
done
start_server "$out/million.log" --db "$out/million.sqlite"
for path in "/v1/episodes?limit=50" "/v1/episodes/e-50/steps?limit=100" "/v1/episodes?limit=50&prefix=e-9"; do
    first=$(curl -s -o /dev/null -w '%{time_total}' "$url$path")
    before=$(cpu "$pid")
    listed=$(wrk -t1 -c1 -d5s -s scripts/serve_get.lua "$url$path" | grep '^{')
    per=$(python3 -c "import json; r=json.loads('$listed'); print(round(1000 * ($(cpu "$pid") - $before) / max(r['requests'], 1), 3))")
    echo "1M steps: GET $path first request $(python3 -c "print(round($first * 1000, 2))") ms; then: $listed; server CPU $per ms a request; load average $(cut -d' ' -f1 /proc/loadavg)"
done
kill "$pid"; wait "$pid" 2>/dev/null || true
echo "serve bench: load average $(cut -d' ' -f1-3 /proc/loadavg)"
