#!/usr/bin/env bash
# test_library_pg.sh - the library tests against a real PostgreSQL server:
# a throwaway cluster in a temporary folder, listening on 127.0.0.1 at a
# random port (trust authentication, nothing else can reach it), stopped
# and removed afterwards.
# usage: test_library_pg.sh TEST_LIBRARY_BINARY
set -u
bin=$1
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "skipped: the postgresql package is not installed"; exit 77
fi
work=$(mktemp -d)
chmod 755 "$work"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root: the cluster belongs to 'postgres'.
    chown postgres "$work"
    as_pg=(runuser -u postgres --)
fi
port=$((30000 + RANDOM % 20000))
cleanup() {
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -A trust -U tinylarge >"$work/initdb.log" 2>&1 ||
    { echo "initdb failed:"; cat "$work/initdb.log"; exit 1; }
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-h 127.0.0.1 -p $port -k $work -c fsync=off" start >/dev/null ||
    { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
"${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U tinylarge library ||
    { echo "createdb failed"; exit 1; }
"$bin" "host=127.0.0.1 port=$port user=tinylarge dbname=library" || { echo "server log:"; tail -5 "$work/server.log"; exit 1; }
