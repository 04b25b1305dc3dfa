#!/usr/bin/env bash
# test_offload.sh - the edge's inference service over CoAP: `serve
# --edge-model CKPT` answers POST /infer with the class and scores of a
# device's int8 input, requests arriving together batched; wrong inputs
# and a bad checkpoint are refused with reasons. All on 127.0.0.1.
# usage: test_offload.sh TINYLARGE MAKE_DATASET
set -u
bin=$1
make_dataset=$2
if ! command -v coap-client-notls >/dev/null; then
    echo "skipped: coap-client-notls (libcoap3-bin) is not installed"; exit 77
fi
work=$(mktemp -d)
server_pid=""
stop_server() { [ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }; server_pid=""; }
trap 'stop_server; rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
"$bin" train --arch student-tiny --epochs 1 --data "$work/data" --out "$work/edge.tlc" >/dev/null 2>&1
"$bin" keygen --out "$work/srv" >/dev/null
sqlite3 "$work/lib.db" "SELECT 1" >/dev/null 2>&1 || true
port=$((20000 + RANDOM % 20000))
"$bin" serve --db "$work/lib.db" --port "$port" --edge-model "$work/edge.tlc" --infer-wait 0.01 \
    2>"$work/server.log" &
server_pid=$!
for _ in $(seq 50); do grep -q "^serving" "$work/server.log" && break; sleep 0.1; done
check "the server offers /infer with an edge model" 0 "serving .*/infer\)" -- cat "$work/server.log"
head -c 256 /dev/urandom >"$work/input.bin"
infer() { coap-client-notls -m post -B 5 -f "$1" "coap://127.0.0.1:$port/infer" 2>&1; }
check "an input gets its class, confidence and every class's probability" 0 \
    "^class=[0-2]&confidence=0\.[0-9]{4}&scores=[01]\.[0-9]{4},[01]\.[0-9]{4},[01]\.[0-9]{4} ?$" -- infer "$work/input.bin"
pids=()
for i in $(seq 12); do infer "$work/input.bin" >"$work/answer-$i" & pids+=($!); done
wait "${pids[@]}"
check "twelve devices asking at once are all answered, the same answer for the same input" 0 "^12 1 ?$" -- \
    bash -c "grep -l '^class=' '$work'/answer-* | wc -l | tr '\n' ' '; sort -u '$work'/answer-* | grep -c ."
head -c 10 /dev/zero >"$work/short.bin"
check "an input of the wrong size is refused" 0 "infer takes the model's input: 256 int8 values" -- infer "$work/short.bin"
stop_server
check "a missing edge model is named" 1 "--edge-model $work/none.tlc: .*none.tlc" -- \
    "$bin" serve --db "$work/lib.db" --port "$port" --edge-model "$work/none.tlc"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
