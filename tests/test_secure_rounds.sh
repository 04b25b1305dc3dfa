#!/usr/bin/env bash
# test_secure_rounds.sh - secure aggregation over CoAP, with the round's
# state (keys, sealed shares, masked updates, opened shares) in the model
# library. `serve --federate --secagg`: four devices download the model in
# situ, learn its head from their own data and take the protocol's steps;
# one leaves after dealing its shares (a device losing power after
# masking). The server is killed (SIGKILL) once every share is in and
# started again: the round goes on, the phase timeout drops the silent
# device, the survivors open its mask key's shares, and the unmasked mean
# is published as version 2. The same three survivors in a fixed-point
# round without masks (`--fixed-point`) publish the same model, byte for
# byte. Bad steps are refused with reasons. All on 127.0.0.1.
# usage: test_secure_rounds.sh TINYLARGE MAKE_DATASET
set -u
bin=$1
make_dataset=$2
if ! command -v sqlite3 >/dev/null || ! command -v coap-client-notls >/dev/null; then
    echo "skipped: sqlite3 or coap-client-notls (libcoap3-bin) is not installed"; exit 77
fi
work=$(mktemp -d); [ -z "${KEEP_WORK:-}" ] || echo "work: $work"
server_pid=""
device_pids=()
stop_server() { [ -z "$server_pid" ] || { kill "$1" "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }; server_pid=""; }
trap 'stop_server -TERM; kill "${device_pids[@]}" 2>/dev/null; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
# shellcheck source=check.sh
. "$(dirname "$0")/check.sh"

mkdir -p "$work/data" && "$make_dataset" "$work/data" idx >/dev/null
"$bin" train --arch student-tiny --epochs 2 --data "$work/data" --out "$work/s.tlc" >/dev/null 2>&1
"$bin" compress "$work/s.tlc" --out-dir "$work/cat" --data "$work/data" --sparsity 0 --bits 8 --limit 150 \
    --calibration 100 >/dev/null 2>&1
"$bin" keygen --out "$work/srv" >/dev/null
for lib in secure fixed; do
    "$bin" library add --db "$work/$lib.db" --name patterns --catalogue "$work/cat" --key "$work/srv.key" \
        --tag task=patterns >/dev/null
done
port=$((20000 + RANDOM % 20000))
serve() { # serve LIB STARTS-BEFORE MODE-OPTIONS...
    local lib=$1 before=$2
    shift 2
    "$bin" serve --db "$work/$lib.db" --port "$port" --poll 0.2 --federate patterns --key "$work/srv.key" "$@" \
        2>>"$work/$lib.log" &
    server_pid=$!
    for _ in $(seq 50); do
        [ "$(grep -c "^federated rounds of" "$work/$lib.log" 2>/dev/null)" -gt "$before" ] && break
        sleep 0.1
    done
}
device() { # device ID CLASSES [options]: download, learn, take part in the round
    local id=$1 classes=$2
    shift 2
    "$bin" device --server "127.0.0.1:$port" --pub "$work/srv.pub" --id "$id" --slots "$work/slots-$id" \
        --name patterns --flash 256K --ram 64K --mac-rate 20M --rate 1M --learn "$work/data" \
        --learn-classes "$classes" --learn-samples 60 "$@"
}
wait_log() { # wait_log LIB PATTERN SECONDS
    for _ in $(seq $(($3 * 10))); do grep -qE "$2" "$work/$1.log" && return 0; sleep 0.1; done
    return 1
}

serve secure 0 --secagg --round-size 4 --round-timeout 4
check "a secure round opens in its keys phase" 0 "federated rounds of patterns: round 1 open" -- cat "$work/secure.log"
check "the round announces its mode and phase" 0 "mode=secure&phase=keys&clients=0" -- \
    coap-client-notls -m get -B 5 "coap://127.0.0.1:$port/round"
for d in d1:0,1 d2:1,2 d3:0,2 d4:1,2; do
    id=${d%%:*}
    extra=()
    [ "$id" = d4 ] && extra=(--learn-drop)
    device "$id" "${d#*:}" "${extra[@]}" >"$work/$id.out" 2>&1 &
    device_pids+=($!)
done
for _ in $(seq 600); do [ "$(grep -c ": shares from " "$work/secure.log")" -ge 4 ] && break; sleep 0.1; done
check "every device's keys and sealed shares are in the library" 0 "^4 4 ?$" -- \
    sqlite3 -cmd ".timeout 5000" "$work/secure.db" "SELECT (SELECT COUNT(*) FROM fl_secagg_keys) || ' ' || (SELECT COUNT(*) FROM fl_secagg_boxes)"
stop_server -KILL
serve secure 1 --secagg --round-size 4 --round-timeout 4
check "killed once the shares were in, the server goes on with the round" 0 \
    "round 1 open \(0 of 4.*round 1 open \([0-9] of 4" -- cat "$work/secure.log"
for pid in "${device_pids[@]}"; do wait "$pid"; done
device_pids=()
wait_log secure "round 1 of patterns closed" 30
check "device d4 dealt its shares and left before its update" 0 \
    "round 1: dealt its shares, then left before its update" -- cat "$work/d4.out"
check "device d1 sent its masked update and opened its shares" 0 \
    "round 1: masked update sent and shares opened \(4 devices, 3 neighbours, threshold 2\)" -- cat "$work/d1.out"
check "the phase timeout went on without the silent device" 0 "timed out waiting; on to phase 3 with 4 dealt, 3 updates" -- \
    cat "$work/secure.log"
check "the survivors' unmasked mean is published as version 2" 0 \
    "round 1 of patterns closed: 3 updates combined into version 2; round 2 open" -- cat "$work/secure.log"
stop_server -TERM

# The same survivors, no masks: the same model, byte for byte.
serve fixed 0 --fixed-point --round-size 3
for d in d1:0,1 d2:1,2 d3:0,2; do
    id=${d%%:*}
    rm -rf "$work/slots-$id"
    device "$id" "${d#*:}" >"$work/$id-fixed.out" 2>&1 &
    device_pids+=($!)
done
for pid in "${device_pids[@]}"; do wait "$pid"; done
device_pids=()
wait_log fixed "round 1 of patterns closed" 30
digest() { sqlite3 -cmd ".timeout 5000" "$work/$1.db" "SELECT hex(v.sha256) FROM variants v JOIN versions r ON r.id = v.version_id WHERE r.version = 2"; }
secure_digest=$(digest secure)
check "the fixed-point round publishes version 2" 0 "^[0-9A-F]{64} ?$" -- digest fixed
words() { sqlite3 -cmd ".timeout 5000" "$work/$1.db" "SELECT hex(data) FROM fl_updates WHERE device = 'd1'"; }
check "the secure library holds d1's update masked, not its plain words" 0 "^differ ?$" -- \
    bash -c "[ '$(words secure)' != '$(words fixed)' ] && [ -n '$(words fixed)' ] && echo differ || echo same"
check "the secure round's model equals the unmasked fixed-point round's, bit for bit" 0 "^same ?$" -- \
    bash -c "[ -n '$secure_digest' ] && [ '$secure_digest' = '$(digest fixed)' ] && echo same || echo differ"

# Bad steps, sent as a device would.
put() { coap-client-notls -m put -B 5 -f "$2" "coap://127.0.0.1:$port/secagg?$1" 2>&1; }
head -c 64 /dev/zero >"$work/keys.bin"
check "a fixed-point server has no secure steps" 0 "this server runs no secure rounds" -- \
    put "device=x&name=patterns&round=2&step=keys" "$work/keys.bin"
stop_server -TERM
serve secure 2 --secagg --round-size 4 --round-timeout 4
head -c 12 /dev/zero >"$work/short.bin"
check "keys of the wrong length are refused" 0 "keys are 64 bytes" -- put "device=x&name=patterns&round=2&step=keys" "$work/short.bin"
check "shares in the keys phase are refused" 0 "round 2 is in its keys phase: its shares belongs to the shares phase" -- \
    put "device=x&name=patterns&round=2&step=shares" "$work/keys.bin"
check "an unknown step is refused" 0 "step is keys, shares or open" -- put "device=x&name=patterns&round=2&step=sum" "$work/keys.bin"
check "the roster of a round still in its keys phase is refused" 0 "not a secure round past its keys phase" -- \
    coap-client-notls -m get -B 5 "coap://127.0.0.1:$port/secagg?name=patterns&round=2&step=roster"
values=$(sed -n 's/.*updates of \([0-9]*\) values.*/\1/p' "$work/secure.log" | tail -1)
head -c $(((values + 1) * 4)) /dev/zero >"$work/words.bin"
check "an update before its phase is refused" 0 "round 2 is in its keys phase" -- \
    coap-client-notls -m put -B 5 -f "$work/words.bin" "coap://127.0.0.1:$port/update?device=x&name=patterns&round=2"
check "keys in the keys phase are taken" 0 "round 2: keys taken" -- put "device=x&name=patterns&round=2&step=keys" "$work/keys.bin"
check "secure rounds need at least three devices" 1 "--secagg needs --round-size >= 3" -- \
    "$bin" serve --db "$work/secure.db" --federate patterns --secagg --round-size 2
check "secure rounds are averaged only" 1 "a secure round can only be averaged" -- \
    "$bin" serve --db "$work/secure.db" --federate patterns --secagg --aggregate median
check "--secagg needs --federate" 1 "they need --federate" -- "$bin" serve --db "$work/secure.db" --secagg
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
