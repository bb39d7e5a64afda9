#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests and the bench: `initdb` in a folder of the caller's, `pg_ctl` on a
# free loopback port, trust authentication for the user `worldgpt`, no system service. As root it runs the server as
# the `postgres` system user (PostgreSQL refuses root). Usage:
#   scripts/pg-temp.sh start DIR     initialise DIR (a new folder) and start; prints the port
#   scripts/pg-temp.sh restart DIR   fast restart (open connections are cut; the data stays)
#   scripts/pg-temp.sh stop DIR      fast stop
# DIR must be a folder the server user can reach (e.g. made by `mktemp -d` directly under /tmp).
set -euo pipefail
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg-temp.sh start|restart|stop DIR}
dir=${2:?usage: pg-temp.sh start|restart|stop DIR}
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -x "$bin/pg_ctl" ]; then
    echo "pg-temp: $bin/pg_ctl is missing: install Debian's postgresql-15 (scripts/setup.sh does)" >&2
    exit 1
fi
case $cmd in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if ! as_server "$bin/initdb" -D "$dir/data" -U worldgpt --auth=trust -E UTF8 --no-locale > "$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        exit 1
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if ! as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c max_connections=100" start > /dev/null; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    echo "$port"
    ;;
restart) as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart > /dev/null ;;
stop) as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop > /dev/null ;;
*) echo "pg-temp: unknown command $cmd (start, restart, stop)" >&2; exit 2 ;;
esac
