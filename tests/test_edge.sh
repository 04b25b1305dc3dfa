#!/usr/bin/env bash
# test_edge.sh - in-situ downloading over CoAP on 127.0.0.1 (bounded: a
# handful of requests, one server, ports chosen at random):
#   two devices with different profiles get different, fitting variants,
#   each installs its own and classifies Fashion-MNIST well above chance;
#   a bad signature, a rollback and a vanished server each leave the running
#   model in place; malformed requests get 4.xx answers, not a crash.
# usage: test_edge.sh TINYLARGE_BINARY
set -u
bin=$1
if [ ! -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
    echo "skipped: dataset-fashion-mnist is not installed"; exit 77
fi
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0; failed=0
check() { # check NAME WANT_STATUS REGEX -- COMMAND...
    local name=$1 want=$2 regex=$3; shift 4
    local out status
    out=$("$@" 2>&1); status=$?
    if [ "$status" -eq "$want" ] && grep -Eq -- "$regex" <<<"$out"; then passed=$((passed + 1))
    else failed=$((failed + 1)); echo "FAIL: $name (status $status)"; sed 's/^/    /' <<<"$out" | head -8; fi
}

# A small trained student, its catalogue (int8 and int4), a key pair, a library.
"$bin" train --arch student-tiny --epochs 2 --limit 1500 --lr 0.1 --out "$work/s.tlc" >/dev/null 2>&1
"$bin" compress "$work/s.tlc" --out-dir "$work/cat" --sparsity 0 --bits 8,4 --finetune-limit 300 \
    --limit 200 --calibration 200 >/dev/null 2>&1
"$bin" keygen --out "$work/srv" >/dev/null
"$bin" keygen --out "$work/other" >/dev/null
"$bin" library add --db "$work/lib.db" --name fashion --catalogue "$work/cat" --key "$work/srv.key" >/dev/null
int8=$(stat -c %s "$work/cat/e0-s00-int8.tlm")
port=$((20000 + RANDOM % 20000))
"$bin" serve --db "$work/lib.db" --port "$port" 2>/dev/null &
server_pid=$!
sleep 1
srv=127.0.0.1:$port
common=(--name fashion --ram 64K --mac-rate 20M --rate 250K --pub "$work/srv.pub")

check "big device gets int8" 0 "installed e0-s00-int8 version 1 .* signature valid" -- \
    "$bin" device --server "$srv" --slots "$work/dev1" --flash 256K "${common[@]}"
check "small device gets int4" 0 "installed e0-s00-int4 version 1 .* signature valid" -- \
    "$bin" device --server "$srv" --slots "$work/dev2" --flash $((int8 - 1)) "${common[@]}" --eval 300
check "it classifies" 0 "active model e0-s00-int4 version 1: accuracy 0\.([3-9]|[1-9][0-9])" -- \
    "$bin" device --server "$srv" --slots "$work/dev2" --flash $((int8 - 1)) "${common[@]}" --eval 300
check "second round: up to date" 0 "up to date: e0-s00-int8 version 1" -- \
    "$bin" device --server "$srv" --slots "$work/dev1" --flash 256K "${common[@]}"
check "wrong server key: refused" 1 "bad or missing signature; the running model stays" -- \
    "$bin" device --server "$srv" --slots "$work/dev1" --flash $((int8 - 1)) --name fashion --ram 64K \
    --mac-rate 20M --rate 250K --pub "$work/other.pub"
check "old model still active" 0 "a 1 e0-s00-int8" -- cat "$work/dev1/active"
printf 'a 7 e0-s00-int8\n' > "$work/dev1/active"
check "rollback refused" 1 "refused e0-s00-int4 version 1: older than the running version 7" -- \
    "$bin" device --server "$srv" --slots "$work/dev1" --flash $((int8 - 1)) "${common[@]}"
check "nothing fits: a reason" 1 "no model for this device .*no variant fits 100 bytes of flash" -- \
    "$bin" device --server "$srv" --slots "$work/dev3" --flash 100 "${common[@]}"
client=$(command -v coap-client-notls || command -v coap-client || true)
if [ -n "$client" ]; then
    check "malformed plan request" 0 "plan needs name, flash, ram, macs and rate" -- \
        "$client" -m get "coap://127.0.0.1:$port/plan?name=fashion"
    check "unknown model" 0 "no model named 'nope'" -- \
        "$client" -m get "coap://127.0.0.1:$port/plan?name=nope&flash=1&ram=1&macs=1&rate=1"
    check "model without a query" 0 "model needs name, version and variant" -- \
        "$client" -m get "coap://127.0.0.1:$port/model"
fi
kill "$server_pid"; wait "$server_pid" 2>/dev/null; server_pid=""
check "server gone: old model kept" 1 "no answer from coap://127.0.0.1:$port" -- \
    "$bin" device --server "$srv" --slots "$work/dev2" --flash 256K "${common[@]}"
check "device 2 still runs its model" 0 "e0-s00-int4" -- cat "$work/dev2/active"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
