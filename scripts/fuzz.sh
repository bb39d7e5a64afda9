#!/usr/bin/env bash
# `make fuzz`, libFuzzer part: builds Fuzz/ (a separate package, -sanitize=fuzzer,address) into .build-fuzz, replays
# every input in Fuzz/regressions, then runs each target for a fixed number of executions from its committed
# corpus (Fuzz/corpus/<target>; new inputs go to a scratch folder, the repository's corpus is not touched).
# Crashes, timeouts, OOMs and leaks are copied to Fuzz/regressions/<target>/ and fail the run.
#   FUZZ_RUNS=N          every target N executions instead of the table below (quick checks: FUZZ_RUNS=2000)
#   FUZZ_ONLY="a b"      only these targets
#   FUZZ_MERGE=1         afterwards, merge the new inputs into Fuzz/corpus (-merge=1 keeps only new coverage)
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}

# Executions per target, weighted by speed (the file-backed and SQLite targets are slower per input): 1,025,000
# in total, about 20 minutes on the shared 2-core machine (load average ~7).
declare -A RUNS=(
    [torch]=250000 [pickle]=40000 [npy]=30000 [npz]=20000 [deflate]=20000 [safetensors]=20000
    [annotations]=250000 [dataset-yaml]=100000 [training-yaml]=50000 [tuning-json]=200000
    [flat-index]=20000 [hnsw-index]=20000 [recall-keys]=3000 [store]=2000
)
ORDER=(torch pickle npy npz deflate safetensors annotations dataset-yaml training-yaml tuning-json flat-index hnsw-index recall-keys store)

echo "fuzz: building Fuzz/ (release, -sanitize=fuzzer,address) into .build-fuzz"
build_log=$(mktemp)
if ! $SWIFT build -c release --package-path Fuzz --scratch-path .build-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >"$build_log" 2>&1; then
    # ld.gold warns "Cannot export local symbol __asan_..." for every module: harmless, not shown.
    grep -v "Cannot export local symbol" "$build_log" | tail -40; rm -f "$build_log"
    echo "fuzz: FAILED (build)"; exit 1
fi
rm -f "$build_log"
bin=$(find .build-fuzz -path '*release/worldgpt-fuzz' -type f | head -1)
[ -x "$bin" ] || { echo "fuzz: FAILED (no worldgpt-fuzz binary)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# -detect_leaks=0: lazily made Swift globals (first input) read as leaks to LeakSanitizer; leaks are not checked here.
flags=(-timeout=10 -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
status=0

# 1. Every input that ever crashed a target must now be handled.
replayed=0
for dir in Fuzz/regressions/*/; do
    [ -d "$dir" ] || continue
    target=$(basename "$dir")
    files=("$dir"*)
    [ -e "${files[0]}" ] || continue
    if ! "$bin" "$target" "${flags[@]}" "${files[@]}" >"$work/replay-$target.log" 2>&1; then
        echo "fuzz: regression inputs of $target crash again:"; grep -E "ERROR|Fatal error|SUMMARY|Running" "$work/replay-$target.log" | head -20
        status=1
    fi
    replayed=$((replayed + ${#files[@]}))
done
echo "fuzz: replayed $replayed regression inputs"

# 2. Fixed executions per target.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
total_runs=0; total_crashes=0; start_all=$(date +%s.%N)
printf "%-14s %10s %9s %9s %8s\n" target executions seconds exec/s crashes
only=${FUZZ_ONLY:-${ORDER[*]}}
for target in $only; do
    runs=${FUZZ_RUNS:-${RUNS[$target]}}
    mkdir -p "$work/new/$target" "$work/artifacts/$target"
    seed=$(( $(printf '%s' "$target" | cksum | cut -d' ' -f1) % 100000 + 1 ))
    start=$(date +%s.%N)
    set +e
    "$bin" "$target" "${flags[@]}" -runs="$runs" -seed="$seed" -artifact_prefix="$work/artifacts/$target/" \
        "$work/new/$target" "Fuzz/corpus/$target" >"$work/$target.log" 2>&1
    code=$?
    set -e
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    executed=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$work/$target.log" | grep -oE "[0-9]+$" || echo 0)
    crashes=0
    for artifact in "$work/artifacts/$target/"*; do
        [ -e "$artifact" ] || continue
        mkdir -p "Fuzz/regressions/$target"
        cp "$artifact" "Fuzz/regressions/$target/"
        echo "fuzz: $target: new crasher Fuzz/regressions/$target/$(basename "$artifact")"
        crashes=$((crashes + 1))
    done
    if [ "$code" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    if [ "$crashes" -gt 0 ]; then
        grep -E "ERROR|Fatal error|SUMMARY|error:" "$work/$target.log" | head -10
        status=1
    fi
    printf "%-14s %10d %9.1f %9.0f %8d\n" "$target" "$executed" "$seconds" "$(echo "$executed / ($seconds + 0.001)" | bc -l)" "$crashes"
    total_runs=$((total_runs + executed)); total_crashes=$((total_crashes + crashes))
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$crashes" -eq 0 ]; then
        "$bin" "$target" -merge=1 -timeout=10 "Fuzz/corpus/$target" "$work/new/$target" >"$work/merge-$target.log" 2>&1 || true
    fi
done
seconds_all=$(echo "$(date +%s.%N) - $start_all" | bc)
printf "%-14s %10d %9.1f %9s %8d\n" total "$total_runs" "$seconds_all" "" "$total_crashes"
echo "fuzz: load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
if [ "$status" -ne 0 ]; then echo "fuzz: FAILED (crashers are in Fuzz/regressions; replay: $bin TARGET FILE)"; exit 1; fi
echo "fuzz: passed ($total_runs executions, 0 crashes)"
