#!/usr/bin/env bash
# `make bench` (scale part, issue 18): offload to the PostgreSQL episode store beside SQLite in the same run, on a
# throwaway PostgreSQL 15 on loopback (scripts/pg-temp.sh). Two paths: in-process (`worldgpt-pg bench`: the backend
# alone, multi-row INSERTs, 256 steps a transaction) and through the CLI (`worldgpt memory offload-loop`: the pipe to
# the worldgpt-pg child included). Prints figures with the machine's load; gates nothing.
# Usage: scripts/bench-pg.sh [STEPS] [DIM] (defaults 20000, 768); BIN=.build/release by default.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-$PWD/.build/release}
steps=${1:-20000}
dim=${2:-768}
dir=$(mktemp -d)
server=$(mktemp -d /tmp/pgb.XXXXXX)
chmod 755 "$server"
port=$(bash scripts/pg-temp.sh start "$server")
cleanup() { bash scripts/pg-temp.sh stop "$server" > /dev/null 2>&1 || true; rm -rf "$dir" "$server"; }
trap cleanup EXIT
psql=/usr/lib/postgresql/15/bin/psql
url() { echo "postgresql://worldgpt@127.0.0.1:$port/$1"; }
for db in inproc cli; do "$psql" -h 127.0.0.1 -p "$port" -U worldgpt -d postgres -qc "CREATE DATABASE $db"; done
echo "postgres bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) before; PostgreSQL 15 on 127.0.0.1 (fsync on, synchronous_commit on)"
"$bin/worldgpt-pg" bench "$(url inproc)" --sqlite "$dir/inproc.sqlite" --steps $((steps / 2)) --dim "$dim" --batch 256
now() { date +%s.%N; }
t0=$(now); "$bin/worldgpt" memory offload-loop --db "$dir/cli.sqlite" --dim "$dim" --batch 256 --max-steps "$steps" > /dev/null; t1=$(now)
"$bin/worldgpt" memory offload-loop --db "$(url cli)" --dim "$dim" --batch 256 --max-steps "$steps" > /dev/null; t2=$(now)
awk -v n="$steps" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$dim" 'BEGIN {
    s = n / (b - a); p = n / (c - b)
    printf "offload through the CLI, %d steps (dim %d, 256 per transaction): SQLite %.0f steps/s, PostgreSQL (via worldgpt-pg) %.0f steps/s, ratio pg/sqlite %.2f\n", n, d, s, p, p / s }'
echo "postgres bench: load average $(cut -d' ' -f1-3 /proc/loadavg) after"
