#!/usr/bin/env bash
# test_rounds.sh - federated rounds over CoAP, with the round's state in the
# model library. A student trained on a small test dataset is published
# (signed); `tinylarge serve --federate` runs rounds of it; devices download
# it in situ, learn its head from their own data (`device --learn`) and
# send the deltas block-wise. The server is killed (SIGKILL) after two of a
# round's three updates and started again: the round goes on, the third
# update closes it, the combined model is published as version 2, signed,
# and a device receives it in situ. Bad updates are refused with reasons.
# All on 127.0.0.1.
# usage: test_rounds.sh TINYLARGE MAKE_DATASET
set -u
bin=$1
make_dataset=$2
if ! command -v sqlite3 >/dev/null || ! command -v coap-client-notls >/dev/null; then
    echo "skipped: sqlite3 or coap-client-notls (libcoap3-bin) is not installed"; exit 77
fi
work=$(mktemp -d)
server_pid=""
stop_server() { [ -z "$server_pid" ] || { kill "$1" "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }; server_pid=""; }
trap 'stop_server -TERM; rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
"$bin" train --arch student-tiny --epochs 2 --data "$work/data" --out "$work/s.tlc" >/dev/null 2>&1
"$bin" compress "$work/s.tlc" --out-dir "$work/cat" --data "$work/data" --sparsity 0 --bits 8 --limit 150 \
    --calibration 100 >/dev/null 2>&1
"$bin" keygen --out "$work/srv" >/dev/null
"$bin" library add --db "$work/lib.db" --name patterns --catalogue "$work/cat" --key "$work/srv.key" \
    --tag task=patterns >/dev/null
port=$((20000 + RANDOM % 20000))
serve() {
    "$bin" serve --db "$work/lib.db" --port "$port" --poll 0.2 --federate patterns --round-size 3 \
        --key "$work/srv.key" 2>>"$work/server.log" &
    server_pid=$!
    local before=$1
    for _ in $(seq 50); do
        [ "$(grep -c "^federated rounds of" "$work/server.log" 2>/dev/null)" -gt "$before" ] && break
        sleep 0.1
    done
}
serve 0
check "the server opens round 1 of the model's head" 0 "federated rounds of patterns: round 1 open \(0 of 3 updates of [0-9]+ values, from version 1\)" -- \
    cat "$work/server.log"
device() { # device ID CLASSES: download, learn from its own classes, send the delta
    "$bin" device --server "127.0.0.1:$port" --pub "$work/srv.pub" --id "$1" --slots "$work/$1" --name patterns \
        --flash 256K --ram 64K --mac-rate 20M --rate 1M --learn "$work/data" --learn-classes "$2" --learn-samples 60
}
check "device 1 downloads version 1, learns its head and sends the delta" 0 \
    "installed patterns .* version 1 .*learnt patterns version 1's head from 60 local samples; round 1: round 1: received 1 of 3" -- \
    device d1 0,1
check "device 2 too" 0 "round 1: received 2 of 3" -- device d2 1,2
check "the round's two updates are in the library" 0 "^2 ?$" -- \
    sqlite3 -cmd ".timeout 5000" "$work/lib.db" "SELECT COUNT(*) FROM fl_updates u JOIN fl_rounds r ON r.id = u.round_id WHERE r.round = 1"
stop_server -KILL
serve 1
check "killed and started again, the server goes on with round 1 (2 of 3)" 0 \
    "round 1 open \(0 of 3 updates.*round 1 open \(2 of 3 updates" -- cat "$work/server.log"
check "the third update closes the round" 0 "round 1: received 3 of 3" -- device d3 0,2
for _ in $(seq 50); do grep -q "round 1 of patterns closed" "$work/server.log" && break; sleep 0.1; done
check "the combined head is published as version 2 and round 2 opens" 0 \
    "round 1 of patterns closed: 3 updates combined into version 2; round 2 open" -- cat "$work/server.log"
check "the library holds version 2" 0 "patterns +version 2 +1 variants +task=patterns" -- "$bin" library list --db "$work/lib.db"
sleep 0.5
check "device 1 receives version 2 in situ (signature checked)" 0 \
    "installed patterns .* version 2 .*signature valid" -- \
    "$bin" device --server "127.0.0.1:$port" --pub "$work/srv.pub" --id d1 --slots "$work/d1" --name patterns \
        --flash 256K --ram 64K --mac-rate 20M --rate 1M
check "version 2 differs from version 1 in its head only (same size)" 0 "^1 ?$" -- \
    sqlite3 -cmd ".timeout 5000" "$work/lib.db" "SELECT COUNT(DISTINCT length(model)) FROM variants"

# Bad updates, sent as a device would (coap-client: PUT with a body).
values=$(sed -n 's/.*updates of \([0-9]*\) values.*/\1/p' "$work/server.log" | tail -1)
head -c $((values * 4)) /dev/zero >"$work/good.bin"
head -c 12 /dev/zero >"$work/short.bin"
put() { coap-client-notls -m put -B 5 -f "$2" "coap://127.0.0.1:$port/update?$1" 2>&1; }
check "an update of the wrong length is refused" 0 "holds $values values" -- put "device=x&name=patterns&round=2&weight=1" "$work/short.bin"
check "an update for a closed round is refused" 0 "round 1 of 'patterns' is not open" -- \
    put "device=x&name=patterns&round=1&weight=1" "$work/good.bin"
check "an update without a weight is refused" 0 "update needs name=MODEL" -- \
    put "device=x&name=patterns&round=2" "$work/good.bin"
check "an update claiming an outsized weight is refused" 0 "weight 1e\+06: a device's weight is in \(0, 10000\]" -- \
    put "device=x&name=patterns&round=2&weight=1000000" "$work/good.bin"
check "an update of another model is refused" 0 "update needs name=MODEL" -- \
    put "device=x&name=other&round=2&weight=1" "$work/good.bin"
printf '\0\0\300\177' >"$work/nan.bin"; head -c $((values * 4 - 4)) /dev/zero >>"$work/nan.bin"
check "an update holding NaN is refused" 0 "value 0 of the update is not finite" -- \
    put "device=x&name=patterns&round=2&weight=1" "$work/nan.bin"
check "a well-formed update is taken" 0 "round 2: received 1 of 3" -- \
    put "device=x&name=patterns&round=2&weight=1" "$work/good.bin"
check "the round is observable state" 0 "name=patterns&round=2&needed=3&received=1&values=$values&version=2&open=1" -- \
    coap-client-notls -m get -B 5 "coap://127.0.0.1:$port/round"
check "a server without --federate has no rounds" 1 "--key signs what the rounds publish: it needs --federate" -- \
    "$bin" serve --db "$work/lib.db" --key "$work/srv.key"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
