#!/usr/bin/env bash
# test_library_tiers.sh - the three-tier library with real parts: one central
# PostgreSQL library and two edge servers, each with its own SQLite cache
# (`serve --db EDGE.db --upstream CENTRAL`). A device's plan at an edge that
# lacks the model fetches it from the central library, signed manifests
# and all; the next device is served from the cache; a version published
# centrally reaches the edges' caches; with the central library down, the
# edges go on serving what they hold.
# usage: test_library_tiers.sh TINYLARGE_BINARY
set -u
bin=$1
if [ ! -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
    echo "skipped: dataset-fashion-mnist is not installed"; exit 77
fi
work=$(mktemp -d)
edge_a=""; edge_b=""
. "$(dirname "$0")/pg_cluster.sh"
cleanup() {
    kill $edge_a $edge_b 2>/dev/null
    pg_cluster_stop
    rm -rf "$work"
}
trap cleanup EXIT
. "$(dirname "$0")/check.sh"
pg_cluster_start "$work" central
central=$pg_conninfo

mkdir -p "$work/run" && chmod 777 "$work/run"
run=$work/run
"$bin" train --arch student-tiny --epochs 1 --limit 1000 --lr 0.1 --out "$run/s.tlc" >/dev/null 2>&1
"$bin" compress "$run/s.tlc" --out-dir "$run/cat" --sparsity 0 --bits 8 --limit 200 --calibration 200 >/dev/null 2>&1
"$bin" keygen --out "$run/srv" >/dev/null
check "the central library takes a model" 0 "fashion.*version 1" -- \
    "$bin" library add --db "$central" --name fashion --catalogue "$run/cat" --key "$run/srv.key" --tag task=tiers

port_a=$((20000 + RANDOM % 10000)); port_b=$((port_a + 1))
"$bin" serve --db "$run/edge-a.db" --upstream "$central" --upstream-ttl 0.5 --poll 0.2 --port "$port_a" \
    2>"$run/edge-a.log" &
edge_a=$!
"$bin" serve --db "$run/edge-b.db" --upstream "$central" --upstream-ttl 0.5 --poll 0.2 --port "$port_b" \
    2>"$run/edge-b.log" &
edge_b=$!
sleep 1
device() { # device EDGE_PORT SLOTS [more options]
    local port=$1 slots=$2; shift 2
    "$bin" device --server "127.0.0.1:$port" --slots "$run/$slots" --flash 256K --ram 64K --mac-rate 20M --ips 64M \
        --rate 1M --pub "$run/srv.pub" "$@"
}
fetches() { grep -c "library: fetched fashion version $2 from the upstream library" "$run/$1.log"; }

check "edge A's cache starts empty" 0 "^ *$" -- "$bin" library list --db "$run/edge-a.db"
check "a device at edge A gets the central model, signature valid" 0 \
    "installed fashion e0-s00-int8 version 1 .* signature valid" -- device "$port_a" d1 --name fashion
check "edge A fetched it once" 0 "^1 *$" -- fetches edge-a 1
check "edge A's SQLite cache holds it now" 0 "fashion.*1" -- "$bin" library list --db "$run/edge-a.db"
check "a device at edge B (by context) gets it through B's own fetch" 0 \
    "installed fashion e0-s00-int8 version 1 .* signature valid" -- device "$port_b" d2 --context task=tiers
check "edge B fetched it once" 0 "^1 *$" -- fetches edge-b 1
check "a second device at edge A is served from the cache" 0 "installed fashion e0-s00-int8 version 1" -- \
    device "$port_a" d3 --name fashion
check "... without another fetch" 0 "^1 *$" -- fetches edge-a 1
check "a model nobody has is refused, naming both tiers" 1 "no model named 'other'.*upstream library.*no model named 'other'" -- \
    device "$port_a" d4 --name other

# A new version published centrally reaches both edges within their ttl.
check "the central library takes version 2" 0 "version 2" -- \
    "$bin" library add --db "$central" --name fashion --catalogue "$run/cat" --key "$run/srv.key" --tag task=tiers
for _ in $(seq 50); do
    [ "$(fetches edge-a 2)" -ge 1 ] && [ "$(fetches edge-b 2)" -ge 1 ] && break
    sleep 0.1
done
check "edge A refreshed to version 2" 0 "^1 *$" -- fetches edge-a 2
check "edge B refreshed to version 2" 0 "^1 *$" -- fetches edge-b 2
sleep 0.5
check "a device at edge A now gets version 2" 0 "installed fashion e0-s00-int8 version 2 .* signature valid" -- \
    device "$port_a" d1 --name fashion

# The central library goes down: the edges serve what they hold.
pg_cluster_stop
sleep 1
check "with the central library down, edge B still serves its cache" 0 \
    "installed fashion e0-s00-int8 version 2 .* signature valid" -- device "$port_b" d5 --name fashion
check "... and says it cannot refresh" 0 "cannot refresh fashion from the upstream library" -- cat "$run/edge-b.log"
check "serve refuses an upstream it cannot open" 1 "nowhere" -- \
    timeout 10 "$bin" serve --db "$run/edge-c.db" --upstream "host=127.0.0.1 port=1 dbname=nowhere" --port "$((port_b + 1))"

echo "test_library_tiers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
