#!/usr/bin/env bash
# test_library_pg.sh - the library tests against a real PostgreSQL server:
# a throwaway cluster in a temporary folder, listening on 127.0.0.1 at a
# random port (trust authentication, nothing else can reach it), stopped
# and removed afterwards.
# usage: test_library_pg.sh TEST_LIBRARY_BINARY
set -u
bin=$1
work=$(mktemp -d)
. "$(dirname "$0")/pg_cluster.sh"
cleanup() {
    pg_cluster_stop
    rm -rf "$work"
}
trap cleanup EXIT
pg_cluster_start "$work" library
"$bin" "$pg_conninfo" || { echo "server log:"; tail -5 "$work/pg.log"; exit 1; }
